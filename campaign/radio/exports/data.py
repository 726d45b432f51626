"""What every radio export shows, gathered once: the campaign's spot scripts and station schedules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import default_registry
from campaign.radio.airings import ScheduleRow, schedule_rows, spot_duration, step_context
from campaign.radio.models import Station
from campaign.radio.stations import get_station, station_dict
from messages.library import approved_translations
from messages.models import Message
from messages.radio import ScriptPart, script_parts


@dataclass(frozen=True)
class SpotScript:
    """One spot in one language, rendered, with what the page header shows."""

    spot: str
    title: str | None
    language: str
    language_name: str
    slot_seconds: int | None
    estimate_seconds: float
    version: int
    pronunciation: str | None
    parts: list[ScriptPart]
    approved_in: tuple[str, ...] = ()  # every language the spot has an approved translation in
    note: str | None = None  # what a station's producer must know about this page

    @property
    def spoken_lines(self) -> list[str]:
        return [p.text for p in self.parts if not p.is_cue]


@dataclass(frozen=True)
class StationSchedule:
    """A station (as plain data) and its airings in this export, in local time."""

    station: dict[str, object]
    rows: list[ScheduleRow]


@dataclass(frozen=True)
class RadioExport:
    """Everything an export file is written from."""

    campaign_slug: str
    campaign_name: str
    timezone: str
    spots: list[SpotScript]
    stations: list[StationSchedule]
    airings: list[ScheduleRow] = field(default_factory=list)

    def file_stem(self, station: str | None = None, language: str | None = None) -> str:
        return "-".join(x for x in (self.campaign_slug, "radio", station, language) if x)


def build_export(
    session: Session,
    campaign_slug: str,
    *,
    station: str | None = None,
    language: str | None = None,
) -> RadioExport:
    """Gathers the spots (approved translations of the campaign's radio steps) and the airing
    schedule, optionally for one station (its languages only) and/or one language.

    Raises NotFound for an unknown campaign or station, Invalid when nothing is left to export.
    """
    campaign = get_campaign(session, campaign_slug)
    steps = [s for s in campaign.steps if s.channel == "radio"]
    if not steps:
        raise Invalid("campaign", _("%(campaign)r has no radio steps", campaign=campaign_slug))
    registry = default_registry()
    if language:
        registry.get(language)
    only = get_station(session, station) if station else None
    wanted_languages = set(only.languages or []) if only else None
    if language:
        wanted_languages = {language} & wanted_languages if wanted_languages is not None else {language}
    approved = approved_translations(session, [s.message_id for s in steps])
    message_ids = [s.message_id for s in steps]
    messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(message_ids)))}
    ordered = sorted(approved.items(), key=lambda item: _language_order(item[0][1]))
    spots: list[SpotScript] = []
    seen: set[tuple[int, str]] = set()
    for step in steps:
        context = step_context(step, campaign)
        message = messages[step.message_id]
        for (message_id, code), translation in ordered:
            if message_id != step.message_id or (message_id, code) in seen:
                continue
            if wanted_languages is not None and code not in wanted_languages:
                continue
            seen.add((message_id, code))
            spots.append(
                SpotScript(
                    spot=message.slug,
                    title=message.title,
                    language=code,
                    language_name=registry.get(code).native_name if code in registry else code,
                    slot_seconds=message.slot_seconds,
                    estimate_seconds=spot_duration(session, translation, context, step_key=step.key),
                    version=translation.version,
                    pronunciation=translation.pronunciation,
                    parts=script_parts(translation, context),
                    approved_in=tuple(sorted(lang for (mid, lang) in approved if mid == message_id)),
                )
            )
    if not spots:
        if language and station:
            reason = _(
                "no approved radio spot in %(language)s for station %(station)s in campaign %(campaign)r",
                language=language, station=station, campaign=campaign_slug,
            )
        elif language:
            reason = _("no approved radio spot in %(language)s in campaign %(campaign)r",
                       language=language, campaign=campaign_slug)
        elif station:
            reason = _("no approved radio spot for station %(station)s in campaign %(campaign)r",
                       station=station, campaign=campaign_slug)
        else:
            reason = _("no approved radio spot in campaign %(campaign)r", campaign=campaign_slug)
        raise Invalid("export", reason)
    airings = schedule_rows(session, campaign_slug, station=station, language=language)
    if only is not None:
        stations = [only]
    else:
        slugs = sorted({row.station for row in airings})
        query = select(Station).where(Station.slug.in_(slugs)).order_by(Station.slug)
        stations = list(session.scalars(query))
    schedules = [
        StationSchedule(station_dict(s), [row for row in airings if row.station == s.slug]) for s in stations
    ]
    return RadioExport(
        campaign_slug=campaign.slug,
        campaign_name=campaign.name,
        timezone=campaign.timezone,
        spots=spots,
        stations=schedules,
        airings=airings,
    )


def station_packs(export: RadioExport) -> list[tuple[str, RadioExport]]:
    """One export per station (stations in alphabetical order of name): the spots in its
    languages, then its schedule. A Spanish spot on a station that broadcasts in a language the
    spot has no approved translation in says so on its page. Without stations (nothing planned
    yet), the whole export as one pack."""
    if not export.stations:
        return [("", export)]
    registry = default_registry()
    packs = []
    for schedule in sorted(
        export.stations, key=lambda s: (str(s.station["name"]).casefold(), str(s.station["slug"]))
    ):
        value = schedule.station.get("languages")
        languages = [str(code) for code in value] if isinstance(value, list | tuple) else []
        aired = {row.language for row in schedule.rows}  # Spanish on a station without it, too
        spots = []
        for spot in export.spots:
            if spot.language not in languages and spot.language not in aired:
                continue
            lacking = [code for code in languages if code != "es" and code not in spot.approved_in]
            if spot.language == "es" and lacking:
                names = [registry.get(code).native_name if code in registry else code for code in lacking]
                spot = replace(spot, note=spanish_version_note(names))
            spots.append(spot)
        packs.append(
            (
                str(schedule.station["slug"]),
                replace(export, spots=spots, stations=[schedule], airings=schedule.rows),
            )
        )
    return packs


def spanish_version_note(languages: list[str]) -> str:
    """The page note for a Spanish spot on a station that also broadcasts in `languages`."""
    return f"versión en español: no hay traducción aprobada en {' ni en '.join(languages)}"


def _language_order(code: str) -> tuple[int, str]:
    return (0 if code == "es" else 1, code)


def format_seconds(seconds: float | None) -> str:
    """`27.5` -> `27.5 s`; None -> `-`."""
    return "-" if seconds is None else f"{seconds:.1f} s"


def part_label(part: ScriptPart) -> str:
    """Left-column label: the speaker, or the cue with its length (`PAUSA 1 s`)."""
    if part.is_cue:
        return f"{part.label} ({part.seconds:g} s)"
    return part.label


def header_fields(export: RadioExport, spot: SpotScript) -> list[tuple[str, str]]:
    """The header of a spot page, in the order every format prints it."""
    return [
        ("Campaña", export.campaign_name),
        ("Spot", spot.title or spot.spot),
        ("Idioma", spot.language_name),
        ("Duración del espacio", f"{spot.slot_seconds} s" if spot.slot_seconds else "-"),
        ("Lectura estimada", format_seconds(spot.estimate_seconds)),
        ("Versión", str(spot.version)),
    ]


WEEKDAYS_ES = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")
STATUS_ES = {"planned": "planificado", "aired": "emitido", "missed": "no emitido"}


def local_day(moment: datetime) -> str:
    """`lun 2027-01-11`: weekday in Spanish (producers read the schedule in Spanish)."""
    return f"{WEEKDAYS_ES[moment.weekday()]} {moment.date().isoformat()}"


def language_name(code: str) -> str:
    """A language as producers write it (`Español`, `Mam`), from its code."""
    registry = default_registry()
    return registry.get(code).native_name if code in registry else code


def status_label(status: str) -> str:
    """The Spanish word for an airing status on printed schedules."""
    return STATUS_ES.get(status, status)
