"""Send-time slots for blasts: the campaign's pace, the deployment's hourly cap, a backlog resumed at pace.

Planning asks a `Slotter` for each queued row's send time: successive times apart by the
campaign's `max_per_hour` (never faster than the deployment's `blast_max_per_hour`; a campaign
without a pace gets the earliest room), inside the
send window, skipping the parts of the hour (buckets of a `Grid`, at most a minute long) that
already hold their share of the deployment's cap of blast messages across all active campaigns
(queued there, or sent or in flight in the current one). The hotline's capacity is global, so the
cap is too; spread over the hour, it reaches the hotline as an even stream.

`repace_backlog` (each tick, before dispatch) gives rows that fell behind their slot (the
scheduler or the dispatcher was down, or the campaign was paused) new slots from now on, at the
same pace and under the same cap: an outage never ends in a burst.

`Grid` and `Slotter` are pure; `load_by_bucket`, `late_campaigns` and `repace_backlog` read and
write through the session they are given (flush, never commit). Instants are aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from audiences.models import Contact
from campaign.blasts.models import Campaign, CampaignStatus, Outbound, OutboundStatus
from campaign.blasts.rules import DeploymentRules, clamp_window
from campaign.blasts.windows import PacedSlots, Weekend, contact_timezone, next_allowed
from campaign.core.crypto import decrypt, sealed
from campaign.core.db import is_postgres

HOUR = 3600
ACTIVE = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
IN_FLIGHT = (OutboundStatus.SENDING, OutboundStatus.UNKNOWN)
SENT_STATUSES = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED)
REPACE_CHUNK = 10_000
_REPACE_LOCK = 0x70616365  # PostgreSQL advisory lock: one scheduler re-paces at a time
_DIVISORS_OF_AN_HOUR = [n for n in range(1, 61) if HOUR % n == 0]


@dataclass(frozen=True)
class Grid:
    """The hourly cap spread over the hour: `per_hour` messages in `n` buckets (at most 60, each a
    whole number of seconds, aligned to the clock hour). Bucket capacities add up to exactly
    `per_hour` in every clock hour, and no rolling hour holds more than `per_hour` plus one
    bucket's capacity: the hotline gets an even stream, not a burst at the top of the hour."""

    per_hour: int
    n: int

    @classmethod
    def for_cap(cls, per_hour: int) -> Grid:
        return cls(per_hour, max(d for d in _DIVISORS_OF_AN_HOUR if d <= min(60, per_hour)))

    @property
    def seconds(self) -> int:
        return HOUR // self.n

    def bucket(self, instant: datetime) -> int:
        """The bucket of an instant, counted from the epoch."""
        return int(instant.timestamp()) // self.seconds

    def start(self, bucket: int) -> datetime:
        return datetime.fromtimestamp(bucket * self.seconds, tz=UTC)

    def capacity(self, bucket: int) -> int:
        j = bucket % self.n
        return (j + 1) * self.per_hour // self.n - j * self.per_hour // self.n


class Slotter:
    """Successive send times for one campaign: paced, inside the window, under the hourly cap.

    `load` (bucket of `grid` -> blast messages already there, all campaigns) is updated as slots
    are handed out, so one Slotter per planning run keeps the cap across everything it plans.
    """

    def __init__(
        self,
        start_utc: datetime,
        *,
        per_hour: int | None,
        grid: Grid,
        load: dict[int, int],
        tz: str,
        start: time,
        end: time,
        weekend: Weekend = None,
    ) -> None:
        # A campaign without a pace of its own sends as fast as the buckets allow (at most a
        # minute's share of the hourly cap at a time), like the small blast it usually is.
        pace = min(per_hour, grid.per_hour) if per_hour else None
        self._window: dict[str, Any] = dict(start=start, end=end, weekend=weekend)
        self._tz = tz
        self._slots = PacedSlots(start_utc, per_hour=pace, tz=tz, **self._window)
        self._grid = grid
        self._load = load
        self._bucket = -1
        self._room = 0
        self._begins = self._ends = start_utc

    def _enter(self, slot: datetime) -> None:
        self._bucket = self._grid.bucket(slot)
        self._begins = self._grid.start(self._bucket)
        self._ends = self._grid.start(self._bucket + 1)
        self._load.setdefault(self._bucket, 0)
        self._room = self._grid.capacity(self._bucket) - self._load[self._bucket]

    def next(self, tz: str | None = None) -> datetime:
        """The next send time; `tz` is the contact's timezone when it differs from the campaign's."""
        slot = self._slots.next()
        if tz is not None and tz != self._tz:
            return self._place_elsewhere(next_allowed(slot, tz=tz, **self._window), tz)
        if self._room > 0 and slot < self._ends and slot >= self._begins:  # the hot path
            self._room -= 1
            self._load[self._bucket] += 1
            return slot
        while True:
            if not self._begins <= slot < self._ends:
                self._enter(slot)
            if self._room > 0:
                break
            self._slots.skip_to(self._ends)
            slot = self._slots.next()
        self._room -= 1
        self._load[self._bucket] = self._load.get(self._bucket, 0) + 1
        return slot

    def _place_elsewhere(self, slot: datetime, tz: str) -> datetime:
        """A contact in another timezone: its own window, then the first bucket with room."""
        grid = self._grid
        while self._load.get(grid.bucket(slot), 0) >= grid.capacity(grid.bucket(slot)):
            slot = next_allowed(grid.start(grid.bucket(slot) + 1), tz=tz, **self._window)
        bucket = grid.bucket(slot)
        self._load[bucket] = self._load.get(bucket, 0) + 1
        if bucket == self._bucket:
            self._room -= 1
        return slot


# --- the load already placed ------------------------------------------------------------------


def _bucket_key(session: Session, column: Any, seconds: int) -> Any:
    if is_postgres(session):
        return func.floor(func.extract("epoch", column) / seconds)
    return func.cast(func.strftime("%s", column), Integer) / seconds


def load_by_bucket(
    session: Session, *, now: datetime, grid: Grid, exclude_campaigns: tuple[int, ...] = ()
) -> dict[int, int]:
    """Blast messages per bucket of `grid` from the current one on, across active campaigns: queued
    (an overdue row counts in the current bucket; rows of `exclude_campaigns`, about to be placed
    again, do not count), and sent or in flight since the current bucket began (all of them)."""
    current = grid.bucket(now)
    since = grid.start(current)
    active = select(Campaign.id).where(Campaign.status.in_(ACTIVE))
    placing = active.where(Campaign.id.not_in(exclude_campaigns)) if exclude_campaigns else active
    key = _bucket_key(session, Outbound.send_after, grid.seconds)
    queued = (
        select(key, func.count())
        .where(
            Outbound.status == OutboundStatus.QUEUED,
            Outbound.priority == 0,
            Outbound.occurrence_id.is_not(None),
            Outbound.campaign_id.in_(placing),
        )
        .group_by(key)
    )
    load: dict[int, int] = {}
    for bucket, n in session.execute(queued):
        at = max(int(bucket), current)
        load[at] = load.get(at, 0) + int(n)
    gone = select(func.count()).where(
        Outbound.occurrence_id.is_not(None),
        Outbound.campaign_id.in_(active),
        (Outbound.status.in_(SENT_STATUSES) & (Outbound.sent_at >= since))
        | (Outbound.status.in_(IN_FLIGHT) & (Outbound.claimed_at >= since)),
    )
    load[current] = load.get(current, 0) + int(session.scalar(gone) or 0)
    return load


# --- resuming a backlog at pace ---------------------------------------------------------------


def backlog_grace(tick_seconds: float) -> timedelta:
    """How far behind its send time a queued row may be before its campaign is re-paced: a few
    ticks (a row due since the last tick is on time, not a backlog), at least a minute."""
    return timedelta(seconds=max(60.0, 3 * tick_seconds))


def late_campaigns(session: Session, *, now: datetime, grace: timedelta) -> list[int]:
    """Active campaigns with queued blast rows more than `grace` behind their send time."""
    return list(
        session.scalars(
            select(Outbound.campaign_id)
            .where(
                Outbound.status == OutboundStatus.QUEUED,
                Outbound.priority == 0,
                Outbound.send_after < now - grace,
                Outbound.occurrence_id.is_not(None),
                Outbound.campaign_id.in_(select(Campaign.id).where(Campaign.status.in_(ACTIVE))),
            )
            .group_by(Outbound.campaign_id)
            .order_by(Outbound.campaign_id)
        )
    )


@dataclass
class RepaceResult:
    """What `repace_backlog` did: campaigns whose queue was behind, rows given new send times."""

    campaigns: int = 0
    rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"campaigns": self.campaigns, "rows": self.rows}


def repace_backlog(
    session: Session, *, now: datetime, rules: DeploymentRules, grace: timedelta
) -> RepaceResult:
    """New send times, from `now` on, for the queued rows of every campaign that fell behind.

    Each such campaign's queued blast rows keep their order and are spread again at its pace,
    inside its window and under the hourly cap (other campaigns' rows keep their slots and count
    in the cap). Rows claimed meanwhile by a dispatcher are left alone. Flushes.
    """
    result = RepaceResult()
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REPACE_LOCK})
    late = late_campaigns(session, now=now, grace=grace)
    if not late:
        return result
    grid = Grid.for_cap(rules.blast_max_per_hour)
    load = load_by_bucket(session, now=now, grid=grid, exclude_campaigns=tuple(late))
    for campaign_id in late:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        result.campaigns += 1
        result.rows += _repace_campaign(session, campaign, now=now, rules=rules, grid=grid, load=load)
    session.flush()
    return result


def _repace_campaign(
    session: Session,
    campaign: Campaign,
    *,
    now: datetime,
    rules: DeploymentRules,
    grid: Grid,
    load: dict[int, int],
) -> int:
    start, end, weekend = clamp_window(
        campaign.window_start, campaign.window_end, campaign.weekend_window, rules
    )
    slotter = Slotter(
        _resume_at(session, campaign, now=now, cap=rules.blast_max_per_hour),
        per_hour=campaign.max_per_hour,
        grid=grid,
        load=load,
        tz=campaign.timezone,
        start=start,
        end=end,
        weekend=weekend or None,
    )
    cache: dict[str, str] = {}
    table = Outbound.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.status == OutboundStatus.QUEUED.value)
        .values(send_after=bindparam("new_send_after"))
    )
    # Read the whole queue in its current order first: writing new send times while paging by
    # send time would meet the moved rows again.
    rows = [row for chunk in _queued_rows(session, campaign.id) for row in chunk]
    moved = 0
    for begin in range(0, len(rows), REPACE_CHUNK):
        params = []
        for row in rows[begin : begin + REPACE_CHUNK]:
            tz = row.timezone or phone_zone(decrypt(row.phone), campaign.timezone, cache)
            slot = slotter.next(tz)
            if slot != row.send_after:
                params.append({"row_id": row.id, "new_send_after": slot})
        if params:
            session.execute(statement, params)
            moved += len(params)
    return moved


def _queued_rows(session: Session, campaign_id: int) -> Iterator[list[Any]]:
    """The campaign's queued blast rows in send order, in keyset chunks."""
    last: tuple[datetime, int] | None = None
    while True:
        query = (
            select(Outbound.id, Outbound.send_after, sealed(Contact.phone), Contact.timezone)
            .join(Contact, Contact.id == Outbound.contact_id)
            .where(
                Outbound.campaign_id == campaign_id,
                Outbound.status == OutboundStatus.QUEUED,
                Outbound.priority == 0,
                Outbound.occurrence_id.is_not(None),
            )
            .order_by(Outbound.send_after, Outbound.id)
            .limit(REPACE_CHUNK)
        )
        if last is not None:
            query = query.where(
                (Outbound.send_after > last[0]) | ((Outbound.send_after == last[0]) & (Outbound.id > last[1]))
            )
        rows = session.execute(query).all()
        if not rows:
            return
        last = (rows[-1].send_after, rows[-1].id)
        yield list(rows)


def _resume_at(session: Session, campaign: Campaign, *, now: datetime, cap: int) -> datetime:
    """Now, or one pace interval after the campaign's last message if that is later."""
    if not campaign.max_per_hour:
        return now
    pace = min(campaign.max_per_hour, cap)
    last = session.scalar(
        select(Outbound.claimed_at)
        .where(Outbound.campaign_id == campaign.id, Outbound.claimed_at.is_not(None))
        .order_by(Outbound.claimed_at.desc())
        .limit(1)
    )
    if last is None:
        return now
    return max(now, last + timedelta(seconds=HOUR / pace))


def phone_zone(phone: str, campaign_tz: str, cache: dict[str, str]) -> str:
    """The timezone of a phone number (cached by prefix: +502 is one zone, US area codes differ)."""
    prefix = phone[:8]
    found = cache.get(prefix)
    if found is None:
        found = cache[prefix] = contact_timezone(None, phone, campaign_tz)
    return found
