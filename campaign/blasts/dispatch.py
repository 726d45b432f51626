"""Sending due outbound rows: claim, re-check, rate-limited concurrent send, retry, reconcile.

The order of work for each batch (invariant 7: a crash at any point loses nothing and never
re-sends what the provider accepted):

1. claim: one UPDATE turns due `queued` rows into `sending` (claim token, claimed_at, attempts+1)
   and COMMITS, before any request leaves. PostgreSQL picks rows with FOR UPDATE SKIP LOCKED, so
   several dispatchers share the queue; SQLite serialises writers and the `status = 'queued'`
   guard plus RETURNING tells each claimer exactly which rows it won.
2. re-check, in one query: blast rows whose contact opted out, was blocked or has an open hotline
   case are skipped (invariant 2); blast rows outside the contact's send window go back to
   `queued` at the next window start (invariant 4). Hotline replies (no occurrence) skip both.
   WhatsApp rows: the WhatsApp opt-in is checked again, and the contact's 24 h window decides
   between the free text (with its voice note) and the approved template; with neither possible
   the row becomes an SMS when its step allows (`fallback_channel`), else it is skipped
   (no_whatsapp_consent, whatsapp_template_missing).
3. send through the provider at the sender's rate, shared by every dispatcher of the deployment
   (campaign.blasts.slots), from one asyncio loop with `concurrency` requests in flight (Twilio:
   httpx with pooled keep-alive connections; other providers: a thread pool); right before each
   request, the last check of campaign.blasts.muting. Outcomes are written set-based as they come
   (about every FLUSH_EVERY_SECONDS, campaign.blasts.recording), database work in a worker thread
   so the loop keeps sending. Transient errors go back to `queued` with backoff, permanent ones
   fail the row, and an unknown outcome (timeout, dropped connection) marks it `unknown`.
4. `reconcile` looks up rows left `sending` by a dead dispatcher, and `unknown` rows, at the
   provider by recipient and time: found -> `sent` with its SID; not found -> `queued` again.

Times are aware UTC; `now` is injected and used for every timestamp written.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Engine

from audiences.models import Contact, ContactStatus
from campaign.blasts.channels import (
    NO_WHATSAPP_CONSENT,
    SMS,
    TEMPLATE_MISSING,
    WHATSAPP,
    address_for,
    existing_recordings,
    media_url,
    whatsapp_window_open,
)
from campaign.blasts.eligibility import blast_eligible
from campaign.blasts.models import Campaign, CampaignStatus, Outbound, OutboundStatus
from campaign.blasts.muting import MuteWatch
from campaign.blasts.reconcile import DEFAULT_LEASE_SECONDS, ReconcileResult, reconcile
from campaign.blasts.recording import ClaimedRow, SendOutcome, record_outcomes
from campaign.blasts.slots import SlotLimiter, rate_limiter
from campaign.core.config import Settings, get_settings
from campaign.core.db import is_postgres, rowcount, unit_of_work
from campaign.core.errors import ProviderError, safe_reason
from campaign.providers.base import (
    AsyncSender,
    OutboundRequest,
    Provider,
    UnknownOutcome,
    open_async_sender,
    status_callback_url,
)

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DispatchResult",
    "ReconcileResult",
    "claim_due_outbound",
    "dispatch_due",
    "reconcile",
    "send_now",
]
from campaign.blasts.windows import contact_timezone, next_allowed

log = logging.getLogger(__name__)

SENDABLE_CAMPAIGN = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
# Test hook: seconds to sleep right after a claim commits (lets a test SIGKILL a dispatcher there).
PAUSE_AFTER_CLAIM_ENV = "CAMPAIGN_TEST_PAUSE_AFTER_CLAIM"
# A batch must finish well inside the reconcile lease, so a batch holds at most this many seconds
# of sending at the configured rate. The rate is shared by every dispatcher of the deployment, so
# with N of them a batch takes up to N times as long: 10 s keeps 30 dispatchers inside the lease,
# and a smaller batch claims (and re-checks) less at a time.
MAX_BATCH_SECONDS = 10.0
FLUSH_EVERY_SECONDS = 0.5
FLUSH_EVERY_ROWS = 200


@dataclass
class DispatchResult:
    """What one dispatch call did, by outcome (rows)."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    held: int = 0  # outside the send window: back to queued for the next window
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    expired: int = 0
    muted: int = 0  # stopped at the provider's door: muted after the claim (campaign.blasts.muting)
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def sendable_condition(now: datetime) -> Any:
    """SQL: queued, not expired, and either a hotline reply or in a scheduled/running campaign.

    The SMS after a WhatsApp failure (campaign.blasts.fallback) also goes when its campaign has
    completed meanwhile (a WhatsApp verdict may come after the last send); never when it was
    paused or cancelled."""
    campaign_sendable = exists(
        select(Campaign.id).where(Campaign.id == Outbound.campaign_id, Campaign.status.in_(SENDABLE_CAMPAIGN))
    )
    fallback_sendable = and_(
        Outbound.fallback_of.is_not(None),
        exists(
            select(Campaign.id).where(
                Campaign.id == Outbound.campaign_id, Campaign.status == CampaignStatus.COMPLETED
            )
        ),
    )
    return and_(
        Outbound.status == OutboundStatus.QUEUED,
        or_(Outbound.expires_at.is_(None), Outbound.expires_at > now),
        or_(Outbound.campaign_id.is_(None), campaign_sendable, fallback_sendable),
    )


def claim_due_outbound(
    engine: Engine, *, now: datetime, size: int, only_id: int | None = None
) -> tuple[str, int]:
    """Claims up to `size` due rows in one committed UPDATE; returns (claim token, rows won).

    `only_id` claims that single row whatever its send_after (a hotline reply sent now).
    """
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    with unit_of_work(engine) as session:
        condition = sendable_condition(now)
        if only_id is None:
            condition = and_(condition, Outbound.send_after <= now)
        else:
            condition = and_(condition, Outbound.id == only_id)
        pick = (
            select(Outbound.id)
            .where(condition)
            .order_by(Outbound.priority.desc(), Outbound.send_after, Outbound.id)
            .limit(size)
        )
        if is_postgres(session):
            # A materialised CTE runs the locking pick exactly once; as an IN (subquery) PostgreSQL
            # may re-run it per row and claim more than `size` rows.
            picked = (
                pick.with_for_update(skip_locked=True, of=Outbound).cte("picked").prefix_with("MATERIALIZED")
            )
            chosen = Outbound.id.in_(select(picked.c.id))
        else:
            chosen = Outbound.id.in_(pick.scalar_subquery())
        claimed = session.execute(
            update(Outbound)
            .where(chosen, Outbound.status == OutboundStatus.QUEUED)
            .values(
                status=OutboundStatus.SENDING,
                claimed_by=token,
                claimed_at=now,
                attempts=Outbound.attempts + 1,
                status_at=now,
            )
            .returning(Outbound.id)
            .execution_options(synchronize_session=False)
        ).all()
    return token, len(claimed)


def expire_overdue(engine: Engine, *, now: datetime) -> int:
    """Queued rows past their step deadline become `expired` (held too long: never sent late)."""
    with unit_of_work(engine) as session:
        result = session.execute(
            update(Outbound)
            .where(Outbound.status == OutboundStatus.QUEUED, Outbound.expires_at <= now)
            .values(status=OutboundStatus.EXPIRED, skip_reason="deadline", status_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result)


def _prepare(
    engine: Engine, token: str, *, now: datetime, result: DispatchResult, settings: Settings | None = None
) -> list[ClaimedRow]:
    """Re-checks eligibility, send windows and (WhatsApp) consent and the 24 h window of the
    claimed rows; returns the rows to send."""
    query = (
        select(
            Outbound.id,
            Outbound.occurrence_id,
            Outbound.campaign_id,
            Outbound.body,
            Outbound.attempts,
            Outbound.contact_id,
            Outbound.created_at,
            Outbound.channel,
            Outbound.content_sid,
            Outbound.content_variables,
            Outbound.media_recording_id,
            Outbound.fallback_channel,
            Contact.phone,
            Contact.timezone,
            Contact.status,
            Contact.whatsapp_consent_at,
            blast_eligible(Outbound.contact_id).label("eligible"),
            Campaign.timezone.label("campaign_tz"),
            Campaign.window_start,
            Campaign.window_end,
            Campaign.weekend_window,
        )
        .join(Contact, Contact.id == Outbound.contact_id)
        .outerjoin(Campaign, Campaign.id == Outbound.campaign_id)
        .where(Outbound.claimed_by == token, Outbound.status == OutboundStatus.SENDING)
        .order_by(Outbound.priority.desc(), Outbound.send_after, Outbound.id)
    )
    to_send: list[ClaimedRow] = []
    skipped: dict[str, list[int]] = {}
    held: list[tuple[int, datetime]] = []
    to_sms: list[int] = []  # WhatsApp rows going as SMS instead (their step allows it)
    settings = settings or get_settings()
    with unit_of_work(engine) as session:
        claimed = session.execute(query).all()
        window = whatsapp_window_open(
            session, [r.contact_id for r in claimed if r.channel == WHATSAPP], now
        )
        recordings = existing_recordings(session, [r.media_recording_id for r in claimed])
        for r in claimed:
            is_blast = r.occurrence_id is not None or r.campaign_id is not None
            if is_blast and not r.eligible:
                reason = r.status if r.status != ContactStatus.ACTIVE else "open_case"
                skipped.setdefault(str(reason), []).append(r.id)
                continue
            if is_blast and r.window_start is not None:
                tz = contact_timezone(r.timezone, r.phone, r.campaign_tz or "America/Guatemala")
                opens = next_allowed(
                    now, tz=tz, start=r.window_start, end=r.window_end, weekend=r.weekend_window or None
                )
                if opens > now:
                    held.append((r.id, opens))
                    continue
            channel, content_sid, variables, media = r.channel or SMS, None, None, None
            if channel == WHATSAPP:
                if is_blast and r.whatsapp_consent_at is None:  # never a WhatsApp blast without opt-in
                    problem: str | None = NO_WHATSAPP_CONSENT
                elif r.contact_id in window:  # free text (and the voice note) may go
                    problem = None
                    if r.media_recording_id in recordings:  # removed since planning: the text alone
                        media = media_url(settings, r.media_recording_id, now=now)
                elif r.content_sid:  # outside the window: the approved template
                    problem, content_sid, variables = None, r.content_sid, r.content_variables
                else:
                    problem = TEMPLATE_MISSING
                if problem is not None:
                    if r.fallback_channel != SMS:
                        skipped.setdefault(problem, []).append(r.id)
                        continue
                    channel = SMS
                    to_sms.append(r.id)
            to_send.append(
                ClaimedRow(
                    r.id, r.contact_id, address_for(channel, r.phone), r.body, r.attempts, is_blast,
                    r.created_at, channel=channel, content_sid=content_sid, content_variables=variables,
                    media_url=media,
                )
            )
        if to_sms:
            session.execute(
                update(Outbound)
                .where(Outbound.id.in_(to_sms), Outbound.status == OutboundStatus.SENDING)
                .values(channel=SMS, fallback_channel=None)
                .execution_options(synchronize_session=False)
            )
        for reason, ids in skipped.items():
            session.execute(
                update(Outbound)
                .where(Outbound.id.in_(ids), Outbound.status == OutboundStatus.SENDING)
                .values(status=OutboundStatus.SKIPPED, skip_reason=reason, status_at=now)
                .execution_options(synchronize_session=False)
            )
        for outbound_id, opens in held:
            session.execute(
                update(Outbound)
                .where(Outbound.id == outbound_id, Outbound.status == OutboundStatus.SENDING)
                .values(
                    status=OutboundStatus.QUEUED,
                    send_after=opens,
                    claimed_by=None,
                    attempts=Outbound.attempts - 1,  # not an attempt: nothing was tried
                    status_at=now,
                )
                .execution_options(synchronize_session=False)
            )
    result.skipped += sum(len(ids) for ids in skipped.values())
    result.held += len(held)
    return to_send


def _batch_size(settings: Settings, remaining: int | None) -> int:
    by_rate = max(settings.concurrency, math.ceil(settings.rate_per_second * MAX_BATCH_SECONDS))
    size = min(settings.batch_size, by_rate)
    return size if remaining is None else min(size, remaining)


def _pause_after_claim() -> float:
    return float(os.environ.get(PAUSE_AFTER_CLAIM_ENV) or 0)




T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to the end from synchronous code, even inside a thread that already runs an
    event loop (then in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class _Door:
    """The provider's door for one dispatch run: the sender's rate, the last mute check, the send.
    Each channel has its own sender (the SMS number, the WhatsApp sender), so its own rate."""

    def __init__(
        self, sender: AsyncSender, limiters: dict[str, SlotLimiter], mute: MuteWatch, public_url: str
    ) -> None:
        self.sender, self.limiters, self.mute, self.public_url = sender, limiters, mute, public_url
        self._refresh: asyncio.Task[None] | None = None
        # One sender waits for a slot at a time: the others queue here, so this process holds one
        # slot ahead, not one per sender (a stalled process loses few slots of the deployment's).
        self._pace = asyncio.Lock()

    def refresh_ahead(self) -> None:
        """Starts a refresh of the mute watch in a worker thread once it is half its interval old,
        so that senders never wait for one."""
        half = self.mute.interval / 2
        if self.mute.stale(half) and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(asyncio.to_thread(self.mute.refresh, half))

    async def fresh_mutes(self) -> None:
        """Waits until the mute watch is fresh (one refresh at a time, shared by the waiters)."""
        while self.mute.stale():
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.create_task(asyncio.to_thread(self.mute.refresh))
            await asyncio.shield(self._refresh)

    async def close(self) -> None:
        if self._refresh is not None:
            await asyncio.gather(self._refresh, return_exceptions=True)
        await self.sender.aclose()

    async def send(self, row: ClaimedRow) -> SendOutcome:
        request = OutboundRequest(
            row.id, row.to, row.body, status_callback_url(self.public_url, row.id), channel=row.channel,
            content_sid=row.content_sid, content_variables=row.content_variables, media_url=row.media_url,
        )
        limiter = self.limiters.get(row.channel) or self.limiters[SMS]
        async with self._pace:
            slot = await limiter.acquire_async()
        if self.mute.stale():  # the refresher fell behind: wait for it (and for another slot if
            await self.fresh_mutes()  # this one went by meanwhile)
            if limiter.overdue(slot):
                await limiter.acquire_async()
        # The last check, right before the request: a STOP, a cry for help or a case opened since the
        # claim stops the message (the watch is never older than REFRESH_SECONDS here).
        stop = self.mute.muted(row.contact_id, blast=row.blast, written_at=row.written_at)
        if stop is not None:
            return SendOutcome(row, muted=stop)
        try:
            return SendOutcome(row, result=await self.sender.send(request))
        except ProviderError as exc:
            return SendOutcome(row, error=exc)
        except Exception as exc:  # noqa: BLE001 - a bug or an odd transport error: the fate is unknown
            # safe_reason: no number or text of the message in the log or the stored error
            log.error("provider raised while sending outbound %s: %s", row.id, safe_reason(exc))
            return SendOutcome(row, error=UnknownOutcome(safe_reason(exc)))


def _limiters(engine: Engine, settings: Settings) -> dict[str, SlotLimiter]:
    """The rate limit of each channel's sender (the WhatsApp sender is a sender of its own)."""
    return {SMS: rate_limiter(engine, settings), WHATSAPP: rate_limiter(engine, settings, channel=WHATSAPP)}


def dispatch_due(
    engine: Engine,
    provider: Provider,
    *,
    now: datetime,
    settings: Settings | None = None,
    limit: int | None = None,
) -> DispatchResult:
    """Sends every due queued row (at most `limit`), batch by batch, and reports what happened.

    Each claim commits before its rows are sent; outcomes are committed as they arrive (about
    every FLUSH_EVERY_SECONDS). The next batch is claimed while the previous one's tail is in
    flight. Hotline replies go before blasts (priority), then the oldest send_after. Raises
    nothing for provider errors: they are recorded on the rows. `now` is aware UTC.
    """
    settings = settings or get_settings()
    return _run(_dispatch(engine, provider, now=now, settings=settings, limit=limit))


async def _dispatch(
    engine: Engine, provider: Provider, *, now: datetime, settings: Settings, limit: int | None
) -> DispatchResult:
    result = DispatchResult(expired=await asyncio.to_thread(expire_overdue, engine, now=now))
    mute = MuteWatch(engine, since=now)
    concurrency = max(1, settings.concurrency)
    door = _Door(open_async_sender(provider, concurrency=concurrency), _limiters(engine, settings), mute,
                 settings.public_url)
    queue: asyncio.Queue[ClaimedRow | None] = asyncio.Queue()
    done: list[SendOutcome] = []

    async def worker() -> None:
        while (row := await queue.get()) is not None:
            try:
                done.append(await door.send(row))
            except Exception as exc:  # noqa: BLE001 - a bug before or around the request: reconcile it
                log.error("dispatch failed around outbound %s: %s", row.id, safe_reason(exc))
                done.append(SendOutcome(row, error=UnknownOutcome(safe_reason(exc))))

    async def record(outcomes: list[SendOutcome]) -> None:
        counts = await asyncio.to_thread(
            record_outcomes, engine, provider, outcomes, now=now, settings=settings, errors=result.errors
        )
        for name in ("sent", "muted", "retried", "failed", "unknown"):
            setattr(result, name, getattr(result, name) + getattr(counts, name))
        mute.forget(o.row.contact_id for o in outcomes)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    held, exhausted, last_flush = 0, False, time.monotonic()  # held: claimed, not yet recorded
    try:
        while True:
            size = _batch_size(settings, None if limit is None else limit - result.claimed)
            # Claim the next batch while the tail of this one is still in flight, so the send
            # rate does not dip at batch boundaries (the rate limit is held, not approximated).
            if not exhausted and size > 0 and held - len(done) <= size // 2:
                token, won = await asyncio.to_thread(claim_due_outbound, engine, now=now, size=size)
                if won:
                    await asyncio.sleep(_pause_after_claim())
                    result.batches += 1
                    result.claimed += won
                    rows = await asyncio.to_thread(
                        _prepare, engine, token, now=now, result=result, settings=settings
                    )
                    await asyncio.to_thread(mute.watch, [r.contact_id for r in rows])
                    held += len(rows)
                    for row in rows:
                        queue.put_nowait(row)
                    continue
                exhausted = True
            if held == 0 and (exhausted or size <= 0):
                break
            await asyncio.sleep(0.02)
            if held > len(done):
                door.refresh_ahead()
            overdue = time.monotonic() - last_flush >= FLUSH_EVERY_SECONDS
            if done and (len(done) == held or len(done) >= FLUSH_EVERY_ROWS or overdue):
                batch, done[:] = list(done), []
                held -= len(batch)
                await record(batch)
                last_flush = time.monotonic()
    finally:
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers, return_exceptions=True)
        await door.close()
    if done:
        await record(list(done))
    return result


def send_now(
    engine: Engine,
    provider: Provider,
    outbound_id: int,
    *,
    now: datetime,
    settings: Settings | None = None,
) -> OutboundStatus | None:
    """Sends one queued row (a hotline reply) right away through the same claim/send/record path.

    Returns the row's status afterwards (None if the row does not exist). A row that is not
    queued, or belongs to a paused campaign, is left as it is.
    """
    settings = settings or get_settings()
    result = DispatchResult()
    token, won = claim_due_outbound(engine, now=now, size=1, only_id=outbound_id)
    if won:
        rows = _prepare(engine, token, now=now, result=result, settings=settings)
        mute = MuteWatch(engine, since=now)
        mute.watch(r.contact_id for r in rows)

        async def send_all() -> list[SendOutcome]:
            door = _Door(open_async_sender(provider, concurrency=1), _limiters(engine, settings), mute,
                         settings.public_url)
            try:
                return [await door.send(row) for row in rows]
            finally:
                await door.close()

        outcomes = _run(send_all())
        record_outcomes(engine, provider, outcomes, now=now, settings=settings, errors=result.errors)
    with unit_of_work(engine) as session:
        status = session.scalar(select(Outbound.status).where(Outbound.id == outbound_id))
    return OutboundStatus(status) if status is not None else None
