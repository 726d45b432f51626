"""The scheduler: one `tick(now=...)` does all due work; `run_forever` repeats it with `schedule`.

A tick: (1) creates the occurrences that fell due for scheduled/running campaigns (several times
due at once, past at launch or missed while the scheduler was down, collapse into one firing; the
missed ones are recorded as skipped occurrences), extends open-ended radio schedules and reopens
hotline cases whose follow-up date has come, (2) plans each due occurrence in its own unit of work,
(3) expires held messages past their deadline and re-paces the queue of any campaign that fell
behind (an outage ends at the campaign's pace and under the hourly cap, never in a burst:
campaign/blasts/pacing.py), (4) reconciles messages whose send outcome is unknown (a crashed
dispatcher, a timeout), (5) dispatches due messages (campaign.dispatch), (6) lets the sandbox
provider deliver its simulated callbacks and replies and downloads the voice notes and images
contacts sent (campaign/hotline/media.py), (7) completes finished campaigns. Every step
is idempotent, so re-running a tick (or two schedulers at once) plans and sends nothing twice. Time
is injected: `now` is an aware UTC datetime.

Failures stay where they happen. An occurrence that cannot be planned (a query the database
refuses, a value out of range, a bug) is rolled back and marked `failed` with a reason safe to
show (`campaign.core.errors.safe_reason`: no SQL parameters, no contact data), in a transaction
of its own, so on PostgreSQL the aborted transaction takes nothing else with it; the tick goes on
with every other occurrence. A connection lost or a database busy leaves it pending for the next
tick. Each later stage runs on its own too: one that raises is logged and reported in
`TickResult.errors`, and the stages after it still run. `run_forever` survives any exception of
one tick.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time as time_module
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from campaign.blasts.channels import MESSAGING_CHANNELS
from campaign.blasts.dispatch import dispatch_due, expire_overdue
from campaign.blasts.lifecycle import ACTIVE_STATUSES, complete_finished, step_schedule, transition
from campaign.blasts.models import Campaign, CampaignStatus, Occurrence, OccurrenceStatus, Step
from campaign.blasts.pacing import RepaceResult, backlog_grace, repace_backlog
from campaign.blasts.planning import PlanResult, plan_occurrence
from campaign.blasts.reconcile import reconcile
from campaign.blasts.rules import rules_from
from campaign.blasts.schedules import due_occurrences
from campaign.core.config import Settings
from campaign.core.db import SQLiteFileWatch, rowcount, unit_of_work, utcnow
from campaign.core.errors import safe_reason
from campaign.hotline.media import fetch_due_media
from campaign.hotline.outcomes import reopen_due_follow_ups
from campaign.radio.airings import extend_open_ended_airings

log = logging.getLogger(__name__)


@dataclass
class Failure:
    """A firing that could not be planned (stored on its occurrence) or a step whose schedule
    could not be read (occurrence None). `reason` is safe to show and log."""

    campaign: str
    step: str
    occurrence_id: int | None
    scheduled_at: datetime | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "step": self.step,
            "occurrence_id": self.occurrence_id,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "reason": self.reason,
        }


@dataclass
class TickResult:
    """What one tick did. `failed`: firings that failed in their campaign (the tick went on);
    `retry`: occurrences left pending after a transient database error; `errors`: stages that
    failed as a whole (the stages after them still ran)."""

    now: datetime
    occurrences_created: int = 0
    occurrences_collapsed: int = 0
    plans: list[PlanResult] = field(default_factory=list)
    expired: int = 0
    repaced: RepaceResult | None = None
    airings_added: int = 0
    follow_ups: int = 0  # hotline cases reopened (or noted) for their follow-up date
    reconciled: Any = None
    dispatch: Any = None
    events: Any = None
    media: Any = None  # contacts' voice notes and images downloaded (campaign/hotline/media.py)
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(p.queued for p in self.plans)

    @property
    def skipped(self) -> int:
        return sum(sum(p.skipped.values()) for p in self.plans)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "occurrences_created": self.occurrences_created,
            "occurrences_collapsed": self.occurrences_collapsed,
            "occurrences_planned": sum(1 for p in self.plans if p.discarded is None),
            "queued": self.queued,
            "skipped": self.skipped,
            "expired": self.expired,
            "repaced": _plain(self.repaced),
            "airings_added": self.airings_added,
            "follow_ups": self.follow_ups,
            "reconciled": _plain(self.reconciled),
            "dispatch": _plain(self.dispatch),
            "events": _plain(self.events),
            "media": _plain(self.media),
            "started": self.started,
            "completed": self.completed,
            "failed": [f.as_dict() for f in self.failed],
            "retry": self.retry,
            "errors": self.errors,
        }


def _plain(value: Any) -> Any:
    """A stage's result as JSON-ready data."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class Created(NamedTuple):
    """Occurrences a tick created: `pending` (to plan) and `collapsed` (missed times recorded)."""

    pending: int
    collapsed: int


def create_due_occurrences(
    session: Session, *, now: datetime, failures: list[Failure] | None = None
) -> Created:
    """Inserts the occurrences due by `now` of SMS steps of scheduled/running campaigns. Flushes.

    At most one pending occurrence per step and tick: times missed while the scheduler was down
    are inserted as `skipped` (a record: nothing is planned for them). Idempotent: (step,
    scheduled_at) is unique and conflicts are ignored. A step whose schedule cannot be expanded
    is left out (logged, and added to `failures` when given); the others go on.
    """
    steps = session.scalars(
        select(Step)
        .join(Campaign)
        .where(
            Campaign.status.in_(ACTIVE_STATUSES), Campaign.launched_at.is_not(None),
            Step.channel.in_(MESSAGING_CHANNELS),
        )
    ).all()
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for step in steps:
        latest = session.scalar(
            select(func.max(Occurrence.scheduled_at)).where(Occurrence.step_id == step.id)
        )
        if latest is not None and latest.tzinfo is None:  # aggregates skip the column type on SQLite
            latest = latest.replace(tzinfo=now.tzinfo)
        try:
            due_list = due_occurrences(
                step_schedule(step), launched_at=step.campaign.launched_at or now, after=latest, now=now
            )
        except Exception as exc:  # noqa: BLE001 - one step's schedule must not stop the others
            reason = safe_reason(exc)
            log.warning(
                "campaign %s step %s: schedule not readable: %s", step.campaign.slug, step.key, reason
            )
            if failures is not None:
                failures.append(Failure(step.campaign.slug, step.key, None, None, reason))
            continue
        for due in due_list:
            rows.append(_occurrence_row(step, due.scheduled_at, due.fires_at, OccurrenceStatus.PENDING))
            skipped.extend(
                _occurrence_row(step, at, at, OccurrenceStatus.SKIPPED) for at in due.missed
            )
    created = Created(len(rows), len(skipped))
    rows.extend(skipped)
    if not rows:
        return created
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Occurrence.__table__).on_conflict_do_nothing(
        index_elements=["step_id", "scheduled_at"]
    )
    session.execute(statement, rows)
    session.flush()
    return created


def _occurrence_row(
    step: Step, scheduled_at: datetime, fires_at: datetime, status: OccurrenceStatus
) -> dict[str, Any]:
    return {
        "step_id": step.id,
        "campaign_id": step.campaign_id,
        "scheduled_at": scheduled_at,
        "fires_at": fires_at,
        "status": status.value,
        "step_version": step.version,
        "recipients": 0,
    }


def due_occurrence_ids(session: Session, *, now: datetime) -> list[int]:
    """Pending occurrences whose firing time has come, of scheduled/running campaigns, oldest first."""
    return list(
        session.scalars(
            select(Occurrence.id)
            .join(Step)
            .join(Campaign)
            .where(
                Occurrence.status == OccurrenceStatus.PENDING,
                Occurrence.fires_at <= now,
                Campaign.status.in_(ACTIVE_STATUSES),
            )
            .order_by(Occurrence.fires_at, Occurrence.id)
        )
    )


def _start_campaign(session: Session, occurrence_id: int, *, now: datetime) -> str | None:
    campaign = session.scalar(
        select(Campaign).join(Step).join(Occurrence).where(Occurrence.id == occurrence_id)
    )
    if campaign is not None and campaign.status == CampaignStatus.SCHEDULED:
        transition(session, campaign, CampaignStatus.RUNNING, now=now, actor="scheduler")
        return campaign.slug
    return None


def is_transient(exc: BaseException) -> bool:
    """A database error worth retrying next tick: connection lost, database busy or locked."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(word in text for word in ("database is locked", "database is busy", "deadlock detected"))


def mark_failed(session: Session, occurrence_id: int, reason: str, *, now: datetime) -> Failure | None:
    """Marks a pending (or planning) occurrence failed with `reason`; returns what failed. Flushes."""
    statement = (
        update(Occurrence)
        .where(
            Occurrence.id == occurrence_id,
            Occurrence.status.in_((OccurrenceStatus.PENDING, OccurrenceStatus.PLANNING)),
        )
        .values(status=OccurrenceStatus.FAILED, failure=reason, failed_at=now)
    )
    marked = rowcount(session.execute(statement))
    if not marked:
        return None
    row = session.execute(
        select(Campaign.slug, Step.key, Occurrence.scheduled_at)
        .join(Step, Step.campaign_id == Campaign.id)
        .join(Occurrence, Occurrence.step_id == Step.id)
        .where(Occurrence.id == occurrence_id)
    ).one()
    return Failure(row.slug, row.key, occurrence_id, row.scheduled_at, reason)


def _plan_one(
    engine: Engine, occurrence_id: int, result: TickResult, *, now: datetime, settings: Settings
) -> None:
    """Plans one occurrence in its own transaction; a failure stays with that occurrence."""
    try:
        with unit_of_work(engine) as session:
            plan = plan_occurrence(session, occurrence_id, now=now, settings=settings)
            if plan.discarded is None:
                started = _start_campaign(session, occurrence_id, now=now)
                if started:
                    result.started.append(started)
    except Exception as exc:  # noqa: BLE001 - the failure is recorded on the occurrence
        reason = safe_reason(exc)
        if is_transient(exc):
            log.warning("occurrence %s: planning postponed to the next tick: %s", occurrence_id, reason)
            result.retry.append(occurrence_id)
            return
        log.warning("occurrence %s failed to plan: %s", occurrence_id, reason)
        with unit_of_work(engine) as session:  # a fresh transaction: the failed one is gone
            failure = mark_failed(session, occurrence_id, reason, now=now)
        if failure is not None:
            result.failed.append(failure)
        return
    result.plans.append(plan)


T = TypeVar("T")


def _stage(result: TickResult, name: str, run: Callable[[], T]) -> T | None:
    """Runs one stage of the tick; an exception is logged and reported, and the tick goes on."""
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - one stage must not stop the others
        reason = safe_reason(exc)
        log.error("tick stage %s failed: %s\n%s", name, reason, _frames(exc))
        result.errors.append(f"{name}: {reason}")
        return None


def _frames(exc: BaseException) -> str:
    """Where an exception was raised (file, line, function), without its message or source
    text, either of which may carry SQL parameters or contact data."""
    frames = traceback.extract_tb(exc.__traceback__)
    return "\n".join(f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames)


def tick(engine: Engine, provider: Any, *, now: datetime, settings: Settings) -> TickResult:
    """Runs one tick (see the module docstring); each stage commits its own unit of work.

    Never raises for a failing campaign: see `TickResult.failed` and `TickResult.errors`.
    """
    result = TickResult(now=now)

    def create() -> Created:
        with unit_of_work(engine) as session:
            return create_due_occurrences(session, now=now, failures=result.failed)

    def extend() -> int:
        with unit_of_work(engine) as session:
            return extend_open_ended_airings(session, now=now)

    def follow_ups() -> int:
        with unit_of_work(engine) as session:
            return reopen_due_follow_ups(session, now=now)

    def due() -> list[int]:
        with unit_of_work(engine) as session:
            return due_occurrence_ids(session, now=now)

    created = _stage(result, "occurrences", create)
    if created is not None:
        result.occurrences_created, result.occurrences_collapsed = created
    result.airings_added = _stage(result, "airings", extend) or 0
    result.follow_ups = _stage(result, "follow_ups", follow_ups) or 0
    for occurrence_id in _stage(result, "due", due) or []:
        _stage(
            result, "planning", partial(_plan_one, engine, occurrence_id, result, now=now, settings=settings)
        )
    result.expired = _stage(result, "expire", lambda: expire_overdue(engine, now=now)) or 0

    def repace() -> RepaceResult:
        with unit_of_work(engine) as session:
            return repace_backlog(
                session, now=now, rules=rules_from(settings), grace=backlog_grace(settings.tick_seconds)
            )

    if provider is not None:  # a backlog is re-paced right before the dispatch that would burst it
        result.repaced = _stage(result, "repace", repace)
        result.reconciled = _stage(result, "reconcile", lambda: reconcile(engine, provider, now=now))
        result.dispatch = _stage(
            result, "dispatch", lambda: dispatch_due(engine, provider, now=now, settings=settings)
        )
        deliver = getattr(provider, "deliver_due_events", None)
        if deliver is not None:
            result.events = _stage(result, "events", lambda: deliver(engine, now=now, settings=settings))
        result.media = _stage(
            result, "media", lambda: fetch_due_media(engine, provider, now=now, settings=settings)
        )

    def complete() -> list[str]:
        with unit_of_work(engine) as session:
            return complete_finished(session, now=now)

    result.completed = _stage(result, "complete", complete) or []
    return result


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, _frame: Any) -> None:
        log.info("signal %s: finishing the current tick, then exiting", signum)
        self.requested = True


def run_forever(settings: Settings, *, max_ticks: int | None = None) -> int:
    """Ticks every `settings.tick_seconds` until SIGTERM/SIGINT (the running tick finishes first).

    Returns the number of ticks run. `max_ticks` bounds the loop (tests). Stops, before
    ticking, once its SQLite file was deleted or replaced (a new `make demo`): it must not go on
    sending from a database that no longer exists.
    """
    import schedule

    from campaign.core.console import engine as shared_engine
    from campaign.providers import get_provider

    opened = SQLiteFileWatch(settings.database_url)
    engine = shared_engine(settings)
    provider = get_provider(settings)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    ticks = 0

    def job() -> None:
        nonlocal ticks
        if opened.replaced():
            log.error("the database file was deleted or replaced; the scheduler stops (start it again)")
            stop.requested = True
            return
        ticks += 1
        try:
            outcome = tick(engine, provider, now=utcnow(), settings=settings)
        except Exception as exc:  # noqa: BLE001 - the loop outlives any one tick
            log.error(
                "tick failed: %s; next tick in %g s\n%s",
                safe_reason(exc),
                settings.tick_seconds,
                _frames(exc),
            )
            return
        log.info("tick: %s", outcome.as_dict())

    def purge_job() -> None:  # retention, daily (campaign/privacy/retention.py); idempotent
        from campaign.privacy.retention import purge

        try:
            with unit_of_work(engine) as session:
                removed = purge(session, now=utcnow(), settings=settings)
        except Exception as exc:  # noqa: BLE001 - the loop outlives a failed purge; tomorrow retries
            log.error("privacy purge failed: %s", safe_reason(exc))
            return
        log.info("privacy purge: %s", removed.as_dict())

    scheduler = schedule.Scheduler()
    scheduler.every(settings.tick_seconds).seconds.do(job)  # type: ignore[arg-type]  # float seconds work; schedule's hint says int
    scheduler.every(1).days.do(purge_job)
    try:
        purge_job()
        job()
        while not stop.requested and (max_ticks is None or ticks < max_ticks):
            scheduler.run_pending()
            time_module.sleep(min(0.2, settings.tick_seconds))
    finally:
        opened.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ticks
