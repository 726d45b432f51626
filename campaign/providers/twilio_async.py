"""Sending through Twilio's Messages API from an asyncio loop: aiohttp, pooled keep-alive connections.

The same request as the twilio package's `messages.create` (form-encoded POST
/2010-04-01/Accounts/{AccountSid}/Messages.json with the form of `message_form` below:
To, From or MessagingServiceSid, Body or ContentSid + ContentVariables, MediaUrl, StatusCallback;
HTTP basic auth with the account SID and auth token) and the same outcomes as
`TwilioProvider.send` (campaign/providers/twilio.py):
- 2xx: accepted, SID and status returned;
- 4xx/5xx with a Twilio error body: ProviderError(code, retryable) (429, 5xx, 20429, 63018 retry);
- no connection at all (refused, connect timeout): retryable, the request never left;
- read/write timeout, connection dropped after the request started, an unreadable answer:
  UnknownOutcome (dispatch reconciles it, never re-sends blindly).
One sender per dispatch run, opened inside its event loop (its connections belong to that loop);
close it with `aclose()`. aiohttp rather than httpx: it costs a third of the CPU per request, and
the twilio package already depends on it.
"""

from __future__ import annotations

import base64
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from campaign.core.config import Settings
from campaign.core.errors import ProviderError
from campaign.providers.base import (
    OutboundRequest,
    ProviderResult,
    UnknownOutcome,
    is_retryable,
    redact_numbers,
)

API_VERSION = "2010-04-01"


class TwilioAsyncSender:
    """`await send(request)` for many concurrent requests over at most `concurrency` connections."""

    def __init__(
        self,
        *,
        api_base: str,
        account_sid: str,
        auth_token: str,
        sender: dict[str, str],
        concurrency: int,
        timeout: float,
        whatsapp: dict[str, str] | None = None,
    ) -> None:
        self.url = f"{api_base.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._sender, self._whatsapp = sender, whatsapp
        size = max(1, concurrency)
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0)),
            connector=aiohttp.TCPConnector(limit=size, limit_per_host=size),
            headers={
                "Accept": "application/json",
                "User-Agent": "campaign-engine",
                "Authorization": f"Basic {credentials}",  # HTTP basic auth, as the twilio package sends it
            },
            trust_env=False,  # never a proxy from the environment: requests go where settings say
        )

    async def send(self, request: OutboundRequest) -> ProviderResult:
        """POST one message. Raises ProviderError (refused, or never left) or UnknownOutcome."""
        form = message_form(request, sender=self._sender, whatsapp=self._whatsapp)
        data = [
            (name, item)
            for name, value in form.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        try:
            async with self._session.post(self.url, data=data) as response:
                status = response.status
                try:
                    payload: dict[str, Any] = await response.json(content_type=None)
                except ValueError:
                    payload = {}
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ProviderError("connect_error", "provider unreachable", retryable=True) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:  # read timeout, dropped connection
            raise UnknownOutcome(f"no answer from the provider: {type(exc).__name__}") from exc
        if not isinstance(payload, dict):
            payload = {}
        if status >= 400:
            code = str(payload.get("code") or status)
            message = redact_numbers(str(payload.get("message") or f"HTTP {status}"))
            raise ProviderError(code, message, retryable=is_retryable(code, status))
        if not payload.get("sid"):
            raise UnknownOutcome(f"unreadable answer from the provider (HTTP {status})")
        return result_from_json(payload)

    async def aclose(self) -> None:
        await self._session.close()


def whatsapp_sender(settings: Settings) -> dict[str, str] | None:
    """The WhatsApp sender: CAMPAIGN_TWILIO_WHATSAPP_FROM (`whatsapp:` added when missing), else the
    Messaging Service (which holds the WhatsApp sender), else None (WhatsApp cannot be sent)."""
    if settings.twilio_whatsapp_from:
        number = settings.twilio_whatsapp_from.strip()
        return {"from_": number if number.startswith("whatsapp:") else f"whatsapp:{number}"}
    if settings.twilio_messaging_service_sid:
        return {"messaging_service_sid": settings.twilio_messaging_service_sid}
    return None


def message_form(
    request: OutboundRequest, *, sender: dict[str, str], whatsapp: dict[str, str] | None
) -> dict[str, Any]:
    """The Messages API form of a request (Twilio's parameter names). Raises ProviderError
    (permanent) for WhatsApp without a WhatsApp sender."""
    chosen = sender
    if request.channel == "whatsapp":
        if whatsapp is None:
            raise ProviderError(
                "no_whatsapp_sender", "set CAMPAIGN_TWILIO_WHATSAPP_FROM or a Messaging Service",
                retryable=False,
            )
        chosen = whatsapp
    form: dict[str, Any] = (
        {"MessagingServiceSid": chosen["messaging_service_sid"]}
        if "messaging_service_sid" in chosen
        else {"From": chosen["from_"]}
    )
    form["To"] = request.to
    if request.content_sid:
        # A template goes without Body and MediaUrl (Twilio refuses free text outside the window).
        form["ContentSid"] = request.content_sid
        if request.content_variables:
            form["ContentVariables"] = request.content_variables
    else:
        form["Body"] = request.body
        if request.media_url:
            form["MediaUrl"] = [request.media_url]
    if request.status_callback_url:
        form["StatusCallback"] = request.status_callback_url
    return form


def result_from_json(payload: dict[str, Any]) -> ProviderResult:
    """A Message resource (Twilio's JSON) as our ProviderResult."""
    code = payload.get("error_code")
    created = payload.get("date_created")
    return ProviderResult(
        sid=str(payload["sid"]),
        status=str(payload.get("status") or ""),
        error_code=None if code in (None, "", 0) else str(code),
        to=payload.get("to"),
        date_created=parsedate_to_datetime(created) if created else None,
        body=payload.get("body"),
    )
