"""Provider webhooks (inbound SMS, delivery status): signature first, then processing.

Shared by the HTTP routes (`POST /twilio/inbound`, `POST /twilio/status`) and the sandbox
provider, which signs its simulated callbacks with `Settings.sandbox_auth_token` and calls these
same functions. Invariant 6: nothing is stored before `X-Twilio-Signature` is verified, and every
inbound message is stored once per MessageSid (a retry is answered with an empty <Response/>).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from campaign.blasts.models import Outbound
from campaign.core.config import Settings
from campaign.core.errors import Forbidden, Invalid
from campaign.hotline.responses import receive_inbound
from campaign.providers.base import map_twilio_status

INBOUND_PATH = "/twilio/inbound"
STATUS_PATH = "/twilio/status"
MAX_BODY_CHARS = 1600  # Twilio's limit for one (concatenated) message



class MalformedWebhook(Invalid):
    """A signed webhook whose form lacks a required field (answered 400, nothing stored)."""

    http_status = 400


def signing_token(settings: Settings) -> str:
    """The key the active provider signs webhooks with."""
    secret = settings.twilio_auth_token if settings.provider == "twilio" else settings.sandbox_auth_token
    return secret.get_secret_value()


def public_url(settings: Settings, path: str, query: str = "") -> str:
    """The URL as the provider called it (behind a proxy): public base + path + query string."""
    url = settings.public_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def verify_signature(
    *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings
) -> None:
    """Raises Forbidden unless `signature` is the provider's signature of (url, params)."""
    token = signing_token(settings)
    if not signature or not token:
        raise Forbidden("webhook: missing X-Twilio-Signature" if not signature else "webhook: no signing key")
    if not RequestValidator(token).validate(url, dict(params), signature):
        raise Forbidden("webhook: X-Twilio-Signature does not match")


def _required(params: Mapping[str, str], name: str, *, allow_empty: bool = False) -> str:
    value = params.get(name)
    if value is None or (not allow_empty and not str(value).strip()):
        raise MalformedWebhook(name, "required form field is missing")
    return str(value)


def twiml(reply: str | None) -> str:
    """A TwiML document answering with `reply`, or an empty <Response/>."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


def handle_inbound(
    session: Session, *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings,
    now: datetime,
) -> str:
    """Verifies and processes one inbound SMS webhook; returns the TwiML to answer with.

    Raises Forbidden (bad signature) or MalformedWebhook (missing MessageSid/From/Body) before
    storing anything. A retried MessageSid stores nothing and answers an empty <Response/>.
    Flushes only; the caller commits. `now` is aware UTC.
    """
    verify_signature(url=url, params=params, signature=signature, settings=settings)
    sid = _required(params, "MessageSid")
    from_number = _required(params, "From")
    body = _required(params, "Body", allow_empty=True)
    if len(body) > MAX_BODY_CHARS:
        raise MalformedWebhook("Body", f"longer than {MAX_BODY_CHARS} characters")
    try:
        result = receive_inbound(
            session, sid=sid, from_number=from_number, body=body, to_number=params.get("To"),
            settings=settings, now=now,
        )
    except Invalid as exc:
        if exc.field != "From":
            raise
        raise MalformedWebhook("From", exc.reason) from exc
    return twiml(result.reply)


def _outbound_id_from(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("outbound")
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        raise MalformedWebhook("outbound", f"not an outbound id: {values[0]!r}") from None


def handle_status(
    session: Session, *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings,
    now: datetime,
) -> bool:
    """Verifies a delivery-status callback and applies it (monotonic, campaign.delivery).

    The outbound is matched by our `outbound` query parameter, falling back to MessageSid. Returns
    True when the status changed; False when ignored (older status, unknown message, intermediate
    state or unknown status). Raises Forbidden / MalformedWebhook before touching anything.
    """
    verify_signature(url=url, params=params, signature=signature, settings=settings)
    sid = _required(params, "MessageSid")
    status = map_twilio_status(_required(params, "MessageStatus"))
    outbound_id = _outbound_id_from(url)
    outbound = session.get(Outbound, outbound_id) if outbound_id is not None else None
    if outbound is not None and outbound.provider_sid and outbound.provider_sid != sid:
        outbound = None  # the id and the SID disagree: trust the SID
    if outbound is None:
        outbound = session.scalar(select(Outbound).where(Outbound.provider_sid == sid))
    if outbound is None or status is None:
        return False
    from campaign.blasts.delivery import apply_status_update

    error_code = (params.get("ErrorCode") or "").strip() or None
    return apply_status_update(session, outbound, status, error_code=error_code, now=now)
