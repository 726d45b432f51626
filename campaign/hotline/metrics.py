"""Hotline figures for the dashboard: cases by outcome, and time to first answer per priority, per week.

Weeks start on Monday in the deployment's timezone (`zone`). A case counts in the week it was
opened (time to first answer) or resolved (outcome). Time to first answer is from the case's
opening to the first reply written by staff (automatic replies do not count); cases not answered
yet are counted apart, never as zero. Percentiles use the nearest-rank method (p90 of 10 values is
the 9th smallest), which always names a real case's time. `now` is aware UTC.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.hotline.models import Case, CaseStatus

PRIORITY_ORDER = ("urgent", "high", "normal")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def week_of(at: datetime, zone: ZoneInfo) -> date:
    """The Monday (local date) of the week `at` falls in."""
    local = at.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


@dataclass(frozen=True)
class AnswerTimes:
    """One week x priority: cases opened, answered, and minutes to first answer."""

    week: date
    priority: str
    opened: int
    answered: int
    median_minutes: float | None
    p90_minutes: float | None


@dataclass(frozen=True)
class OutcomeCount:
    """One week x outcome (x referral target, when referred): how many cases were resolved so."""

    week: date
    outcome: str
    referred_to: str | None
    cases: int


def _first_week(now: datetime, zone: ZoneInfo, weeks: int) -> tuple[date, datetime]:
    first = week_of(now, zone) - timedelta(weeks=weeks - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    return first, start


def answer_times(session: Session, *, now: datetime, zone: ZoneInfo, weeks: int = 8) -> list[AnswerTimes]:
    """Per week (newest first) and priority (urgent, high, normal, then any other): cases opened,
    how many were answered by staff, and the median and p90 minutes to the first answer."""
    _, start = _first_week(now, zone, weeks)
    rows = session.execute(
        select(Case.opened_at, Case.priority, Case.first_answer_at).where(Case.opened_at >= start)
    )
    opened: dict[tuple[date, str], int] = defaultdict(int)
    minutes: dict[tuple[date, str], list[float]] = defaultdict(list)
    for opened_at, priority, first_answer_at in rows:
        key = (week_of(opened_at, zone), str(priority))
        opened[key] += 1
        if first_answer_at is not None:
            minutes[key].append(max(0.0, (first_answer_at - opened_at).total_seconds() / 60))
    order = {p: i for i, p in enumerate(PRIORITY_ORDER)}
    keys = sorted(opened, key=lambda k: (-k[0].toordinal(), order.get(k[1], len(order)), k[1]))
    return [
        AnswerTimes(
            week, priority, opened[(week, priority)], len(minutes[(week, priority)]),
            percentile(minutes[(week, priority)], 50), percentile(minutes[(week, priority)], 90),
        )
        for week, priority in keys
    ]


def outcomes(session: Session, *, now: datetime, zone: ZoneInfo, weeks: int = 8) -> list[OutcomeCount]:
    """Per week (newest first): resolved cases by outcome and referral target, most frequent first."""
    _, start = _first_week(now, zone, weeks)
    rows = session.execute(
        select(Case.resolved_at, Case.outcome, Case.referred_to).where(
            Case.status == CaseStatus.RESOLVED, Case.resolved_at >= start, Case.outcome.is_not(None)
        )
    )
    counts: dict[tuple[date, str, str | None], int] = defaultdict(int)
    for resolved_at, outcome, referred_to in rows:
        if resolved_at is None:  # resolved cases always have it; the column allows NULL for open ones
            continue
        counts[(week_of(resolved_at, zone), str(outcome), str(referred_to) if referred_to else None)] += 1
    keys = sorted(counts, key=lambda k: (-k[0].toordinal(), -counts[k], k[1], k[2] or ""))
    return [OutcomeCount(week, outcome, where, counts[(week, outcome, where)])
            for week, outcome, where in keys]
