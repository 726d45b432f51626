"""Radio stations: load them from a CSV or YAML file (validated whole, then upserted by slug), list them."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.geography import resolve_department, resolve_municipality
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, default_registry, fold_key
from campaign.core.yamlfiles import load_yaml
from campaign.radio.models import Station

FIELDS = ("slug", "name", "frequency", "department", "municipality", "languages", "contact_person", "notes")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


@dataclass(frozen=True)
class StationSpec:
    """One validated station row, ready to store."""

    slug: str
    name: str
    frequency: str | None
    department: str | None
    municipality_code: str | None
    languages: list[str]
    contact_person: str | None
    notes: str | None


@dataclass(frozen=True)
class LoadSummary:
    """What a load did: rows read, stations created and updated."""

    rows: int
    created: int
    updated: int


def slugify(text: str) -> str:
    """`"Radio Ixchel 98.5"` -> `radio-ixchel-98-5`."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", fold_key_spaced(text))).strip("-")[:80]


def fold_key_spaced(text: str) -> str:
    """Each word folded (lower-case, accents and apostrophes dropped), spaces kept."""
    return " ".join(fold_key(word) for word in str(text).split())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _languages(value: Any, where: str, registry: LanguageRegistry) -> list[str]:
    if isinstance(value, str):
        items = [v for v in re.split(r"[;,|/]", value) if v.strip()]
    elif isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = []
    if not items:
        raise Invalid(
            f"{where}, column 'languages'", _("a station needs at least one language (e.g. es; mam)")
        )
    codes: list[str] = []
    for item in items:
        code = item.strip()
        language = registry.resolve(code) or (registry.get(code) if code in registry else None)
        if language is None:
            raise Invalid(f"{where}, column 'languages'", _("unknown language %(code)r", code=item.strip()))
        if language.code not in codes:
            codes.append(language.code)
    return codes


def parse_station(row: dict[str, Any], where: str, registry: LanguageRegistry) -> StationSpec:
    """Validates one row (from CSV or YAML); raises Invalid naming the row and column."""
    unknown = {str(k) for k in row if k is not None and str(k).strip()} - set(FIELDS)
    if unknown:
        raise Invalid(where, _(
                "unknown column(s) %(unknown)s; expected %(expected)s",
                unknown=", ".join(sorted(unknown)),
                expected=", ".join(FIELDS),
            ))
    name = _text(row.get("name"))
    if not name:
        raise Invalid(f"{where}, column 'name'", _("a station needs a name"))
    slug = _text(row.get("slug")) or slugify(name)
    if not _SLUG.match(slug):
        raise Invalid(
            f"{where}, column 'slug'", _("%(slug)r must be lower-case letters, digits and dashes", slug=slug)
        )
    department = municipality = None
    try:
        if _text(row.get("department")):
            department = resolve_department(str(row["department"]))
        if _text(row.get("municipality")):
            found = resolve_municipality(str(row["municipality"]), department)
            municipality, department = found.code, found.department
    except Invalid as exc:
        raise Invalid(f"{where}, column '{exc.field}'", exc.reason) from exc
    return StationSpec(
        slug=slug,
        name=name,
        frequency=_text(row.get("frequency")),
        department=department,
        municipality_code=municipality,
        languages=_languages(row.get("languages"), where, registry),
        contact_person=_text(row.get("contact_person")),
        notes=_text(row.get("notes")),
    )


def read_station_file(path: Path | str, *, registry: LanguageRegistry | None = None) -> list[StationSpec]:
    """Reads and validates every row of a CSV or YAML station file (nothing is stored).

    YAML: a list of mappings or `{stations: [...]}`. Raises Invalid naming the file, row and
    column of the first problem; a slug used twice is an error.
    """
    path = Path(path)
    registry = registry or default_registry()
    if not path.is_file():
        raise NotFound(_("station file %(path)r not found", path=str(path)))
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            data = load_yaml(path.read_text(encoding="utf-8"), source=path.name)
        except UnicodeDecodeError:
            raise Invalid(path.name, _("not valid YAML: not UTF-8 text")) from None
        if isinstance(data, dict):
            data = data.get("stations")
        if not isinstance(data, list):
            raise Invalid(path.name, _("expected a list of stations (or a `stations:` list)"))
        for index, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise Invalid(f"{path.name} station {index}", _("each station is a mapping"))
            rows.append((f"{path.name} station {index}", item))
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "name" not in [f.strip() for f in reader.fieldnames]:
                raise Invalid(
                    path.name,
                    _("the header row must name the columns: %(columns)s", columns=", ".join(FIELDS)),
                )
            for index, raw in enumerate(reader, start=2):  # row 1 is the header
                if None in raw:  # DictReader files surplus values under the key None
                    raise Invalid(f"{path.name} row {index}", _("more values than header columns"))
                row = {k.strip(): v for k, v in raw.items() if k and k.strip()}
                rows.append((f"{path.name} row {index}", row))
    else:
        raise Invalid(path.name, _("station files are .csv, .yaml or .yml"))
    specs: list[StationSpec] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        spec = parse_station(row, where, registry)
        if spec.slug in seen:
            raise Invalid(
                f"{where}, column 'slug'",
                _("%(slug)r is also used by %(other)s", slug=spec.slug, other=seen[spec.slug]),
            )
        seen[spec.slug] = where
        specs.append(spec)
    if not specs:
        raise Invalid(path.name, _("no stations in the file"))
    return specs


def load_stations(session: Session, path: Path | str) -> LoadSummary:
    """Validates the whole file first, then creates or updates stations by slug (flushed).

    A bad row stores nothing (Invalid names the row and column).
    """
    specs = read_station_file(path)
    slugs = [spec.slug for spec in specs]
    existing = {s.slug: s for s in session.scalars(select(Station).where(Station.slug.in_(slugs)))}
    created = updated = 0
    for spec in specs:
        station = existing.get(spec.slug)
        if station is None:
            station = Station(slug=spec.slug)
            session.add(station)
            created += 1
        else:
            updated += 1
        station.name = spec.name
        station.frequency = spec.frequency
        station.department = spec.department
        station.municipality_code = spec.municipality_code
        station.languages = list(spec.languages)
        station.contact_person = spec.contact_person
        station.notes = spec.notes
    session.flush()
    return LoadSummary(rows=len(specs), created=created, updated=updated)


def list_stations(session: Session) -> list[Station]:
    """Every station, by name."""
    return list(session.scalars(select(Station).order_by(Station.name, Station.slug)))


def get_station(session: Session, slug: str) -> Station:
    """The station with this slug; raises NotFound."""
    station = session.scalars(select(Station).where(Station.slug == slug)).one_or_none()
    if station is None:
        raise NotFound(_("station %(slug)r not found (see `campaign radio stations list`)", slug=slug))
    return station


def station_dict(station: Station) -> dict[str, Any]:
    """A station as plain data (for --json and the web page)."""
    return {
        "slug": station.slug,
        "name": station.name,
        "frequency": station.frequency,
        "department": station.department,
        "municipality": station.municipality_code,
        "languages": list(station.languages or []),
        "contact_person": station.contact_person,
        "notes": station.notes,
    }

