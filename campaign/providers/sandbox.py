"""The embedded sandbox provider: no network, a deterministic simulation of Twilio's side of the loop.

It records every send, then simulates what Twilio would do next: status callbacks (mostly
`delivered`, a few `undelivered`/`failed` with real error codes) and a share of replies (opt-out,
help, free text, now and then an urgent plea), all decided by a hash of the seed and the outbound
id, so a run is reproducible whatever the thread order. Events are signed exactly like Twilio
signs its webhooks (X-Twilio-Signature with `sandbox_auth_token`) and go through the same
webhook functions as real HTTP callbacks (`campaign.hotline.webhooks.handle_status` / `handle_inbound`).

Time: `send()` has no clock, so each simulated event carries a delay and is anchored the first
time `deliver_due_events(now=...)` sees it; it falls due `delay` later (seconds to minutes), which
an accelerated clock reaches on a later tick.

WhatsApp: `whatsapp:+...` addresses are accepted (the sender is then `whatsapp:` + the sandbox
number), a template (ContentSid) and a voice note (MediaUrl) are recorded with the message, and
simulated replies to a WhatsApp message come back on WhatsApp. The sandbox knows nothing of the
24 h window: dispatch already chose free text or template by it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from campaign.blasts.models import OutboundStatus
from campaign.core.config import Settings
from campaign.core.errors import ProviderError, safe_reason
from campaign.providers.base import OutboundRequest, ProviderResult, map_twilio_status

log = logging.getLogger(__name__)

SANDBOX_FROM = "+15005550006"  # Twilio's documented "magic" test sender
API_VERSION = "2010-04-01"
# (share, status, error codes) of simulated delivery outcomes; the rest is delivered.
OUTCOMES = (
    (0.04, "undelivered", ("30003", "30005", "30006")),
    (0.015, "failed", ("30007", "30008")),
)
# Share of delivered messages that get a reply, by kind (cumulative bands).
REPLIES = (("opt_out", 0.03), ("help", 0.02), ("text", 0.04), ("urgent", 0.004))
FREE_TEXT = (
    "Gracias por la información",
    "¿Dónde queda la oficina más cercana?",
    "Mi prima recibió una oferta de trabajo en la capital, ¿es confiable?",
    "Ok",
    "¿Quién me manda este mensaje?",
)
FALLBACK_WORDS = {
    "opt_out": ("ALTO", "STOP", "BAJA"),
    "help": ("AYUDA",),
    "urgent": ("auxilio me tienen encerrada",),
}


@dataclass
class SandboxMessage:
    """One message the sandbox accepted."""

    sid: str
    outbound_id: int
    to: str
    body: str
    status: str = "queued"
    error_code: str | None = None
    created: datetime | None = None
    content_sid: str | None = None
    content_variables: str | None = None
    media_url: str | None = None


@dataclass(order=True)
class _Event:
    due: datetime | None
    seq: int
    delay: float = field(compare=False)
    kind: str = field(compare=False)  # status | inbound
    params: dict[str, str] = field(compare=False)
    url: str = field(compare=False)
    reply: str | None = field(compare=False, default=None)  # intent of a simulated reply


class SandboxProvider:
    """Provider protocol implementation that simulates Twilio; keep one instance per process/run."""

    name = "sandbox"

    def __init__(self, settings: Settings) -> None:
        self.seed = settings.sandbox_seed
        self.public_url = settings.public_url.rstrip("/")
        self.from_number = settings.twilio_from or SANDBOX_FROM
        self.account_sid = "AC" + self._hex("account")
        self._validator = RequestValidator(settings.sandbox_auth_token.get_secret_value())
        self._lock = threading.Lock()
        self.sent: list[SandboxMessage] = []
        self._by_sid: dict[str, SandboxMessage] = {}
        self._events: list[_Event] = []
        self._seq = 0
        self._tries: dict[int, int] = {}

    # --- provider protocol -------------------------------------------------------------------

    def send(self, request: OutboundRequest) -> ProviderResult:
        """Accepts the message (status `queued`) and schedules its simulated callbacks and reply."""
        if not request.to.removeprefix("whatsapp:").startswith("+"):
            raise ProviderError("21211", "Invalid 'To' Phone Number", retryable=False)
        if request.channel == "whatsapp" and not request.to.startswith("whatsapp:"):
            raise ProviderError("63003", "Channel could not find To address", retryable=False)
        with self._lock:
            n = self._tries.get(request.outbound_id, 0) + 1
            self._tries[request.outbound_id] = n
            sid = "SM" + self._hex(f"out:{request.outbound_id}:{n}")
            message = SandboxMessage(
                sid, request.outbound_id, request.to, request.body, content_sid=request.content_sid,
                content_variables=request.content_variables, media_url=request.media_url,
            )
            self.sent.append(message)
            self._by_sid[sid] = message
            self._simulate(message, request.status_callback_url)
        return ProviderResult(sid=sid, status="queued", to=request.to, body=request.body)

    def fetch(self, sid: str) -> ProviderResult:
        """The sandbox's current record of one message; ProviderError 20404 when it has none."""
        message = self._by_sid.get(sid)
        if message is None:
            raise ProviderError("20404", f"The requested resource {sid} was not found", retryable=False)
        return self._result(message)

    def find(self, to: str, since: datetime) -> list[ProviderResult]:
        """Messages the sandbox accepted for `to` (those not yet anchored in time count as recent)."""
        with self._lock:
            return [
                self._result(m)
                for m in self.sent
                if m.to == to and (m.created is None or m.created >= since)
            ]

    def validate_signature(self, url: str, params: dict[str, str], signature: str) -> bool:
        """Checks an X-Twilio-Signature made with the sandbox signing key."""
        return bool(signature) and self._validator.validate(url, params, signature)

    def map_status(self, raw: str) -> OutboundStatus | None:
        """Twilio's status strings, since the sandbox speaks Twilio's dialect."""
        return map_twilio_status(raw)

    def fetch_media(self, url: str) -> tuple[str, bytes]:
        """A sandbox media URL (checked like Twilio's) answered with a synthetic tone, no network."""
        from campaign.providers.sandbox_media import SANDBOX_API, VOICE_NOTE_TYPE, synthetic_tone
        from campaign.providers.twilio_media import check_media_url

        check_media_url(url, api_base=SANDBOX_API, account_sid=self.account_sid)
        return VOICE_NOTE_TYPE, synthetic_tone(url.rsplit("/", 1)[-1])

    def simulate_voice_note(self, engine: Engine, *, phone: str, now: datetime, settings: Settings,
                            body: str = "") -> str:
        """A contact at `phone` sends a voice note (a SYNTHETIC tone) with `body` (often empty):
        the signed inbound webhook goes through the same processing as HTTP. Returns its MessageSid."""
        from campaign.core.db import unit_of_work
        from campaign.hotline import webhooks
        from campaign.providers.sandbox_media import VOICE_NOTE_TYPE, media_url

        with self._lock:
            self._seq += 1
            sid = "MM" + self._hex(f"voice:{self._seq}:{now.isoformat()}")
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "From": phone, "To": self.from_number,
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received", "Body": body,
            "NumMedia": "1", "NumSegments": "1", "MediaContentType0": VOICE_NOTE_TYPE,
            "MediaUrl0": media_url(self.account_sid, sid, "ME" + self._hex(f"media:{sid}")),
        }
        url = f"{self.public_url}/twilio/inbound"
        with unit_of_work(engine) as session:
            webhooks.handle_inbound(
                session, url=url, params=params, signature=self.sign(url, params), settings=settings, now=now
            )
        return sid

    # --- simulation --------------------------------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send for this webhook (HMAC-SHA1, base64)."""
        return self._validator.compute_signature(url, params)

    def pending_events(self) -> int:
        """Simulated callbacks and replies not delivered yet."""
        return len(self._events)

    def deliver_due_events(self, engine: Engine, *, now: datetime, settings: Settings) -> int:
        """Delivers every simulated webhook due at `now`, each in its own unit of work; returns how many.

        Events never seen before are anchored at `now` (due `now + delay`). A webhook that raises
        is logged and dropped (as Twilio gives up after its retries).
        """
        from campaign.core.db import unit_of_work
        from campaign.hotline import webhooks  # the web layer's processing, shared with HTTP callbacks

        with self._lock:
            for event in self._events:
                if event.due is None:
                    event.due = now + timedelta(seconds=event.delay)
            due = sorted(e for e in self._events if e.due is not None and e.due <= now)
            self._events = [e for e in self._events if e.due is None or e.due > now]
        delivered = 0
        for event in due:
            try:
                with unit_of_work(engine) as session:
                    if event.kind == "status":
                        self._apply_local(event.params, now)
                        signature = self.sign(event.url, event.params)
                        webhooks.handle_status(
                            session, url=event.url, params=event.params, signature=signature,
                            settings=settings, now=now,
                        )
                    else:
                        params = dict(event.params, Body=self._reply_text(session, event))
                        webhooks.handle_inbound(
                            session, url=event.url, params=params, signature=self.sign(event.url, params),
                            settings=settings, now=now,
                        )
                delivered += 1
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the simulation
                log.error("sandbox: simulated %s webhook failed: %s", event.kind, safe_reason(exc))
        return delivered

    def _simulate(self, message: SandboxMessage, callback_url: str | None) -> None:
        rng = random.Random(f"{self.seed}:events:{message.sid}")
        sender = self.from_number
        if message.to.startswith("whatsapp:"):
            sender = "whatsapp:" + self.from_number.removeprefix("whatsapp:")
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": sender,
            "To": message.to,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
        }
        url = callback_url or f"{self.public_url}/twilio/status?outbound={message.outbound_id}"
        sent_after = rng.uniform(1, 5)
        self._push(sent_after, "status", dict(base, MessageStatus="sent", SmsStatus="sent"), url)
        final, code, cut = "delivered", None, rng.random()
        for share, status, codes in OUTCOMES:
            if cut < share:
                final, code = status, rng.choice(codes)
                break
            cut -= share
        final_after = sent_after + rng.uniform(3, 90)
        params = dict(base, MessageStatus=final, SmsStatus=final)
        if code:
            params["ErrorCode"] = code
        self._push(final_after, "status", params, url)
        if final != "delivered":
            return
        cut = rng.random()
        for intent, share in REPLIES:
            if cut < share:
                sid = "SM" + self._hex(f"in:{message.sid}")
                inbound = {
                    "AccountSid": self.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": message.to,
                    "To": sender,
                    "MessageSid": sid,
                    "SmsMessageSid": sid,
                    "SmsSid": sid,
                    "SmsStatus": "received",
                    "NumMedia": "0",
                    "NumSegments": "1",
                }
                pick = rng.random()
                self._push(
                    final_after + rng.uniform(60, 1800), "inbound", inbound,
                    f"{self.public_url}/twilio/inbound", reply=f"{intent}:{pick}",
                )
                return
            cut -= share

    def _push(
        self, delay: float, kind: str, params: dict[str, str], url: str, reply: str | None = None
    ) -> None:
        self._seq += 1
        self._events.append(_Event(None, self._seq, delay, kind, params, url, reply))

    def _apply_local(self, params: dict[str, str], now: datetime) -> None:
        message = self._by_sid.get(params.get("MessageSid", ""))
        if message is not None:
            message.status = params["MessageStatus"]
            message.error_code = params.get("ErrorCode")
            message.created = message.created or now

    def _reply_text(self, session: Any, event: _Event) -> str:
        intent, _, pick = (event.reply or "text:0").partition(":")
        fraction = float(pick or 0)
        if intent == "text":
            return FREE_TEXT[int(fraction * len(FREE_TEXT)) % len(FREE_TEXT)]
        words = _words_for(session, event.params["From"], intent)
        return words[int(fraction * len(words)) % len(words)]

    def _result(self, message: SandboxMessage) -> ProviderResult:
        return ProviderResult(
            sid=message.sid, status=message.status, error_code=message.error_code,
            to=message.to, date_created=message.created, body=message.body,
        )

    def _hex(self, what: str) -> str:
        return hashlib.sha256(f"{self.seed}:{what}".encode()).hexdigest()[:32]


def _words_for(session: Any, phone: str, intent: str) -> tuple[str, ...]:
    """Keywords of `intent` in the contact's language if the catalogue has them, else Spanish."""
    from audiences.models import Contact

    number = phone.removeprefix("whatsapp:")
    language = session.scalar(select(Contact.language).where(Contact.phone_is(number))) or "es"
    catalogue = _catalogue()
    words: tuple[str, ...] = ()
    if catalogue is not None:
        words = catalogue.keywords(language, intent) or catalogue.keywords("es", intent)
    return tuple(words) or FALLBACK_WORDS[intent]


@lru_cache(maxsize=1)
def _catalogue() -> Any:
    try:
        from messages.keywords import load_catalogue

        return load_catalogue()
    except Exception:  # noqa: BLE001 - a broken pack must not stop the simulation
        log.exception("sandbox: keyword catalogue unavailable; replying with built-in Spanish words")
        return None
