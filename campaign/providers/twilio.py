"""The Twilio provider: the twilio package's Messages API (create, fetch, list) and webhook signatures.

`Settings.twilio_api_base` replaces the client's API domain (https://api.twilio.com), so the same
code talks to a Twilio-compatible gateway or to the local test server. Credentials come from
settings and never appear in logs or reprs (masked).

Outcome of a create request, as dispatch needs it:
- 2xx: accepted, SID and status recorded;
- 4xx/5xx with a Twilio error body: ProviderError(code, retryable) (429, 5xx, 20429, 63018 retry);
- no connection at all (refused, connect timeout): retryable, the request never left;
- read timeout or connection dropped after the request went out: UnknownOutcome (reconcile).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from campaign.blasts.models import OutboundStatus
from campaign.core.config import Settings, mask_secret
from campaign.core.errors import Invalid, ProviderError
from campaign.core.i18n import _
from campaign.providers.base import (
    OutboundRequest,
    ProviderResult,
    UnknownOutcome,
    is_retryable,
    map_twilio_status,
    redact_numbers,
)
from campaign.providers.twilio_async import TwilioAsyncSender, message_form, whatsapp_sender
from campaign.providers.twilio_media import fetch_twilio_media

DEFAULT_TIMEOUT_SECONDS = 15.0
FIND_PAGE_SIZE = 50


class TwilioProvider:
    """Provider protocol over the twilio package's REST client (thread-safe for concurrent sends)."""

    name = "twilio"

    def __init__(
        self, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, pool_size: int | None = None
    ) -> None:
        token = settings.twilio_auth_token.get_secret_value()
        if not settings.twilio_account_sid or not token:
            raise Invalid(
                "CAMPAIGN_TWILIO_ACCOUNT_SID", _("the twilio provider needs an account SID and token")
            )
        if not (settings.twilio_from or settings.twilio_messaging_service_sid):
            raise Invalid("CAMPAIGN_TWILIO_FROM", _("set a sender or CAMPAIGN_TWILIO_MESSAGING_SERVICE_SID"))
        self.account_sid = settings.twilio_account_sid
        self._token_hint = mask_secret(token)
        self.sender: dict[str, str] = (
            {"messaging_service_sid": settings.twilio_messaging_service_sid}
            if settings.twilio_messaging_service_sid
            else {"from_": settings.twilio_from}
        )
        self.whatsapp_sender = whatsapp_sender(settings)
        http = TwilioHttpClient(timeout=timeout, pool_connections=True)
        pool = max(10, pool_size or settings.concurrency)
        assert http.session is not None
        for scheme in ("http://", "https://"):  # the client only sizes https; tests use http
            http.session.mount(scheme, HTTPAdapter(pool_connections=pool, pool_maxsize=pool))
        self.client = Client(settings.twilio_account_sid, token, http_client=http)
        # Never let TWILIO_EDGE / TWILIO_REGION in the environment redirect requests elsewhere.
        self.client.edge = None
        self.client.region = None
        self.client.api.base_url = settings.twilio_api_base.rstrip("/")
        self._validator = RequestValidator(token)
        self._token = token
        self.timeout = timeout
        self.api_base = settings.twilio_api_base
        self.media_max_bytes = settings.media_max_bytes
        self._media_http = requests.Session()
        self._media_http.trust_env = False  # no proxy or .netrc from the environment for media

    def __repr__(self) -> str:
        return f"<TwilioProvider account={self.account_sid} token={self._token_hint}>"

    def send(self, request: OutboundRequest) -> ProviderResult:
        """POST .../Messages.json with To, From or MessagingServiceSid, Body (or ContentSid and
        ContentVariables for a WhatsApp template; MediaUrl for a voice note) and StatusCallback."""
        form = message_form(request, sender=self.sender, whatsapp=self.whatsapp_sender)
        kwargs: dict[str, Any] = {_KWARGS[name]: value for name, value in form.items()}
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise ProviderError("connect_timeout", "provider unreachable", retryable=True) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise ProviderError("connect_error", "provider unreachable", retryable=True) from exc
            raise UnknownOutcome(f"connection dropped during the request: {type(exc).__name__}") from exc
        except requests.exceptions.RequestException as exc:  # read timeout, chunked encoding, ...
            raise UnknownOutcome(f"no answer from the provider: {type(exc).__name__}") from exc
        except TwilioException as exc:
            raise UnknownOutcome(f"unreadable answer from the provider: {exc}") from exc
        return _result(message)

    def open_async(self, *, concurrency: int) -> TwilioAsyncSender:
        """The same create request from an asyncio loop (httpx, pooled keep-alive connections):
        what dispatch uses. See campaign/providers/twilio_async.py."""
        return TwilioAsyncSender(
            api_base=self.api_base, account_sid=self.account_sid, auth_token=self._token,
            sender=self.sender, whatsapp=self.whatsapp_sender, concurrency=concurrency,
            timeout=self.timeout,
        )

    def fetch(self, sid: str) -> ProviderResult:
        """GET .../Messages/{sid}.json."""
        try:
            return _result(self.client.messages(sid).fetch())
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except requests.exceptions.RequestException as exc:
            raise ProviderError("network", f"lookup failed: {type(exc).__name__}", retryable=True) from exc

    def find(self, to: str, since: datetime) -> list[ProviderResult]:
        """GET .../Messages.json?To=...&DateSent>=...: messages to `to` created at or after `since`."""
        try:
            messages = self.client.messages.list(to=to, date_sent_after=since, page_size=FIND_PAGE_SIZE)
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except requests.exceptions.RequestException as exc:
            raise ProviderError("network", f"lookup failed: {type(exc).__name__}", retryable=True) from exc
        found = [_result(m) for m in messages]
        return [r for r in found if r.date_created is None or r.date_created >= since]

    def validate_signature(self, url: str, params: dict[str, str], signature: str) -> bool:
        """Checks X-Twilio-Signature with the account's auth token."""
        return bool(signature) and self._validator.validate(url, params, signature)

    def map_status(self, raw: str) -> OutboundStatus | None:
        """Twilio's message status -> ours (accepted/queued/sending/sent -> sent, ...)."""
        return map_twilio_status(raw)

    def fetch_media(self, url: str) -> tuple[str, bytes]:
        """GET a MediaUrl{N} with basic auth (campaign/providers/twilio_media.py says what is refused)."""
        return fetch_twilio_media(
            self._media_http, url, api_base=self.api_base, account_sid=self.account_sid,
            auth_token=self._token, max_bytes=self.media_max_bytes, timeout=self.timeout,
        )


# Twilio's form parameter -> the twilio package's keyword.
_KWARGS = {
    "To": "to", "From": "from_", "MessagingServiceSid": "messaging_service_sid", "Body": "body",
    "ContentSid": "content_sid", "ContentVariables": "content_variables", "MediaUrl": "media_url",
    "StatusCallback": "status_callback",
}


def _result(message: Any) -> ProviderResult:
    code = getattr(message, "error_code", None)
    return ProviderResult(
        sid=message.sid,
        status=str(message.status),
        error_code=None if code in (None, "", 0) else str(code),
        to=message.to,
        date_created=message.date_created,
        body=message.body,
    )


def _rest_error(exc: TwilioRestException) -> ProviderError:
    code = str(exc.code) if exc.code else str(exc.status)
    message = redact_numbers(str(exc.msg or f"HTTP {exc.status}"))
    return ProviderError(code, message, retryable=is_retryable(code, exc.status))


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never made (refused, DNS): the request surely did not arrive."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in {"NewConnectionError", "ConnectionRefusedError", "NameResolutionError"}:
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        first_arg = current.args[0] if current.args else None
        wrapped = first_arg if isinstance(first_arg, BaseException) else None
        current = current.__cause__ or current.__context__ or wrapped
    return False
