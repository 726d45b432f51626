"""Occurrence times of a step's schedule (one-off, RRULE recurrence, offset from a contact date).

Pure: no session, no clock. Times are written in the campaign's timezone and returned as aware
UTC. Recurrences expand in local wall time (dateutil.rrule over naive local datetimes) and each
local time is then placed in the zone, so "every Monday 10:00" stays 10:00 local across DST.

An occurrence whose time has already passed when the campaign is launched is not lost: all the
past times collapse into ONE firing at launch (`fires_at` = launch time), and the preview says so.
Likewise, times missed while the scheduler was down collapse into one firing (the latest time): a
daily step after a four-day outage sends once, not four identical messages. An open-ended rule is
only ever enumerated a bounded horizon ahead (`HORIZON`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from campaign.blasts.windows import parse_hhmm, zone
from campaign.core.errors import Invalid
from campaign.core.i18n import _

MAX_EXPANSION = 10_000  # occurrences enumerated at most for one step (guards unbounded rules)
HORIZON = timedelta(days=90)  # how far ahead an open-ended rule is enumerated (previews, radio)


@dataclass(frozen=True)
class Schedule:
    """A step's schedule as plain values: exactly one of `at`, `rrule` (+ `starts`), `offset`.

    `at` and `starts` are aware UTC; `offset` is {"field": str, "days": int, "time": "HH:MM"}.
    """

    timezone: str
    at: datetime | None = None
    rrule: str | None = None
    starts: datetime | None = None
    offset: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        if self.at is not None:
            return "at"
        if self.rrule:
            return "rrule"
        return "offset"


@dataclass(frozen=True)
class DueOccurrence:
    """A firing to create: `scheduled_at` (the schedule's own time) and `fires_at` (when it goes).

    `missed` are earlier scheduled times that collapsed into this firing (recorded, not sent)."""

    scheduled_at: datetime
    fires_at: datetime
    missed: tuple[datetime, ...] = ()


def parse_local_datetime(value: Any, tz: str, field: str) -> datetime:
    """`"2027-01-11 10:00"` (or a date / datetime) in timezone `tz` -> aware UTC.

    A value with its own UTC offset keeps it. Raises Invalid naming `field`.
    """
    zone_info = zone(tz)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0, 0))
    else:
        text = str(value).strip().replace("T", " ")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(
                field, _("%(value)r is not a date-time like 2027-01-11 10:00", value=value)
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone_info)
    return parsed.astimezone(UTC)


def validate_rrule(rule: str, field: str = "rrule") -> str:
    """Checks an RFC 5545 RRULE (without DTSTART); raises Invalid naming `field` with the reason."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if "DTSTART" in text.upper():
        raise Invalid(field, _("give the start as `starts:`, not DTSTART inside the rule"))
    try:
        rrulestr(text, dtstart=datetime(2027, 1, 1))
    except (ValueError, TypeError) as exc:
        raise Invalid(field, _("not a valid RRULE: %(reason)s", reason=exc)) from None
    return text


def _rrule_local_times(rule: str, starts_utc: datetime, zone_info: ZoneInfo) -> Iterator[datetime]:
    local_start = starts_utc.astimezone(zone_info).replace(tzinfo=None)
    yield from rrulestr(rule, dtstart=local_start)


def _to_utc(local_naive: datetime, zone_info: ZoneInfo) -> datetime:
    return local_naive.replace(tzinfo=zone_info).astimezone(UTC)


def occurrence_times(
    schedule: Schedule, *, until: datetime | None = None, limit: int = MAX_EXPANSION
) -> list[datetime]:
    """Every scheduled time (aware UTC, ascending) up to `until` inclusive (None: all, bounded by
    `limit`). Offset schedules fire daily at their local time from `starts` (launch) on."""
    zone_info = zone(schedule.timezone)
    if schedule.kind == "at":
        assert schedule.at is not None
        return [schedule.at] if until is None or schedule.at <= until else []
    out: list[datetime] = []
    if schedule.kind == "rrule":
        assert schedule.rrule and schedule.starts is not None
        source: Iterator[datetime] = (
            _to_utc(t, zone_info) for t in _rrule_local_times(schedule.rrule, schedule.starts, zone_info)
        )
    else:
        if until is None or schedule.starts is None:
            return []
        source = _daily_offset_times(schedule, zone_info)
    for moment in islice(source, limit):
        if until is not None and moment > until:
            break
        out.append(moment)
    return out


def _daily_offset_times(schedule: Schedule, zone_info: ZoneInfo) -> Iterator[datetime]:
    assert schedule.starts is not None and schedule.offset is not None
    at = parse_hhmm(schedule.offset.get("time", "09:00"), "offset.time")
    day = schedule.starts.astimezone(zone_info).date()
    while True:
        yield datetime.combine(day, at, tzinfo=zone_info).astimezone(UTC)
        day += timedelta(days=1)


def is_finite(schedule: Schedule) -> bool:
    """True when the schedule ends (one-off, or an RRULE with COUNT or UNTIL)."""
    if schedule.kind == "at":
        return True
    if schedule.kind == "offset":
        return False
    upper = (schedule.rrule or "").upper()
    return "COUNT=" in upper or "UNTIL=" in upper


def total_occurrences(schedule: Schedule) -> int | None:
    """How many times the schedule fires in all (None when it never ends)."""
    if not is_finite(schedule):
        return None
    return len(occurrence_times(schedule))


def due_occurrences(
    schedule: Schedule,
    *,
    launched_at: datetime,
    after: datetime | None,
    now: datetime,
) -> list[DueOccurrence]:
    """The firing to create now for the scheduled times in (`after`, `now`]: at most one.

    Several times due at once (past at launch, or missed while the scheduler was down) collapse
    into ONE firing: the latest time, fired at its own time, or at `launched_at` when even that one
    was before the launch. The others since the launch are returned as `missed` (times before
    the launch were never meant to fire). `after` is the newest scheduled time already created
    for the step (None when none yet).
    """
    if schedule.kind == "offset":
        schedule = Schedule(schedule.timezone, offset=schedule.offset, starts=launched_at)
    times = [t for t in occurrence_times(schedule, until=now) if after is None or t > after]
    if not times:
        return []
    latest = times[-1]
    missed = tuple(t for t in times[:-1] if t >= launched_at)
    return [DueOccurrence(latest, max(latest, launched_at), missed=missed)]


def past_at_launch(schedule: Schedule, *, launched_at: datetime) -> int:
    """How many scheduled times are already past at `launched_at` (they fire once, at launch)."""
    if schedule.kind == "offset":
        return 0
    return len(occurrence_times(schedule, until=launched_at - timedelta(microseconds=1)))


def next_times(schedule: Schedule, *, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` scheduled times strictly after `after` (for previews); an open-ended rule
    is looked at no further than `HORIZON` ahead."""
    if schedule.kind == "offset":
        schedule = Schedule(schedule.timezone, offset=schedule.offset, starts=after)
        return occurrence_times(schedule, until=after + timedelta(days=count + 1))[:count]
    out: list[datetime] = []
    until = None if is_finite(schedule) else after + HORIZON
    for moment in occurrence_times(schedule, until=until):
        if moment > after:
            out.append(moment)
            if len(out) == count:
                break
    return out


def offset_target_date(fire_local_day: date, days: int) -> date:
    """The contact date an offset firing on `fire_local_day` is for (N days after that date)."""
    return fire_local_day - timedelta(days=days)
