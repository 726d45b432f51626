"""Provider webhooks (inbound SMS, delivery status): signature first, then processing.

Shared by the HTTP routes (`POST /twilio/inbound`, `POST /twilio/status`) and the sandbox
provider, which signs its simulated callbacks with `Settings.sandbox_auth_token` and calls these
same functions. Invariant 6: nothing is stored before `X-Twilio-Signature` is verified, and every
inbound message is stored once per MessageSid (a retry is answered with an empty <Response/>).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse, urlsplit

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session
from twilio.request_validator import add_port, remove_port
from twilio.twiml.messaging_response import MessagingResponse

from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.config import Settings
from campaign.core.errors import Forbidden, Invalid
from campaign.core.i18n import _
from campaign.hotline.intake import InboundMessage, receive_batch
from campaign.hotline.media import read_media_params
from campaign.providers.base import UNSUBSCRIBED_CODE, map_twilio_status

INBOUND_PATH = "/twilio/inbound"
STATUS_PATH = "/twilio/status"
MAX_BODY_CHARS = 1600  # Twilio's limit for one (concatenated) message
# Longest value each form field may have (the database columns hold them); anything longer, or any
# control character other than in Body, is a malformed webhook (400), never a database error.
FIELD_LIMITS = {"MessageSid": 64, "From": 64, "To": 32, "MessageStatus": 32, "ErrorCode": 16}
SID_PATTERN = re.compile(r"[A-Za-z0-9]+")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
MAX_ID = 2**63 - 1



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
        raise Forbidden(
            _("webhook: missing X-Twilio-Signature") if not signature else _("webhook: no signing key")
        )
    if not signature_matches(token, url, params, signature):
        raise Forbidden(_("webhook: X-Twilio-Signature does not match"))


def signature_matches(token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether `signature` is the provider's X-Twilio-Signature of (url, params): what
    twilio's RequestValidator.validate decides for a form (HMAC-SHA1 of the URL followed by each
    field's name and value in name order, base64; the URL tried without its port, then with the
    default one), with the fields' text built once for both URLs and the second HMAC computed only
    when the first does not match. Constant-time comparison."""
    fields = "".join(name + params[name] for name in sorted(params))
    expected = signature.encode("utf-8")
    key = token.encode("utf-8")
    for candidate in _signed_urls(url):
        digest = hmac.new(key, (candidate + fields).encode("utf-8"), hashlib.sha1).digest()
        if hmac.compare_digest(base64.b64encode(digest), expected):
            return True
    return False


@functools.lru_cache(maxsize=256)
def _signed_urls(url: str) -> tuple[str, ...]:
    """The forms of `url` a signature may have been computed over (twilio's validate: without
    the port, then with the scheme's default port), each once."""
    parsed = urlparse(url)
    return tuple(dict.fromkeys((remove_port(parsed), add_port(parsed))))


def _required(params: Mapping[str, str], name: str, *, allow_empty: bool = False) -> str:
    value = params.get(name)
    if value is None or (not allow_empty and not str(value).strip()):
        raise MalformedWebhook(name, _("required form field is missing"))
    return str(value)


def _check_fields(params: Mapping[str, str]) -> None:
    """Raises MalformedWebhook for a field over its length or with a control character."""
    for name, limit in FIELD_LIMITS.items():
        value = params.get(name)
        if value is None:
            continue
        if len(value) > limit:
            raise MalformedWebhook(name, _("longer than %(max)d characters", max=limit))
        if CONTROL_CHARACTER.search(value):
            raise MalformedWebhook(name, _("contains a control character"))
    sid = params.get("MessageSid")
    if sid and not SID_PATTERN.fullmatch(sid):
        raise MalformedWebhook("MessageSid", _("not a message SID (letters and digits only)"))


def twiml(reply: str | None) -> str:
    """A TwiML document answering with `reply`, or an empty <Response/>."""
    if not reply:
        return _EMPTY_TWIML
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


_EMPTY_TWIML = str(MessagingResponse())  # most answers: built once


InboundWebhook = InboundMessage  # one authenticated inbound SMS, read from its form (nothing stored yet)


@dataclass(frozen=True)
class StatusWebhook:
    """One authenticated delivery-status callback (nothing applied yet). `status` is None for a
    status we do not track; `outbound_id` is our `outbound` URL parameter when present."""

    sid: str
    status: OutboundStatus | None
    outbound_id: int | None
    error_code: str | None
    now: datetime


def read_inbound(
    *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings, now: datetime
) -> InboundWebhook:
    """Verifies the signature, then reads the form. Raises Forbidden (bad signature) or
    MalformedWebhook (missing MessageSid/From/Body, body too long). Touches no database."""
    verify_signature(url=url, params=params, signature=signature, settings=settings)
    _check_fields(params)
    sid = _required(params, "MessageSid")
    from_number = _required(params, "From")
    # A NUL byte cannot be stored (PostgreSQL refuses it) and carries nothing: the message is kept
    # without it rather than lost.
    body = _required(params, "Body", allow_empty=True).replace("\x00", "")
    if len(body) > MAX_BODY_CHARS:
        raise MalformedWebhook("Body", _("longer than %(max)d characters", max=MAX_BODY_CHARS))
    try:
        media = read_media_params(params)
    except Invalid as exc:
        raise MalformedWebhook(exc.field, exc.reason) from exc
    return InboundWebhook(sid, from_number, body, params.get("To"), now, media)


def store_inbound(session: Session, webhooks: Sequence[InboundWebhook], *, settings: Settings) -> list[str]:
    """Stores and acts on authenticated inbound messages set-based (campaign.hotline.intake);
    returns the TwiML to answer each with, in order. A retried MessageSid stores nothing and answers
    an empty <Response/>. Messages are handled in order of their sender's number (arrival order for
    one sender), so concurrent batches lock contacts and cases in one order and cannot deadlock.
    Raises MalformedWebhook("From") for an unreadable number. Flushes only; the caller commits."""
    try:
        results = receive_batch(session, webhooks, settings=settings)
    except Invalid as exc:
        if exc.field != "From":
            raise
        raise MalformedWebhook("From", exc.reason) from exc
    return [twiml(result.reply) for result in results]


def handle_inbound(
    session: Session, *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings,
    now: datetime,
) -> str:
    """Verifies and processes one inbound SMS webhook; returns the TwiML to answer with.

    Raises Forbidden (bad signature) or MalformedWebhook (missing MessageSid/From/Body) before
    storing anything. A retried MessageSid stores nothing and answers an empty <Response/>.
    Flushes only; the caller commits. `now` is aware UTC.
    """
    webhook = read_inbound(url=url, params=params, signature=signature, settings=settings, now=now)
    return store_inbound(session, [webhook], settings=settings)[0]


def _outbound_id_from(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("outbound")
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        raise MalformedWebhook("outbound", _("not an outbound id: %(value)r", value=values[0][:40])) from None
    if not 1 <= value <= MAX_ID:
        raise MalformedWebhook("outbound", _("not an outbound id: %(value)r", value=values[0][:40]))
    return value


def read_status(
    *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings, now: datetime
) -> StatusWebhook:
    """Verifies the signature, then reads the callback. Raises Forbidden / MalformedWebhook.
    Touches no database."""
    verify_signature(url=url, params=params, signature=signature, settings=settings)
    _check_fields(params)
    sid = _required(params, "MessageSid")
    status = map_twilio_status(_required(params, "MessageStatus"))
    error_code = (params.get("ErrorCode") or "").strip() or None
    return StatusWebhook(sid, status, _outbound_id_from(url), error_code, now)


_OUTBOUND = Outbound.__table__
_STATE = ("id", "provider_sid", "contact_id", "status", "sent_at")
_WRITTEN = ("status", "status_at", "sent_at", "delivered_at", "error_code", "error_message")
# Built once (a statement built per batch costs its cache key every time): the messages of a batch
# of callbacks, by our id or by SID, locked in id order.
_LOCK_MESSAGES = (
    select(*(_OUTBOUND.c[name] for name in _STATE))
    .where(
        or_(
            _OUTBOUND.c.id.in_(bindparam("ids", expanding=True)),
            _OUTBOUND.c.provider_sid.in_(bindparam("sids", expanding=True)),
        )
    )
    .order_by(_OUTBOUND.c.id)
    .with_for_update()
)


@functools.cache
def _status_update(columns: tuple[str, ...]) -> Any:
    """The UPDATE writing `columns` of one message (executed for many at once), built once per set."""
    return (
        update(_OUTBOUND)
        .where(_OUTBOUND.c.id == bindparam("_id"))
        .values({name: bindparam(name, type_=_OUTBOUND.c[name].type) for name in columns})
    )


def apply_status(session: Session, webhooks: Sequence[StatusWebhook]) -> list[bool]:
    """Applies authenticated status callbacks set-based; returns, in order, whether each changed
    its message (False: older status, unknown message, untracked status).

    One SELECT locks every message concerned (FOR UPDATE on PostgreSQL, in id order, so that
    concurrent batches wait for each other instead of overwriting a newer status and cannot
    deadlock), each callback goes through campaign.blasts.delivery.forward_update in arrival order
    (invariant 5: forward only), and one UPDATE per set of changed columns writes the results.
    A message is matched by our `outbound` id, else by MessageSid (the id and the SID disagree:
    the SID wins). Error 21610 opts the contact out. A WhatsApp message failed as "not a WhatsApp
    user" or "outside the window" gets its SMS queued, once, when its step allows it
    (campaign.blasts.fallback). Flushes only; the caller commits.
    """
    from campaign.blasts.delivery import forward_update, opt_out_unsubscribed
    from campaign.blasts.fallback import FAILED, falls_back, queue_sms_fallbacks

    ids = sorted({w.outbound_id for w in webhooks if w.outbound_id is not None})
    sids = sorted({w.sid for w in webhooks})
    found = session.execute(_LOCK_MESSAGES, {"ids": ids, "sids": sids}).all()
    rows = {row.id: dict(row._mapping) for row in found}
    by_sid = {row["provider_sid"]: row for row in rows.values() if row["provider_sid"]}
    changes: dict[int, dict[str, Any]] = {}
    unsubscribed: list[tuple[int, datetime]] = []
    fallbacks: dict[int, datetime] = {}
    results = []
    for webhook in webhooks:
        row = rows.get(webhook.outbound_id) if webhook.outbound_id is not None else None
        if row is not None and row["provider_sid"] and row["provider_sid"] != webhook.sid:
            row = None  # the id and the SID disagree: trust the SID
        if row is None:
            row = by_sid.get(webhook.sid)
        values = None
        if row is not None and webhook.status is not None:
            values = forward_update(
                row["status"], webhook.status, sent_at=row["sent_at"], error_code=webhook.error_code,
                now=webhook.now,
            )
        results.append(values is not None)
        if row is None or values is None:
            continue
        row.update(values)
        changes.setdefault(row["id"], {}).update(values)
        if webhook.error_code == UNSUBSCRIBED_CODE:
            unsubscribed.append((row["contact_id"], webhook.now))
        if webhook.status in FAILED and falls_back(webhook.error_code):
            fallbacks.setdefault(row["id"], webhook.now)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outbound_id, values in changes.items():
        columns = tuple(name for name in _WRITTEN if name in values)
        by_columns.setdefault(columns, []).append({"_id": outbound_id, **values})
    for columns, params in by_columns.items():
        session.execute(_status_update(columns), params)
    for contact_id, now in unsubscribed:
        opt_out_unsubscribed(session, contact_id=contact_id, now=now)
    if fallbacks:
        queue_sms_fallbacks(session, fallbacks, now=max(fallbacks.values()))
    return results


def handle_status(
    session: Session, *, url: str, params: Mapping[str, str], signature: str | None, settings: Settings,
    now: datetime,
) -> bool:
    """Verifies a delivery-status callback and applies it (monotonic, campaign.blasts.delivery).

    The outbound is matched by our `outbound` query parameter, falling back to MessageSid. Returns
    True when the status changed; False when ignored (older status, unknown message, intermediate
    state or unknown status). Raises Forbidden / MalformedWebhook before touching anything.
    """
    webhook = read_status(url=url, params=params, signature=signature, settings=settings, now=now)
    return apply_status(session, [webhook])[0]
