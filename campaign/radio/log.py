"""The producers' airing log: a CSV of what actually aired (date, time, spot, aired yes/no, notes).

Headers may be written in English or in Spanish, as producers keep them (fecha, hora, spot or
cuña, salió, notas, idioma; accents and case do not matter). Each row is matched to the planned
airing of that spot on that station nearest to its local date and time (the campaign's
timezone), within a tolerance (CAMPAIGN_RADIO_LOG_TOLERANCE_MINUTES, default 30 either way: a
spot logged at 18:35 is the 18:30 slot), and marks it aired or missed. The file is validated
whole first: a bad row changes nothing and the error names the row and column.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.blasts.models import Campaign, Step
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _
from campaign.radio.models import Airing, AiringStatus
from campaign.radio.stations import get_station
from messages.models import Message

REQUIRED = ("date", "time", "spot", "aired")
OPTIONAL = ("notes", "language")
# Spanish (and other everyday) names of the columns, folded (lower case, no accents).
HEADER_ALIASES = {
    "fecha": "date", "dia": "date", "hora": "time", "cuna": "spot", "anuncio": "spot",
    "salio": "aired", "al aire": "aired", "emitido": "aired", "transmitido": "aired",
    "notas": "notes", "nota": "notes", "observaciones": "notes", "idioma": "language", "lengua": "language",
    "id_spot": "spot_id", "id del spot": "spot_id",
}
DEFAULT_TOLERANCE = timedelta(minutes=30)
YES = {"yes", "y", "si", "sí", "s", "1", "true", "x", "aired", "ok"}
NO = {"no", "n", "0", "false", "missed", "-"}


@dataclass(frozen=True)
class LogRow:
    """One parsed line of the log."""

    row: int
    day: date
    at: time
    spot: str
    aired: bool
    notes: str | None
    language: str | None


@dataclass(frozen=True)
class LogSummary:
    """What a log file did: rows read, airings marked aired and missed."""

    rows: int
    aired: int
    missed: int


def _parse_date(value: str, where: str) -> date:
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise Invalid(
        f"{where}, column 'date'", _("%(value)r is not a date like 2027-01-11 or 11/01/2027", value=value)
    )


def _parse_time(value: str, where: str) -> time:
    text = value.strip().lower().replace(".", ":").replace("h", ":").rstrip(":")
    try:
        hour, minute = (int(p) for p in text.split(":")[:2])
        return time(hour, minute)
    except (ValueError, TypeError):
        raise Invalid(
            f"{where}, column 'time'", _("%(value)r is not a time like 06:30", value=value)
        ) from None


def _folded(text: str) -> str:
    """Lower case, no accents, single spaces: how a spot's title is matched."""
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


def column_name(header: str | None) -> str:
    """A log column's name as the code knows it: `Salió` -> `aired`, `Fecha` -> `date`."""
    folded = _folded(header or "")
    return HEADER_ALIASES.get(folded, folded)


def read_log(path: Path | str) -> list[LogRow]:
    """Parses a log CSV; raises Invalid naming the file, row and column of the first problem."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(_("log file %(path)r not found", path=str(path)))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [column_name(f) for f in reader.fieldnames or []]
        if "spot_id" in header and "spot" not in header:
            header.append("spot")  # the traffic log's id column names the spot too
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise Invalid(
                path.name,
                _(
                    "missing column(s) %(missing)s; expected %(expected)s "
                    "(or fecha, hora, spot, salió, notas, idioma)",
                    missing=", ".join(missing),
                    expected=", ".join(REQUIRED + OPTIONAL),
                ),
            )
        rows = []
        for index, raw in enumerate(reader, start=2):
            where = f"{path.name} row {index}"
            values = {column_name(k): (v or "").strip() for k, v in raw.items() if k is not None}
            if not any(values.values()):
                continue  # blank line
            aired_text = values["aired"].lower()
            if aired_text not in YES | NO:
                raise Invalid(
                    f"{where}, column 'aired'", _("%(value)r: write yes or no", value=values["aired"])
                )
            spot = values.get("spot_id") or values.get("spot") or ""
            if not spot:
                raise Invalid(
                    f"{where}, column 'spot'", _("which spot aired? (its id or title, e.g. spot-coyotes)")
                )
            rows.append(
                LogRow(
                    row=index,
                    day=_parse_date(values["date"], where),
                    at=_parse_time(values["time"], where),
                    spot=spot,
                    aired=aired_text in YES,
                    notes=values.get("notes") or None,
                    language=values.get("language") or None,
                )
            )
    if not rows:
        raise Invalid(path.name, _("the log has no rows"))
    return rows


def record_log(
    session: Session, station_slug: str, path: Path | str, *, tolerance: timedelta = DEFAULT_TOLERANCE
) -> LogSummary:
    """Marks the station's planned airings aired or missed from a producer's log CSV (flushed).

    Every row must match at least one airing (spot, optional language, the slot nearest to its
    local date and time within `tolerance`); otherwise Invalid names the row and nothing
    changes. A later log may correct an earlier one.
    """
    station = get_station(session, station_slug)
    rows = read_log(path)
    name = Path(path).name
    first = min(r.day for r in rows) - timedelta(days=2)
    last = max(r.day for r in rows) + timedelta(days=2)
    candidates = session.execute(
        select(Airing, Message.slug, Message.title, Campaign.timezone)
        .join(Message, Message.id == Airing.message_id)
        .join(Step, Step.id == Airing.step_id)
        .join(Campaign, Campaign.id == Step.campaign_id)
        .where(
            Airing.station_id == station.id,
            Airing.scheduled_at >= datetime.combine(first, time(0), tzinfo=ZoneInfo("UTC")),
            Airing.scheduled_at <= datetime.combine(last, time(0), tzinfo=ZoneInfo("UTC")),
        )
    ).all()
    # Slots by spot: (local time as naive wall-clock time, airing); a row takes the nearest slot.
    slots: dict[str, list[tuple[datetime, Airing]]] = {}
    zones: dict[int, ZoneInfo] = {}  # airing id -> its campaign's timezone (the log's wall clock)
    for airing, slug, title, tz in candidates:
        zones[airing.id] = ZoneInfo(tz)
        local = airing.scheduled_at.astimezone(zones[airing.id]).replace(tzinfo=None, second=0, microsecond=0)
        slots.setdefault(slug, []).append((local, airing))
        if title:  # the traffic log names spots by title: a log may too (case does not matter)
            slots.setdefault(_folded(title), []).append((local, airing))
    planned: list[tuple[LogRow, list[Airing]]] = []
    for row in rows:
        logged = datetime.combine(row.day, row.at)
        near = [
            (abs(local - logged), local, airing)
            for local, airing in slots.get(row.spot) or slots.get(_folded(row.spot), [])
            if abs(local - logged) <= tolerance and (not row.language or airing.language == row.language)
        ]
        if not near:
            raise Invalid(
                f"{name} row {row.row}",
                _(
                    "no planned airing of %(spot)r on %(station)s at %(day)s %(time)s in %(language)s "
                    "(within %(minutes)d min)",
                    spot=row.spot, station=station.slug, day=row.day, time=row.at.strftime("%H:%M"),
                    language=row.language, minutes=int(tolerance.total_seconds() // 60),
                )
                if row.language
                else _(
                    "no planned airing of %(spot)r on %(station)s at %(day)s %(time)s "
                    "(within %(minutes)d min)",
                    spot=row.spot, station=station.slug, day=row.day, time=row.at.strftime("%H:%M"),
                    minutes=int(tolerance.total_seconds() // 60),
                ),
            )
        nearest = min(gap for gap, _, _ in near)
        slot = min(local for gap, local, _ in near if gap == nearest)
        planned.append((row, [airing for _, local, airing in near if local == slot]))
    aired = missed = 0
    for row, matches in planned:
        for airing in matches:
            airing.status = AiringStatus.AIRED if row.aired else AiringStatus.MISSED
            # When it really aired: the logged local time (18:35 against an 18:30 slot), in UTC.
            logged = datetime.combine(row.day, row.at, tzinfo=zones[airing.id]).astimezone(ZoneInfo("UTC"))
            airing.aired_at = logged if row.aired else None
            airing.notes = row.notes
            aired += row.aired
            missed += not row.aired
    session.flush()
    return LogSummary(rows=len(rows), aired=aired, missed=missed)
