"""The provider protocol: the narrow adapter between dispatch and an SMS gateway (Twilio, sandbox, ...).

Requests and results are frozen dataclasses; a refused request raises `ProviderError(code, message,
retryable=...)`; a request whose fate is unknown (timeout or dropped connection after the request
left) raises `UnknownOutcome`, which dispatch never blindly retries: it reconciles it.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from campaign.blasts.models import OutboundStatus
from campaign.core.errors import ProviderError

# A phone number inside free text (provider error messages quote the number they refuse).
_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")


def redact_numbers(text: str) -> str:
    """Provider text with phone numbers replaced, so it can be stored in error columns and logs."""
    return _NUMBER.sub("[number]", text)


# Twilio error codes a later attempt may get past (rate limits, queue overflow).
RETRYABLE_CODES = frozenset({"20429", "63018", "30001", "20500", "20503"})
# The recipient has replied STOP to this sender: the contact is opted out (RapidPro does the same).
UNSUBSCRIBED_CODE = "21610"


# WhatsApp failures that mean "WhatsApp cannot carry this message to this person": on a step
# `channel: [whatsapp, sms]` the contact then gets the SMS (campaign.blasts.fallback).
# 63016: free text outside the 24 h window; 63003: the To address is not on WhatsApp (inactive,
# invalid, unregistered); 63024: invalid message recipient (WhatsApp 1002/1026).
WHATSAPP_OUTSIDE_WINDOW = "63016"
WHATSAPP_NOT_A_USER = frozenset({"63003", "63024"})
WHATSAPP_FALLBACK_CODES = frozenset({WHATSAPP_OUTSIDE_WINDOW, *WHATSAPP_NOT_A_USER})
# 21655: the ContentSid is not a template of this account; 63019: media failed to download.
CONTENT_SID_INVALID = "21655"
MEDIA_DOWNLOAD_FAILED = "63019"


@dataclass(frozen=True)
class OutboundRequest:
    """One message to hand to a provider. `status_callback_url` carries our outbound id.

    `to` is the provider's address (`whatsapp:+502...` for WhatsApp). `channel` decides the sender
    (the WhatsApp sender or the Messaging Service for WhatsApp). A template (`content_sid`, with
    `content_variables` as the JSON text Twilio wants) goes without `body`; `media_url` is a
    voice note's public, signed URL.
    """

    outbound_id: int
    to: str
    body: str
    status_callback_url: str | None = None
    channel: str = "sms"
    content_sid: str | None = None
    content_variables: str | None = None
    media_url: str | None = None


@dataclass(frozen=True)
class ProviderResult:
    """What the provider says about one message. `status` is the provider's own status string."""

    sid: str
    status: str
    error_code: str | None = None
    to: str | None = None
    date_created: datetime | None = None
    body: str | None = None


# Media a contact may send that staff see or hear on the case page (WhatsApp voice notes are
# audio/ogg, MMS may carry AMR or MP3; WAV is what the sandbox synthesizes). Anything else (video,
# documents, contact cards) is not downloaded: the case says a file of that type arrived.
MEDIA_TYPES = frozenset({
    "audio/ogg", "audio/mpeg", "audio/amr", "audio/mp4", "audio/wav", "audio/x-wav",
    "image/jpeg", "image/png", "image/webp",
})


def media_type(raw: str | None) -> str:
    """The bare content type (`audio/ogg; codecs=opus` -> `audio/ogg`), lower case."""
    return (raw or "").split(";", 1)[0].strip().lower()


def media_allowed(raw: str | None) -> bool:
    """True for a content type staff may see or hear (MEDIA_TYPES)."""
    return media_type(raw) in MEDIA_TYPES


class MediaRefused(ProviderError):
    """A media download refused on our side (not the provider's URL, a type not allowed, too large):
    never retried. `code` is url | type | size."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=False)


class UnknownOutcome(ProviderError):
    """The request may or may not have been accepted (read timeout, connection dropped mid-request)."""

    def __init__(self, message: str) -> None:
        super().__init__("unknown", message, retryable=False)


@runtime_checkable
class Provider(Protocol):
    """An SMS gateway. Implementations: providers.sandbox.SandboxProvider, providers.twilio.TwilioProvider."""

    name: str

    def send(self, request: OutboundRequest) -> ProviderResult:
        """Hands one message over. Raises ProviderError (refused) or UnknownOutcome (fate unknown)."""
        ...

    def fetch(self, sid: str) -> ProviderResult:
        """The provider's current record of one message (raises ProviderError when unknown)."""
        ...

    def find(self, to: str, since: datetime) -> list[ProviderResult]:
        """Messages to `to` created at or after `since` (UTC): used to reconcile unknown outcomes."""
        ...

    def validate_signature(self, url: str, params: dict[str, str], signature: str) -> bool:
        """True when `signature` (X-Twilio-Signature) authenticates a webhook to `url` with `params`."""
        ...

    def map_status(self, raw: str) -> OutboundStatus | None:
        """Our status for the provider's status string; None for statuses that say nothing new."""
        ...

    def fetch_media(self, url: str) -> tuple[str, bytes]:
        """(content type, bytes) of a contact's media at `url` (a MediaUrl{N} of an inbound webhook),
        downloaded with the provider's credentials. Raises MediaRefused for a URL that is not the
        provider's media resource, a type outside MEDIA_TYPES or more than `Settings.media_max_bytes`;
        ProviderError (retryable or not) when the download fails."""
        ...


class AsyncSender(Protocol):
    """Sends from an asyncio loop (dispatch): many requests in flight over pooled connections."""

    async def send(self, request: OutboundRequest) -> ProviderResult:
        """Like Provider.send: raises ProviderError (refused) or UnknownOutcome (fate unknown)."""
        ...

    async def aclose(self) -> None:
        """Closes the connections (at the end of the dispatch run)."""
        ...


class ThreadedSender:
    """A provider without an asyncio client (the sandbox, or any other), each send in a thread."""

    def __init__(self, provider: Provider, *, concurrency: int) -> None:
        self.provider = provider
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="send")

    async def send(self, request: OutboundRequest) -> ProviderResult:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.provider.send, request)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=True)


def open_async_sender(provider: Provider, *, concurrency: int) -> AsyncSender:
    """The provider's own asyncio sender (`open_async(concurrency=...)`, Twilio: httpx), else its
    `send` in a thread pool of `concurrency` threads. Close it with `await sender.aclose()`."""
    opener = getattr(provider, "open_async", None)
    if opener is not None:
        sender: AsyncSender = opener(concurrency=concurrency)
        return sender
    return ThreadedSender(provider, concurrency=concurrency)


# Twilio's Message status values (OpenAPI message_enum_status) -> our outbound status.
# accepted/scheduled/queued/sending all mean "the provider has it": for us that is `sent`.
TWILIO_STATUSES: dict[str, OutboundStatus] = {
    "accepted": OutboundStatus.SENT,
    "scheduled": OutboundStatus.SENT,
    "queued": OutboundStatus.SENT,
    "sending": OutboundStatus.SENT,
    "sent": OutboundStatus.SENT,
    "delivered": OutboundStatus.DELIVERED,
    "read": OutboundStatus.DELIVERED,
    "partially_delivered": OutboundStatus.DELIVERED,
    "undelivered": OutboundStatus.UNDELIVERED,
    "failed": OutboundStatus.FAILED,
    "canceled": OutboundStatus.FAILED,
}


def map_twilio_status(raw: str | None) -> OutboundStatus | None:
    """Maps a Twilio status string (any case) to ours; None for inbound or unknown strings."""
    if not raw:
        return None
    return TWILIO_STATUSES.get(raw.strip().lower())


def is_retryable(code: str | None, http_status: int | None = None) -> bool:
    """Transient failures: HTTP 429 and 5xx, and the rate-limit / queue codes in RETRYABLE_CODES."""
    if code is not None and str(code) in RETRYABLE_CODES:
        return True
    return http_status is not None and (http_status == 429 or http_status >= 500)


def status_callback_url(public_url: str, outbound_id: int) -> str:
    """The StatusCallback URL for one outbound message (the web app's /twilio/status route)."""
    return f"{public_url.rstrip('/')}/twilio/status?outbound={outbound_id}"
