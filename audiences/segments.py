"""Named segments (built-in and saved) and reach counts with a breakdown, all in SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from audiences.custom_sql import custom_value
from audiences.fields import known_fields
from audiences.geography import municipalities
from audiences.models import SEGMENT_USERS, Contact, FieldType, Segment
from audiences.query import compile_query, unknown_name_reason
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _

SLUG = re.compile(r"^[a-z][a-z0-9_-]{1,79}$")
MAYAN_LANGUAGES = ("quc", "kek", "cak", "mam", "kjb")


@dataclass(frozen=True)
class BuiltinSegment:
    slug: str
    name: str
    query: str
    description: str


BUILTIN_SEGMENTS: tuple[BuiltinSegment, ...] = (
    BuiltinSegment(
        "border_youth",
        "Jóvenes de frontera (13-24)",
        "border and age between 13 and 24",
        "Jóvenes de 13 a 24 años en municipios fronterizos con México, El Salvador, Honduras o Belice.",
    ),
    BuiltinSegment(
        "single_mother_households",
        "Hogares con madre sola",
        'household = "single_mother"',
        "Contactos cuyo hogar está a cargo de una madre sola.",
    ),
    BuiltinSegment(
        "parents_of_adolescents",
        "Madres y padres de adolescentes",
        "adolescent_children >= 1",
        "Contactos con al menos un hijo o hija de 10 a 19 años (campo personalizado adolescent_children).",
    ),
    BuiltinSegment(
        "indigenous_language_speakers",
        "Hablantes de idiomas mayas",
        "language in (" + ", ".join(f'"{c}"' for c in MAYAN_LANGUAGES) + ")",
        "Contactos cuyo idioma es k'iche', q'eqchi', kaqchikel, mam o q'anjob'al.",
    ),
    BuiltinSegment(
        "migrants_in_transit",
        "Migrantes en tránsito",
        'border and country != "GT"',
        "Números de teléfono no guatemaltecos en municipios fronterizos.",
    ),
)
BUILTIN_BY_SLUG = {s.slug: s for s in BUILTIN_SEGMENTS}
BREAKDOWN_FIELDS = (
    "department", "municipality", "language", "household", "sex", "status", "country", "timezone",
    "age", "border",
)


@dataclass(frozen=True)
class SegmentCount:
    """How many contacts a segment reaches, and by `by` (value -> count, missing as "(none)")."""

    query: str
    count: int
    slug: str | None = None
    by: str | None = None
    breakdown: dict[str, int] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"query": self.query, "slug": self.slug, "count": self.count}
        if self.by:
            out["by"] = self.by
            out["breakdown"] = self.breakdown or {}
        return out


def ensure_builtin_segments(session: Session) -> int:
    """Creates the built-in segments that are missing (never overwrites a saved one).

    Flushes; returns how many were created.
    """
    existing = set(session.scalars(select(Segment.slug)))
    created = 0
    for builtin in BUILTIN_SEGMENTS:
        if builtin.slug not in existing:
            session.add(
                Segment(
                    slug=builtin.slug,
                    name=builtin.name,
                    query=builtin.query,
                    description=builtin.description,
                    builtin=True,
                )
            )
            created += 1
    if created:
        session.flush()
    return created


FLAG_FIELDS = ("opted_out", "border")


def resolve_segment(
    session: Session, slug_or_query: str, *, segment_only: bool = False
) -> tuple[str | None, str]:
    """(slug, query text) for a saved or built-in slug, or (None, text) for a query.

    A lone name that is neither a segment nor a field that can stand alone (opted_out, border,
    a number field) is a misspelled segment: Invalid("segment", ...) names the closest segments.
    With `segment_only` (a campaign step's `segment:`), only a segment slug is accepted.
    """
    text = slug_or_query.strip()
    if SLUG.match(text):
        saved = session.scalar(select(Segment.query).where(Segment.slug == text))
        if saved is not None:
            return text, saved
        if text in BUILTIN_BY_SLUG:
            return text, BUILTIN_BY_SLUG[text].query
        fields = known_fields(session)
        stands_alone = text in FLAG_FIELDS or fields.get(text) == FieldType.NUMBER
        if segment_only or not stands_alone:
            slugs = sorted(set(session.scalars(select(Segment.slug))) | set(BUILTIN_BY_SLUG))
            candidates = slugs if segment_only else slugs + sorted(FLAG_FIELDS)
            raise Invalid("segment", unknown_name_reason(_("segment"), text, candidates))
    elif segment_only:
        raise Invalid("segment", _("%(text)r is not a segment slug", text=text))
    return None, text


def segment_condition(
    session: Session, slug_or_query: str, *, today: date, segment_only: bool = False
) -> ColumnElement[bool]:
    """The SQL condition over Contact for a segment slug (saved or built-in) or a query text.

    Raises Invalid("segment", ...) for an unknown segment, Invalid("query", "... at column N") for a
    bad query or an unknown field (custom fields are those imported so far).
    """
    _slug, query = resolve_segment(session, slug_or_query, segment_only=segment_only)
    return compile_query(query, today=today, fields=known_fields(session))


def add_segment(
    session: Session, slug: str, query: str, *, name: str, description: str | None = None, today: date
) -> Segment:
    """Saves a named segment after checking its query compiles. Flushes.

    Raises Invalid("slug", ...) for a malformed or taken slug, Invalid("query", ...) for a bad query.
    """
    if not SLUG.match(slug):
        raise Invalid("slug", _(
            "%(slug)r must be lower-case letters, digits, _ or - (2-80, letter first)", slug=slug
        ))
    segment_condition(session, query, today=today)
    if session.scalar(select(Segment.id).where(Segment.slug == slug)) is not None:
        raise Invalid("slug", _("a segment %(slug)r already exists", slug=slug))
    segment = Segment(slug=slug, name=name, query=query, description=description, builtin=False)
    session.add(segment)
    session.flush()
    return segment


def _editable(session: Session, slug: str) -> Segment:
    """The saved, non-built-in segment `slug`; raises NotFound, or Invalid("segment") for a built-in."""
    segment = session.scalar(select(Segment).where(Segment.slug == slug))
    if (segment is not None and segment.builtin) or (segment is None and slug in BUILTIN_BY_SLUG):
        raise Invalid(
            "segment",
            _(
                "%(slug)s is a built-in segment and cannot be changed: save your own with "
                "`campaign audiences segment add NEW-SLUG QUERY --name NAME`",
                slug=slug,
            ),
        )
    if segment is None:
        raise NotFound(_("no segment %(slug)r", slug=slug))
    return segment


def edit_segment(
    session: Session,
    slug: str,
    *,
    today: date,
    query: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Segment:
    """Changes a saved segment's query (checked first), name or description. Flushes.

    Raises NotFound, Invalid("segment") for a built-in one, Invalid("query") for a bad query;
    nothing changes then. Campaign steps naming the segment reach its new audience at their next
    firing.
    """
    segment = _editable(session, slug)
    if query is not None:
        segment_condition(session, query, today=today)
        segment.query = query
    if name is not None:
        segment.name = name
    if description is not None:
        segment.description = description or None
    session.flush()
    return segment


def remove_segment(session: Session, slug: str) -> None:
    """Deletes a saved segment. Flushes.

    Raises NotFound, Invalid("segment") for a built-in one or one still in use (each function of
    SEGMENT_USERS names its users, e.g. the steps of campaigns not yet ended); nothing is removed then.
    """
    segment = _editable(session, slug)
    users = [name for check in SEGMENT_USERS for name in check(session, slug)]
    if users:
        raise Invalid(
            "segment",
            _(
                "%(slug)s is used by %(users)s: change or cancel those first",
                slug=slug,
                users=", ".join(users),
            ),
        )
    session.delete(segment)
    session.flush()


def get_segment(session: Session, slug: str) -> Segment:
    """The saved segment with this slug; raises NotFound."""
    segment = session.scalar(select(Segment).where(Segment.slug == slug))
    if segment is None:
        raise NotFound(_("no segment %(slug)r", slug=slug))
    return segment


def _border_case() -> Any:
    whens = {m.code: m.border for m in municipalities() if m.border}
    return case(whens, value=Contact.municipality_code, else_=None)


def breakdown_expression(by: str, *, today: date, fields: dict[str, FieldType] | None = None) -> Any:
    """The SQL expression a breakdown groups by; raises Invalid("by", ...) for an unknown field."""
    if by == "age":
        return today.year - Contact.birth_year
    if by == "border":
        return _border_case()
    if by == "municipality":
        return Contact.municipality_code
    if by in BREAKDOWN_FIELDS:
        return getattr(Contact, by)
    key = by.split(".", 1)[1] if by.startswith("custom.") else by
    if fields and key in fields:
        return custom_value(key, fields[key])
    raise Invalid(
        "by",
        _(
            "cannot break down by %(by)r (use %(fields)s or a custom field)",
            by=by,
            fields=", ".join(BREAKDOWN_FIELDS),
        ),
    )


def count(session: Session, slug_or_query: str, *, today: date, by: str | None = None) -> SegmentCount:
    """Counts the contacts in a segment (any status: combine with eligibility to get reach),
    optionally grouped by a field. One or two SQL statements; nothing is loaded per contact.

    Raises Invalid for a bad query or breakdown field.
    """
    slug, query = resolve_segment(session, slug_or_query)
    fields = known_fields(session)
    condition = compile_query(query, today=today, fields=fields)
    total = session.scalar(select(func.count()).select_from(Contact).where(condition)) or 0
    breakdown: dict[str, int] | None = None
    if by:
        key = breakdown_expression(by, today=today, fields=fields).label("key")
        rows = session.execute(
            select(key, func.count()).select_from(Contact).where(condition).group_by(key)
        ).all()
        breakdown = {}
        for value, n in sorted(rows, key=lambda r: (-r[1], "" if r[0] is None else str(r[0]))):
            label = "(none)" if value is None or value == "" else str(value)
            breakdown[label] = breakdown.get(label, 0) + int(n)
    return SegmentCount(query=query, count=int(total), slug=slug, by=by, breakdown=breakdown)


def list_segments(session: Session) -> list[Segment]:
    """Every saved segment (built-ins included once ensured), by slug."""
    return list(session.scalars(select(Segment).order_by(Segment.builtin.desc(), Segment.slug)))
