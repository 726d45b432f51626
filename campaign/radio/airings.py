"""Airings: planned from a campaign's radio step (RRULE x stations x languages), and the schedule listing.

One airing per (step, station, language, time): the unique constraint makes planning idempotent
(planning again, or two schedulers at once, adds nothing twice). Times are expanded in the
campaign's timezone (campaign.schedules) and stored in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.blasts.models import Campaign, Step
from campaign.blasts.schedules import Schedule, is_finite, occurrence_times
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.radio.calibration import default_variables, effective_rate
from campaign.radio.models import Airing, AiringStatus, Station
from messages.duration import estimate_seconds
from messages.library import approved_translations
from messages.models import Message, Translation
from messages.radio import script_parts
from messages.rendering import build_context

# An RRULE without COUNT or UNTIL is planned this far ahead of `now`; planning again extends it.
UNBOUNDED_HORIZON = timedelta(days=90)
SPANISH = "es"  # the source language of every spot: the version a station gets when it has none of its own


def step_stations(session: Session, step: Step) -> list[Station]:
    """The stations a radio step airs on: its list of slugs, or every station for [all] / none.

    Raises Invalid naming the step and the unknown slug.
    """
    wanted = [s for s in (step.stations or []) if s]
    query = select(Station).order_by(Station.slug)
    if not wanted or "all" in wanted:
        return list(session.scalars(query))
    found = {s.slug: s for s in session.scalars(query.where(Station.slug.in_(wanted)))}
    for slug in wanted:
        if slug not in found:
            raise Invalid(
                f"step {step.key}.stations",
                _("unknown station %(slug)r (load it with `campaign radio stations load FILE`)", slug=slug),
            )
    return [found[slug] for slug in wanted]


def step_context(step: Step, campaign: Campaign, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Variables a radio spot is rendered with: deployment defaults < campaign < step."""
    return build_context(
        defaults=default_variables() if defaults is None else defaults,
        campaign=campaign.variables,
        step=step.variables,
    )


def spot_duration(
    session: Session, translation: Translation, context: Mapping[str, Any], *, step_key: str = ""
) -> float:
    """Estimated seconds of one spot translation at the language's effective rate."""
    try:
        parts = script_parts(translation, context)
    except Invalid as exc:
        where = f"step {step_key}, {translation.language}" if step_key else translation.language
        raise Invalid(where, str(exc)) from exc
    rate = effective_rate(session, translation.language)
    return estimate_seconds(parts, syllables_per_second=rate, language=translation.language)


def airing_times(step: Step, campaign: Campaign, *, now: datetime) -> list[datetime]:
    """The UTC times of a radio step (all of them; unbounded rules up to now + 90 days)."""
    if not step.rrule and step.at is None:
        raise Invalid(f"step {step.key}.rrule", _("a radio step needs an rrule (+ starts) or an at time"))
    if step.rrule and step.starts is None:
        raise Invalid(f"step {step.key}.starts", _("an rrule needs a start date"))
    schedule = Schedule(campaign.timezone, at=step.at, rrule=step.rrule, starts=step.starts)
    until = None if is_finite(schedule) else now + UNBOUNDED_HORIZON
    return occurrence_times(schedule, until=until)


def airing_rows(session: Session, step: Step, *, now: datetime) -> list[dict[str, Any]]:
    """The Airing rows a radio step calls for (one per station x approved language x time). Reads only.

    Raises Invalid for a step that is not radio, lacks a schedule, names an unknown station, or
    whose spot does not render.
    """
    if step.channel != "radio":
        raise Invalid(f"step {step.key}.channel", _("%(channel)r is not a radio step", channel=step.channel))
    campaign = step.campaign
    times = airing_times(step, campaign, now=now)
    stations = step_stations(session, step)
    approved = {
        language: translation
        for (_, language), translation in approved_translations(session, [step.message_id]).items()
    }
    context = step_context(step, campaign)
    durations: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for station in stations:
        languages = [language for language in station.languages or [] if language in approved]
        if not languages and SPANISH in approved:
            # A station that broadcasts only in languages the spot has no approved translation in
            # still airs it, in Spanish: its pack says so ("versión en español: ...").
            languages = [SPANISH]
        for language in languages:
            translation = approved[language]
            if language not in durations:
                durations[language] = spot_duration(session, translation, context, step_key=step.key)
            rows.extend(
                {
                    "step_id": step.id,
                    "station_id": station.id,
                    "message_id": step.message_id,
                    "language": language,
                    "template_version": translation.version,
                    "scheduled_at": moment,
                    "duration_seconds": durations[language],
                    "status": AiringStatus.PLANNED.value,
                }
                for moment in times
            )
    return rows


def plan_airings(session: Session, step: Step, *, now: datetime) -> int:
    """Plans the Airing rows of one radio step; returns how many new rows were inserted.

    One airing per station (the step's list, or every station for [all]) per language the
    station broadcasts in that has an approved translation (the Spanish version for a station
    with none), at each time of the step's RRULE in the campaign timezone. Idempotent (insert ...
    on conflict do nothing on the unique key).
    Flushes. Raises as `airing_rows` does.
    """
    rows = airing_rows(session, step, now=now)
    if not rows:
        return 0
    session.flush()
    count = select(func.count()).select_from(Airing).where(Airing.step_id == step.id)
    before = session.scalar(count) or 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), 1000):
        statement = insert(Airing).on_conflict_do_nothing(
            index_elements=["step_id", "station_id", "language", "scheduled_at"]
        )
        session.execute(statement, rows[start : start + 1000])
    return (session.scalar(count) or 0) - before


def extend_open_ended_airings(session: Session, *, now: datetime) -> int:
    """Keeps open-ended radio steps (RRULE without COUNT/UNTIL) of active campaigns planned ahead.

    Finite steps are planned whole at launch; an open-ended one is planned UNBOUNDED_HORIZON
    ahead and extended here once its last planned airing is less than a third of that away, so a
    scheduler tick costs one MAX query per such step. Returns the new rows. Flushes.
    """
    steps = session.scalars(
        select(Step)
        .join(Campaign)
        .where(
            Step.channel == "radio",
            Step.rrule.is_not(None),
            Campaign.status.in_(("scheduled", "running")),
            Campaign.launched_at.is_not(None),
        )
    ).all()
    added = 0
    for step in steps:
        schedule = Schedule(step.campaign.timezone, at=step.at, rrule=step.rrule, starts=step.starts)
        if is_finite(schedule):
            continue
        last = session.scalar(select(func.max(Airing.scheduled_at)).where(Airing.step_id == step.id))
        if last is not None and last.tzinfo is None:  # MAX() drops the column type on SQLite
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or last < now + UNBOUNDED_HORIZON / 3:
            added += plan_airings(session, step, now=now)
    return added


def plan_campaign_airings(session: Session, campaign_slug: str, *, now: datetime) -> int:
    """`plan_airings` for every radio step of a campaign; returns new rows in all."""
    campaign = get_campaign(session, campaign_slug)
    return sum(plan_airings(session, step, now=now) for step in campaign.steps if step.channel == "radio")


@dataclass(frozen=True)
class ScheduleRow:
    """One line of a station's airing schedule, in the campaign's local time."""

    airing_id: int
    station: str
    station_name: str
    frequency: str | None
    local_time: datetime
    spot: str
    language: str
    duration_seconds: float | None
    status: str
    notes: str | None
    step: str
    title: str | None = None  # the spot's title, for people (exports); `spot` is its slug
    aired_at: datetime | None = None  # when the producer's log says it aired, local time

    def as_dict(self) -> dict[str, Any]:
        return {
            "station": self.station,
            "station_name": self.station_name,
            "frequency": self.frequency,
            "date": self.local_time.date().isoformat(),
            "time": self.local_time.strftime("%H:%M"),
            "local_time": self.local_time.isoformat(),
            "spot": self.spot,
            "language": self.language,
            "duration_seconds": self.duration_seconds,
            "status": self.status,
            "notes": self.notes,
            "step": self.step,
            "title": self.title,
            "aired_time": None if self.aired_at is None else self.aired_at.strftime("%H:%M"),
        }


def schedule_rows(
    session: Session,
    campaign_slug: str,
    *,
    station: str | None = None,
    language: str | None = None,
) -> list[ScheduleRow]:
    """The planned airings of a campaign (optionally one station / language), by station and time.

    A planned airing's duration is estimated now, at the language's current rate (so a
    calibration shows at once); an aired or missed one keeps the estimate it was planned with.
    Raises NotFound for an unknown campaign.
    """
    campaign = get_campaign(session, campaign_slug)
    zone = ZoneInfo(campaign.timezone)
    current = _current_durations(session, campaign)
    query = (
        select(Airing, Station, Message.slug, Message.title, Step.key)
        .join(Station, Station.id == Airing.station_id)
        .join(Message, Message.id == Airing.message_id)
        .join(Step, Step.id == Airing.step_id)
        .where(Step.campaign_id == campaign.id)
        .order_by(Station.slug, Airing.scheduled_at, Airing.language, Message.slug)
    )
    if station:
        query = query.where(Station.slug == station)
    if language:
        query = query.where(Airing.language == language)
    return [
        ScheduleRow(
            airing_id=airing.id,
            station=st.slug,
            station_name=st.name,
            frequency=st.frequency,
            local_time=airing.scheduled_at.astimezone(zone),
            spot=slug,
            language=airing.language,
            duration_seconds=current.get((airing.step_id, airing.language), airing.duration_seconds)
            if airing.status == AiringStatus.PLANNED
            else airing.duration_seconds,
            status=str(airing.status),
            notes=airing.notes,
            step=key,
            title=title,
            aired_at=None if airing.aired_at is None else airing.aired_at.astimezone(zone),
        )
        for airing, st, slug, title, key in session.execute(query)
    ]


def _current_durations(session: Session, campaign: Campaign) -> dict[tuple[int, str], float]:
    """(step id, language) -> the spot's estimated seconds now (approved translation, current rate)."""
    out: dict[tuple[int, str], float] = {}
    for step in campaign.steps:
        if step.channel != "radio":
            continue
        context = step_context(step, campaign)
        for (_message_id, language), translation in approved_translations(session, [step.message_id]).items():
            try:
                out[(step.id, language)] = spot_duration(session, translation, context, step_key=step.key)
            except Invalid:
                continue  # a spot that no longer renders keeps its planned estimate
    return out


def status_counts(rows: list[ScheduleRow]) -> dict[str, int]:
    """Planned / aired / missed totals of a schedule (planned vs aired for managers)."""
    counts = {status.value: 0 for status in AiringStatus}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
