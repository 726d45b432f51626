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
3. send through the provider with a token bucket and a thread pool; results are written as they
   come (every second or so). Transient errors go back to `queued` with backoff, permanent ones
   fail the row, and an unknown outcome (timeout, dropped connection) marks it `unknown`.
4. `reconcile` looks up rows left `sending` by a dead dispatcher, and `unknown` rows, at the
   provider by recipient and time: found -> `sent` with its SID; not found -> `queued` again.

Times are aware UTC; `now` is injected and used for every timestamp written.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Engine

from audiences.models import Contact, ContactStatus
from campaign.blasts.delivery import opt_out_unsubscribed
from campaign.blasts.eligibility import blast_eligible
from campaign.blasts.models import Campaign, CampaignStatus, Outbound, OutboundStatus
from campaign.blasts.muting import Mute, MuteWatch
from campaign.blasts.ratelimit import TokenBucket, backoff_seconds, jitter_for
from campaign.blasts.reconcile import DEFAULT_LEASE_SECONDS, ReconcileResult, reconcile
from campaign.core.config import Settings, get_settings
from campaign.core.db import is_postgres, rowcount, unit_of_work
from campaign.core.errors import ProviderError, safe_reason
from campaign.providers.base import (
    OutboundRequest,
    Provider,
    ProviderResult,
    UnknownOutcome,
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
# of sending at the configured rate.
MAX_BATCH_SECONDS = 60.0
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


@dataclass(frozen=True)
class _Row:
    id: int
    contact_id: int
    to: str
    body: str
    attempts: int
    blast: bool
    written_at: datetime | None = None  # a hotline reply's creation (campaign.blasts.muting.Mute.applies)


@dataclass
class _Outcome:
    row: _Row
    result: ProviderResult | None = None
    error: ProviderError | None = None
    muted: Mute | None = None


_buckets: dict[tuple[str, float], TokenBucket] = {}


def rate_limiter(provider: Provider, rate_per_second: float) -> TokenBucket:
    """The process-wide token bucket of one provider at one rate (shared by every dispatch call)."""
    key = (provider.name, float(rate_per_second))
    if key not in _buckets:
        _buckets[key] = TokenBucket(rate_per_second, capacity=1.0)
    return _buckets[key]


def sendable_condition(now: datetime) -> Any:
    """SQL: queued, not expired, and either a hotline reply or in a scheduled/running campaign."""
    campaign_sendable = exists(
        select(Campaign.id).where(Campaign.id == Outbound.campaign_id, Campaign.status.in_(SENDABLE_CAMPAIGN))
    )
    return and_(
        Outbound.status == OutboundStatus.QUEUED,
        or_(Outbound.expires_at.is_(None), Outbound.expires_at > now),
        or_(Outbound.campaign_id.is_(None), campaign_sendable),
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


def _prepare(engine: Engine, token: str, *, now: datetime, result: DispatchResult) -> list[_Row]:
    """Re-checks eligibility and send windows of the claimed rows; returns the rows to send."""
    query = (
        select(
            Outbound.id,
            Outbound.occurrence_id,
            Outbound.campaign_id,
            Outbound.body,
            Outbound.attempts,
            Outbound.contact_id,
            Outbound.created_at,
            Contact.phone,
            Contact.timezone,
            Contact.status,
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
    to_send: list[_Row] = []
    skipped: dict[str, list[int]] = {}
    held: list[tuple[int, datetime]] = []
    with unit_of_work(engine) as session:
        for r in session.execute(query):
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
            to_send.append(_Row(r.id, r.contact_id, r.phone, r.body, r.attempts, is_blast, r.created_at))
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


def _send_one(
    provider: Provider, bucket: TokenBucket, row: _Row, public_url: str, mute: MuteWatch
) -> _Outcome:
    request = OutboundRequest(row.id, row.to, row.body, status_callback_url(public_url, row.id))
    bucket.acquire()
    # The last check, right before the request: a STOP, a cry for help or a case opened since the
    # claim stops the message (the watch is never older than REFRESH_SECONDS).
    stop = mute.check(row.contact_id, blast=row.blast, written_at=row.written_at)
    if stop is not None:
        return _Outcome(row, muted=stop)
    try:
        return _Outcome(row, result=provider.send(request))
    except ProviderError as exc:
        return _Outcome(row, error=exc)
    except Exception as exc:  # noqa: BLE001 - a bug or an odd transport error: the fate is unknown
        # safe_reason: no number or text of the message in the log or the stored error
        log.error("provider %s raised while sending outbound %s: %s", provider.name, row.id, safe_reason(exc))
        return _Outcome(row, error=UnknownOutcome(safe_reason(exc)))


def _record(
    engine: Engine,
    provider: Provider,
    outcomes: list[_Outcome],
    *,
    now: datetime,
    settings: Settings,
    result: DispatchResult,
) -> None:
    """Writes send outcomes in one transaction, never moving a row backwards (a callback may have won)."""
    from campaign.blasts.delivery import is_forward

    in_flight = (OutboundStatus.SENDING, OutboundStatus.UNKNOWN)
    with unit_of_work(engine) as session:
        for outcome in outcomes:
            row, where = outcome.row, Outbound.id == outcome.row.id
            if outcome.muted is not None:
                # A blast row is skipped like at planning; a hotline reply is cancelled like a
                # queued one on opt-out (delivery.cancel_pending).
                status = OutboundStatus.SKIPPED if row.blast else OutboundStatus.CANCELLED
                session.execute(
                    update(Outbound)
                    .where(where, Outbound.status == OutboundStatus.SENDING)
                    .values(status=status, skip_reason=outcome.muted.reason[:40], status_at=now)
                    .execution_options(synchronize_session=False)
                )
                result.muted += 1
                continue
            if outcome.result is not None:
                res = outcome.result
                target = provider.map_status(res.status) or OutboundStatus.SENT
                session.execute(
                    update(Outbound)
                    .where(where, Outbound.provider_sid.is_(None))
                    .values(provider_sid=res.sid, provider=provider.name)
                    .execution_options(synchronize_session=False)
                )
                current = session.scalar(select(Outbound.status).where(where))
                if current is not None and is_forward(current, target):
                    session.execute(
                        update(Outbound)
                        .where(where, Outbound.status.in_(in_flight))
                        .values(status=target, sent_at=now, status_at=now, error_code=res.error_code)
                        .execution_options(synchronize_session=False)
                    )
                result.sent += 1
                continue
            error = outcome.error
            assert error is not None
            result.errors[error.code] = result.errors.get(error.code, 0) + 1
            # a provider's message may quote the number ("The 'To' number +502... is not valid")
            values: dict[str, Any] = {"error_code": error.code[:16], "error_message": safe_reason(error)}
            if isinstance(error, UnknownOutcome):
                values.update(status=OutboundStatus.UNKNOWN, status_at=now)
                result.unknown += 1
            elif error.retryable and row.attempts < settings.max_attempts:
                jitter = jitter_for(row.id, row.attempts, settings.sandbox_seed)
                delay = backoff_seconds(row.attempts, rand=jitter)
                values.update(
                    status=OutboundStatus.QUEUED,
                    send_after=now + timedelta(seconds=delay),
                    claimed_by=None,
                    status_at=now,
                )
                result.retried += 1
            else:
                values.update(status=OutboundStatus.FAILED, status_at=now)
                result.failed += 1
            session.execute(
                update(Outbound)
                .where(where, Outbound.status == OutboundStatus.SENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if not error.retryable and error.code == "21610":
                contact_id = session.scalar(select(Outbound.contact_id).where(where))
                if contact_id is not None:
                    opt_out_unsubscribed(session, contact_id=contact_id, now=now)


def _batch_size(settings: Settings, remaining: int | None) -> int:
    by_rate = max(settings.concurrency, math.ceil(settings.rate_per_second * MAX_BATCH_SECONDS))
    size = min(settings.batch_size, by_rate)
    return size if remaining is None else min(size, remaining)


def _pause_after_claim() -> None:
    pause = os.environ.get(PAUSE_AFTER_CLAIM_ENV)
    if pause:
        time.sleep(float(pause))


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
    result = DispatchResult(expired=expire_overdue(engine, now=now))
    bucket = rate_limiter(provider, settings.rate_per_second)
    mute = MuteWatch(engine, since=now)
    pending: set[Future[_Outcome]] = set()
    buffer: list[_Outcome] = []
    last_flush, exhausted = time.monotonic(), False
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency), thread_name_prefix="dispatch") as pool:
        while True:
            size = _batch_size(settings, None if limit is None else limit - result.claimed)
            # Claim the next batch while the tail of this one is still in flight, so the send
            # rate does not dip at batch boundaries (the rate limit is held, not approximated).
            if not exhausted and size > 0 and len(pending) <= size // 2:
                token, won = claim_due_outbound(engine, now=now, size=size)
                if won:
                    _pause_after_claim()
                    result.batches += 1
                    result.claimed += won
                    rows = _prepare(engine, token, now=now, result=result)
                    mute.watch(r.contact_id for r in rows)
                    url = settings.public_url
                    pending |= {pool.submit(_send_one, provider, bucket, r, url, mute) for r in rows}
                    continue
                exhausted = True
            if not pending:
                if exhausted or size <= 0:
                    break
                continue
            done, pending = wait(pending, timeout=FLUSH_EVERY_SECONDS, return_when=FIRST_COMPLETED)
            buffer.extend(f.result() for f in done)
            if pending and mute.stale():
                mute.refresh()  # keeps the senders from waiting on it
            overdue = time.monotonic() - last_flush >= FLUSH_EVERY_SECONDS
            if buffer and (not pending or len(buffer) >= FLUSH_EVERY_ROWS or overdue):
                _record(engine, provider, buffer, now=now, settings=settings, result=result)
                mute.forget(o.row.contact_id for o in buffer)
                buffer, last_flush = [], time.monotonic()
    if buffer:
        _record(engine, provider, buffer, now=now, settings=settings, result=result)
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
        rows = _prepare(engine, token, now=now, result=result)
        bucket = rate_limiter(provider, settings.rate_per_second)
        mute = MuteWatch(engine, since=now)
        mute.watch(r.contact_id for r in rows)
        for row in rows:
            _record(engine, provider, [_send_one(provider, bucket, row, settings.public_url, mute)],
                    now=now, settings=settings, result=result)
    with unit_of_work(engine) as session:
        status = session.scalar(select(Outbound.status).where(Outbound.id == outbound_id))
    return OutboundStatus(status) if status is not None else None

