"""Custom contact fields and their types (number, date, text): parsing, inference, the registry.

A file's columns that are not contact fields become custom fields stored in `Contact.custom`.
Each custom field has one type, inferred the first time a column of that name is imported (or
given with `--type`), then fixed: a later value that does not fit is a row rejection at import,
never a SQL error when a blast is planned. Values are stored normalized: numbers as JSON numbers,
dates as ISO text `YYYY-MM-DD` (so they sort and compare as dates on every database), text as
text. The query language binds each comparison with its field's type (audiences/query.py).

Dates written with separators are read in the deployment's order (CAMPAIGN_DATE_ORDER: `dmy`,
Guatemala's 05/01/2027 = 5 January 2027, by default; `mdy`; `ymd`); ISO dates are always read
as such. A two-digit year is ambiguous and refused, and so is a day/month date in a column that
also holds dates only valid the other way round (01/25/2027): the file's order is in doubt.

The parsing functions are pure. `known_fields` and `declare_fields` read and write the registry
(they take a session, flush, never commit).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.models import CustomField, FieldType
from campaign.core.errors import Invalid
from campaign.core.i18n import N_, _

__all__ = [
    "DATE_ORDERS",
    "FieldType",
    "ParsedColumn",
    "declare_fields",
    "known_fields",
    "parse_column",
    "parse_date",
    "parse_number",
    "type_conflict",
    "type_label",
]

DATE_ORDERS = ("dmy", "mdy", "ymd")
TYPE_LABELS = {FieldType.NUMBER: N_("number"), FieldType.DATE: N_("date"), FieldType.TEXT: N_("text")}
INFER_SHARE = 0.9  # a new column is a number (or date) field when this share of its values is one
MIN_YEAR, MAX_YEAR = 1900, 2100
_NUMBER = re.compile(r"^[+-]?\d{1,15}(?:\.\d{1,15})?$")
_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_SEPARATED = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")


class DateProblem(enum.StrEnum):
    """Why a date-shaped value is refused."""

    INVALID = "invalid"
    TWO_DIGIT_YEAR = "two_digit_year"
    AMBIGUOUS = "ambiguous"


def parse_number(text: str) -> int | float:
    """`"3"` -> 3, `"-2.5"` -> -2.5. Raises ValueError for anything else (no thousands separators)."""
    value = text.strip()
    if not _NUMBER.match(value):
        raise ValueError(f"{text!r} is not a number")
    return float(value) if "." in value else int(value)


def _make_date(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _separated_parts(text: str) -> tuple[int, int, str] | None:
    match = _SEPARATED.match(text.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def parse_date(text: str, order: str = "dmy") -> date:
    """One date as written in a file: ISO `2027-01-05` (also `2027/01/05`, `2027-01-05 00:00:00`
    as spreadsheets export it) or `a/b/yyyy` (also `-` or `.`) read in `order`.

    Raises Invalid("date", reason) saying what is wrong (two-digit year, no such day).
    """
    if order not in DATE_ORDERS:
        raise Invalid("date_order", _("%(order)r is not one of %(orders)s", order=order,
                                      orders=", ".join(DATE_ORDERS)))
    value = text.strip()
    iso = _ISO.match(value)
    if iso:
        parsed = _make_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if parsed is None:
            raise Invalid("date", _("not a date between %(low)d and %(high)d", low=MIN_YEAR, high=MAX_YEAR))
        return parsed
    parts = _separated_parts(value)
    if parts is None or order == "ymd":
        raise Invalid("date", _("not a date like 2027-01-05 or %(example)s", example=_example(order)))
    a, b, year = parts
    if len(year) == 2:
        raise Invalid("date", _("a two-digit year is ambiguous: write the year in full"))
    day, month = (a, b) if order == "dmy" else (b, a)
    parsed = _make_date(int(year), month, day)
    if parsed is None:
        raise Invalid("date", _("not a valid %(order)s date", order=_order_words(order)))
    return parsed


def _example(order: str) -> str:
    return _("05/01/2027 (day/month/year)") if order == "dmy" else _("01/05/2027 (month/day/year)")


def _order_words(order: str) -> str:
    words = {"dmy": _("day/month/year"), "mdy": _("month/day/year"), "ymd": _("year-month-day")}
    return words[order]


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text.strip()))


def _is_date_shaped(text: str) -> bool:
    value = text.strip()
    return bool(_ISO.match(value) or _SEPARATED.match(value))


def infer_type(values: Iterable[str] | Mapping[str, int]) -> FieldType:
    """The type of a new column from its non-empty values (or value -> rows): number when at least
    INFER_SHARE of the rows hold numbers, date when that share holds date-shaped values, else text.
    So a column of counts with one typo ("dos") is a number column, and the typo a rejected row."""
    counts = dict(values) if isinstance(values, Mapping) else {v: 1 for v in values}
    counts = {v: n for v, n in counts.items() if v.strip()}
    total = sum(counts.values())
    if not total:
        return FieldType.TEXT
    if sum(n for v, n in counts.items() if _is_number(v)) >= INFER_SHARE * total:
        return FieldType.NUMBER
    if sum(n for v, n in counts.items() if _is_date_shaped(v)) >= INFER_SHARE * total:
        return FieldType.DATE
    return FieldType.TEXT


@dataclass
class ParsedColumn:
    """A custom column's values normalized for storage (number, ISO date text, or text), and
    the reason for each value that does not fit the field's type (value -> reason)."""

    type: FieldType
    values: dict[str, int | float | str]
    errors: dict[str, str]


def _other_order(order: str) -> str:
    return "mdy" if order == "dmy" else "dmy"


def parse_column(key: str, distinct: Iterable[str], kind: FieldType, *, order: str = "dmy") -> ParsedColumn:
    """Normalizes the distinct non-empty values of custom column `key` as `kind`. Pure.

    Reasons name the field, not the value (the rejection report has a column for the value), so
    they count well by reason: `hijos: not a number (hijos is a number field)`.
    """
    values: dict[str, int | float | str] = {}
    errors: dict[str, str] = {}
    items = [v for v in distinct if v.strip()]
    if kind == FieldType.TEXT:
        return ParsedColumn(kind, {v: v.strip() for v in items}, errors)
    if kind == FieldType.NUMBER:
        for v in items:
            try:
                values[v] = parse_number(v)
            except ValueError:
                errors[v] = _("%(key)s: not a number (%(key)s is a number field)", key=key)
        return ParsedColumn(kind, values, errors)
    # Dates: read in the deployment's order, and distrust that order when the column also holds
    # dates only valid the other way round.
    doubt = order != "ymd" and any(
        _valid_only_in(v, _other_order(order), order) for v in items if _separated_parts(v)
    )
    for v in items:
        parts = _separated_parts(v)
        swappable = parts is not None and len(parts[2]) == 4 and parts[0] <= 12 and parts[1] <= 12
        if doubt and swappable and parts is not None and parts[0] != parts[1]:
            errors[v] = _(
                "%(key)s: ambiguous date: the column also has dates only valid as %(other)s "
                "(if the file is written that way, import it with --date-order %(code)s)",
                key=key, other=_order_words(_other_order(order)), code=_other_order(order),
            )
            continue
        try:
            values[v] = parse_date(v, order).isoformat()
        except Invalid as exc:
            errors[v] = f"{key}: {exc.reason}"
    return ParsedColumn(kind, values, errors)


def _valid_only_in(text: str, order: str, other: str) -> bool:
    def ok(o: str) -> bool:
        try:
            parse_date(text, o)
        except Invalid:
            return False
        return True

    return ok(order) and not ok(other)


def type_label(kind: FieldType | str) -> str:
    """The type's name in the interface language (número, fecha, texto)."""
    return str(TYPE_LABELS[FieldType(kind)])


def type_conflict(key: str, known: FieldType | str, given: FieldType | str) -> Invalid:
    """The error for giving a known field another type (a field's type is fixed)."""
    return Invalid("type", _("%(key)s is a field of type %(known)s; it cannot become %(kind)s",
                             key=key, known=type_label(known), kind=type_label(given)))


# --- the registry ----------------------------------------------------------------------------


def known_fields(session: Session) -> dict[str, FieldType]:
    """Every custom field imported so far, key -> type."""
    return {key: FieldType(kind) for key, kind in session.execute(select(CustomField.key, CustomField.type))}


def declare_fields(
    session: Session, types: Mapping[str, FieldType], *, now: datetime, source: str | None = None
) -> list[str]:
    """Adds the fields not yet known (a known field keeps its type). Flushes; returns keys added.

    Raises Invalid("type", ...) when a known field is given another type.
    """
    known = known_fields(session)
    added: list[str] = []
    for key, kind in types.items():
        if key in known:
            if known[key] != kind:
                raise type_conflict(key, known[key], kind)
            continue
        session.add(CustomField(key=key, type=FieldType(kind), source=source, created_at=now))
        added.append(key)
    if added:
        session.flush()
    return added


def value_type(value: object) -> FieldType:
    """The type a stored custom value has (for data written by code, not by an import)."""
    if isinstance(value, bool):
        return FieldType.TEXT
    if isinstance(value, int | float):
        return FieldType.NUMBER
    if isinstance(value, str) and _ISO.match(value):
        return FieldType.DATE
    return FieldType.TEXT
