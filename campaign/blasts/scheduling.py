"""The scheduler: one `tick(now=...)` does all due work; `run_forever` repeats it with `schedule`.

A tick: (1) creates the occurrences that fell due for scheduled/running campaigns (several times
due at once, past at launch or missed while the scheduler was down, collapse into one firing; the
missed ones are recorded as skipped occurrences) and extends open-ended radio schedules, (2) plans
each due occurrence in its own unit of work, (3) expires held messages past their deadline,
(4) reconciles messages whose send outcome is unknown (a crashed dispatcher, a timeout),
(5) dispatches due messages (campaign.dispatch), (6) lets the sandbox provider deliver its
simulated callbacks and replies, (7) completes finished campaigns. Every step is idempotent, so
re-running a tick (or two schedulers at once) plans and sends nothing twice. Time is injected:
`now` is an aware UTC datetime.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time as time_module
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaign.blasts.dispatch import dispatch_due, expire_overdue
from campaign.blasts.lifecycle import ACTIVE_STATUSES, complete_finished, step_schedule, transition
from campaign.blasts.models import Campaign, CampaignStatus, Occurrence, OccurrenceStatus, Step
from campaign.blasts.planning import PlanResult, plan_occurrence
from campaign.blasts.reconcile import reconcile
from campaign.blasts.schedules import due_occurrences
from campaign.core.config import Settings
from campaign.core.db import unit_of_work, utcnow
from campaign.radio.airings import extend_open_ended_airings

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    """What one tick did."""

    now: datetime
    occurrences_created: int = 0
    occurrences_collapsed: int = 0
    plans: list[PlanResult] = field(default_factory=list)
    expired: int = 0
    airings_added: int = 0
    reconciled: Any = None
    dispatch: Any = None
    events: Any = None
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)

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
            "airings_added": self.airings_added,
            "reconciled": _plain(self.reconciled),
            "dispatch": _plain(self.dispatch),
            "events": _plain(self.events),
            "started": self.started,
            "completed": self.completed,
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


def create_due_occurrences(session: Session, *, now: datetime) -> Created:
    """Inserts the occurrences due by `now` of SMS steps of scheduled/running campaigns. Flushes.

    At most one pending occurrence per step and tick: times missed while the scheduler was down
    are inserted as `skipped` (a record: nothing is planned for them). Idempotent: (step,
    scheduled_at) is unique and conflicts are ignored.
    """
    steps = session.scalars(
        select(Step)
        .join(Campaign)
        .where(Campaign.status.in_(ACTIVE_STATUSES), Campaign.launched_at.is_not(None), Step.channel == "sms")
    ).all()
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for step in steps:
        latest = session.scalar(
            select(func.max(Occurrence.scheduled_at)).where(Occurrence.step_id == step.id)
        )
        if latest is not None and latest.tzinfo is None:  # aggregates skip the column type on SQLite
            latest = latest.replace(tzinfo=now.tzinfo)
        for due in due_occurrences(
            step_schedule(step), launched_at=step.campaign.launched_at or now, after=latest, now=now
        ):
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


def tick(engine: Engine, provider: Any, *, now: datetime, settings: Settings) -> TickResult:
    """Runs one tick (see the module docstring); each stage commits its own unit of work."""
    result = TickResult(now=now)
    with unit_of_work(engine) as session:
        created = create_due_occurrences(session, now=now)
        result.occurrences_created, result.occurrences_collapsed = created
        result.airings_added = extend_open_ended_airings(session, now=now)
        due = due_occurrence_ids(session, now=now)
    for occurrence_id in due:
        with unit_of_work(engine) as session:
            plan = plan_occurrence(session, occurrence_id, now=now, settings=settings)
            if plan.discarded is None:
                started = _start_campaign(session, occurrence_id, now=now)
                if started:
                    result.started.append(started)
        result.plans.append(plan)
    result.expired = expire_overdue(engine, now=now)
    if provider is not None:
        result.reconciled = reconcile(engine, provider, now=now)
        result.dispatch = dispatch_due(engine, provider, now=now, settings=settings)
        deliver = getattr(provider, "deliver_due_events", None)
        if deliver is not None:
            result.events = deliver(engine, now=now, settings=settings)
    with unit_of_work(engine) as session:
        result.completed = complete_finished(session, now=now)
    return result


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, _frame: Any) -> None:
        log.info("signal %s: finishing the current tick, then exiting", signum)
        self.requested = True


def run_forever(settings: Settings, *, max_ticks: int | None = None) -> int:
    """Ticks every `settings.tick_seconds` until SIGTERM/SIGINT (the running tick finishes first).

    Returns the number of ticks run. `max_ticks` bounds the loop (tests).
    """
    import schedule

    from campaign.core.console import engine as shared_engine
    from campaign.providers import get_provider

    engine = shared_engine(settings)
    provider = get_provider(settings)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    ticks = 0

    def job() -> None:
        nonlocal ticks
        outcome = tick(engine, provider, now=utcnow(), settings=settings)
        ticks += 1
        log.info("tick: %s", outcome.as_dict())

    scheduler = schedule.Scheduler()
    scheduler.every(settings.tick_seconds).seconds.do(job)  # type: ignore[arg-type]  # float seconds work; schedule's hint says int
    try:
        job()
        while not stop.requested and (max_ticks is None or ticks < max_ticks):
            scheduler.run_pending()
            time_module.sleep(min(0.2, settings.tick_seconds))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ticks
