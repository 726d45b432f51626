"""Vectorized validation of imported rows: phones, languages, geography, years, sex, households,
and custom columns typed as number, date or text (audiences/fields.py).

Works on whole columns with pandas and normalizes each distinct value once, so a million rows
cost a few passes, not a million Python calls. Pure: no session; `today` is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import available_timezones

import pandas as pd

from audiences.fields import infer_type, parse_column, type_conflict
from audiences.geography import resolve_department, resolve_municipality
from audiences.models import FieldType
from audiences.phones import GUATEMALA_TZ, PhoneNumber, normalize_many, timezone_for
from campaign.core.errors import Invalid
from campaign.core.languages import LanguageRegistry, fold_key

_SEPARATORS = r"[\s.\-()/]+"
_GT_SHAPE = r"^(?:\+502|00502|502)?([2-7]\d{7})$"
SEX_VALUES = {
    "f": "F",
    "femenino": "F",
    "female": "F",
    "mujer": "F",
    "w": "F",
    "woman": "F",
    "m": "M",
    "masculino": "M",
    "male": "M",
    "hombre": "M",
    "h": "M",
    "man": "M",
    "x": "X",
    "otro": "X",
    "other": "X",
    "nobinario": "X",
    "nonbinary": "X",
}
HOUSEHOLD_VALUES = {
    "madresoltera": "single_mother",
    "singlemother": "single_mother",
    "jefademadresoltera": "single_mother",
    "padresoltero": "single_father",
    "singlefather": "single_father",
    "biparental": "two_parents",
    "dospadres": "two_parents",
    "twoparents": "two_parents",
    "extendida": "extended",
    "extended": "extended",
    "familiaextendida": "extended",
    "abuelos": "grandparents",
    "grandparents": "grandparents",
}


@dataclass
class Cleaned:
    """Valid rows (one column per contact field, `custom.*` columns, `row`, `warning`) and the
    problems found: (row, column header, value, reason) with reasons like "phone: too short"."""

    frame: pd.DataFrame
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)
    warnings: list[tuple[int, str, str, str]] = field(default_factory=list)
    rejected_rows: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    custom_types: dict[str, FieldType] = field(default_factory=dict)


class _Rejections:
    def __init__(self, rows: pd.Series) -> None:
        self.rows = rows
        self.first = pd.Series([None] * len(rows), dtype=object)
        self.problems: list[tuple[int, str, str, str]] = []

    def add(self, mask: pd.Series, header: str, values: pd.Series, reasons: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        reason_series = reasons if isinstance(reasons, pd.Series) else pd.Series(reasons, index=mask.index)
        idx = mask[mask].index
        for i in idx:
            self.problems.append(
                (int(self.rows.iat[i]), header, str(values.iat[i]), str(reason_series.iat[i]))  # type: ignore[arg-type]  # row numbers are ints
            )
        unset = mask & self.first.isna()
        self.first[unset] = reason_series[unset]


def _column(frame: pd.DataFrame, mapping: Mapping[str, str], target: str) -> tuple[str | None, pd.Series]:
    for header, fld in mapping.items():
        if fld == target:
            return header, frame[header].astype(str).str.strip()
    return None, pd.Series([""] * len(frame), index=frame.index, dtype=object)


def _map_distinct(values: pd.Series, fn) -> tuple[pd.Series, pd.Series]:
    """Applies fn to each distinct non-empty value: (results, error reasons), aligned to values."""
    results: dict[str, object] = {}
    errors: dict[str, str] = {}
    for value in pd.unique(values[values != ""]):
        try:
            results[value] = fn(value)
        except Invalid as exc:
            errors[value] = exc.code  # the English key stored with the rejection (audiences/reasons.py)
    return values.map(results).astype(object), values.map(errors).astype(object)


def clean_phones(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(e164, country, warning, rejection reason) for each value; GT shapes are handled in bulk."""
    digits = raw.str.replace(_SEPARATORS, "", regex=True)
    national = digits.str.extract(_GT_SHAPE, expand=False)
    first, second = national.str[0], national.str[1]
    mobile = national.notna() & first.isin(["3", "4", "5"])
    fixed = national.notna() & first.isin(["2", "6", "7"]) & ~second.isin(["0", "1"])
    fast = mobile | fixed
    e164 = ("+502" + national).where(fast)
    country = pd.Series("GT", index=raw.index, dtype=object).where(fast)
    warning = pd.Series(None, index=raw.index, dtype=object)
    reason = pd.Series(None, index=raw.index, dtype=object)
    if fixed.any():
        warning[fixed] = (
            "phone: landline (fixed-line number): not SMS-capable, messages will probably not arrive"
        )
    empty = raw == ""
    reason[empty] = "phone: empty"
    slow = ~fast & ~empty
    if slow.any():
        answers = normalize_many(pd.unique(raw[slow]))
        for i in slow[slow].index:
            answer = answers[str(raw.iat[i])]
            if isinstance(answer, PhoneNumber):
                e164.iat[i], country.iat[i] = answer.e164, answer.country
                if answer.warning:
                    warning.iat[i] = "phone: " + answer.warning
            else:
                reason.iat[i] = "phone: " + answer
    return e164, country, warning, reason


def clean(
    frame: pd.DataFrame,
    mapping: Mapping[str, str],
    rows: pd.Series,
    *,
    today: date,
    registry: LanguageRegistry,
    fields: Mapping[str, FieldType] | None = None,
    types: Mapping[str, FieldType] | None = None,
    date_order: str = "dmy",
    consent_source: str | None = None,
) -> Cleaned:
    """Validates and normalizes every mapped column; returns the valid rows and the problems.

    Consent (`consent_source` column of the result; None = this person did not agree): a consent
    column's value says where the person agreed ("feria de salud"), or yes/no ("sí" takes
    `consent_source`, the source given for the whole file, else the column's name); an empty
    value takes `consent_source`, and without it rejects the row.

    Custom columns are typed (audiences/fields.py): `fields` are the custom fields already
    known (their type is fixed), `types` the types given for this file (`--type`), `date_order`
    how dates with separators are read.
    """
    frame = frame.reset_index(drop=True)
    rows = rows.reset_index(drop=True)
    rejections = _Rejections(rows)
    out = pd.DataFrame({"row": rows})

    header, raw_phone = _column(frame, mapping, "phone")
    e164, country, warning, reason = clean_phones(raw_phone)
    rejections.add(reason.notna(), header or "phone", raw_phone, reason)
    out["phone"], out["country"], out["warning"] = e164, country, warning

    header, name = _column(frame, mapping, "name")
    out["name"] = name.where(name != "").str.slice(0, 200)

    header, language = _column(frame, mapping, "language")
    codes = {v: _language_code(registry, v) for v in pd.unique(language)}
    out["language"] = language.map(codes)
    rejections.add(
        (language != "") & out["language"].isna(),
        header or "language",
        language,
        "language: unknown language",
    )

    header, department = _column(frame, mapping, "department")
    dept_codes, dept_errors = _map_distinct(department, resolve_department)
    rejections.add(dept_errors.notna(), header or "department", department, "department: unknown department")
    out["department"] = dept_codes

    header, municipality = _column(frame, mapping, "municipality")
    pairs = municipality + "\x1f" + out["department"].fillna("")
    has_muni = municipality != ""

    def _resolve_pair(pair: str):
        value, dept = pair.split("\x1f")
        return resolve_municipality(value, dept or None)

    munis, muni_errors = _map_distinct(pairs.where(has_muni, ""), _resolve_pair)
    rejections.add(
        muni_errors.notna(),
        header or "municipality",
        municipality,
        "municipality: " + muni_errors.fillna("").astype(str),
    )
    out["municipality_code"] = munis.map(lambda m: m.code if m is not None and m == m else None)
    from_muni = munis.map(lambda m: m.department if m is not None and m == m else None)
    out["department"] = out["department"].where(out["department"].notna(), from_muni)

    out["birth_year"] = _years(frame, mapping, rejections, today)

    header, sex = _column(frame, mapping, "sex")
    sex_key = sex.map(lambda v: fold_key(v) if v else "")
    out["sex"] = sex_key.map(SEX_VALUES)
    rejections.add(
        (sex != "") & out["sex"].isna(), header or "sex", sex, "sex: unknown value (use F, M or X)"
    )

    header, household = _column(frame, mapping, "household")
    out["household"] = household.map(_household).where(household != "")

    header, tz = _column(frame, mapping, "timezone")
    zones = available_timezones()
    rejections.add((tz != "") & ~tz.isin(zones), header or "timezone", tz, "timezone: unknown IANA timezone")
    derived = out["phone"].map(
        lambda p: (
            GUATEMALA_TZ
            if isinstance(p, str) and p.startswith("+502")
            else (timezone_for(p) if p == p and p else None)
        )
    )
    out["timezone"] = tz.where(tz != "", derived)

    out["consent_source"] = _consent(frame, mapping, rejections, consent_source)

    custom_types = _custom_columns(frame, mapping, out, rejections, fields=fields or {},
                                   types=types or {}, date_order=date_order)

    valid = rejections.first.isna()
    counts = rejections.first[~valid].value_counts()
    return Cleaned(
        frame=out[valid].reset_index(drop=True),
        problems=rejections.problems,
        warnings=[
            (int(r), "phone", "", str(w))
            for r, w in zip(out["row"][valid], out["warning"][valid], strict=True)
            if isinstance(w, str)
        ],
        rejected_rows=int((~valid).sum()),
        rejected_by_reason={str(k): int(v) for k, v in counts.items()},
        custom_types=custom_types,
    )


def _custom_columns(
    frame: pd.DataFrame,
    mapping: Mapping[str, str],
    out: pd.DataFrame,
    rejections: _Rejections,
    *,
    fields: Mapping[str, FieldType],
    types: Mapping[str, FieldType],
    date_order: str,
) -> dict[str, FieldType]:
    """Types each custom column (known type, else the one given, else inferred) and stores its
    values normalized in `out`; a value that does not fit rejects its row. Returns key -> type."""
    found: dict[str, FieldType] = {}
    for header, target in mapping.items():
        if not target.startswith("custom."):
            continue
        key = target.split(".", 1)[1]
        values = frame[header].astype(str).str.strip()
        rows_per_value = {str(v): int(n) for v, n in values[values != ""].value_counts().items()}
        distinct = list(rows_per_value)
        given = types.get(key)
        if key in fields and given is not None and given != fields[key]:
            raise type_conflict(key, fields[key], given)
        kind = fields.get(key) or given or infer_type(rows_per_value)
        parsed = parse_column(key, distinct, kind, order=date_order)
        found[key] = kind
        if parsed.errors:
            reasons = values.map(parsed.errors)
            rejections.add(reasons.notna(), header, values, reasons)
        out[target] = pd.Series([parsed.values.get(v) for v in values], index=values.index, dtype=object)
    return found


CONSENT_YES = frozenset({"si", "s", "yes", "y", "true", "1", "x", "acepta", "autoriza", "ok"})
CONSENT_NO = frozenset({"no", "n", "false", "0", "noacepta", "noautoriza", "sinconsentimiento"})


def _consent(
    frame: pd.DataFrame, mapping: Mapping[str, str], rejections: _Rejections, source: str | None
) -> pd.Series:
    """Where each person agreed to receive messages (None: they did not, or the row is rejected)."""
    header, consent = _column(frame, mapping, "consent_source")
    if header is None:
        return pd.Series([source] * len(frame), index=frame.index, dtype=object)
    keys = {v: fold_key(v) for v in pd.unique(consent) if v}  # each distinct value once
    key = consent.map(keys).fillna("")
    agreed = source or header
    out = consent.where(consent != "", source).astype(object)
    out = out.where(~key.isin(CONSENT_YES), agreed).where(~key.isin(CONSENT_NO), None)
    if source is None:
        rejections.add(
            consent == "",
            header,
            consent,
            "consent: empty (say where this person agreed to receive messages, or give --consent-source)",
        )
    out = out.str.slice(0, 80)
    return out.astype(object).where(out.notna(), None)


def _years(
    frame: pd.DataFrame, mapping: Mapping[str, str], rejections: _Rejections, today: date
) -> pd.Series:
    header, birth = _column(frame, mapping, "birth_year")
    years = pd.to_numeric(birth.where(birth != ""), errors="coerce")
    bad = (birth != "") & (years.isna() | (years < 1900) | (years > today.year) | (years % 1 != 0))
    rejections.add(
        bad, header or "birth_year", birth, f"birth_year: not a year between 1900 and {today.year}"
    )
    years = years.where(~bad)
    age_header, age = _column(frame, mapping, "age")
    ages = pd.to_numeric(age.where(age != ""), errors="coerce")
    bad_age = (age != "") & (ages.isna() | (ages < 0) | (ages > 120) | (ages % 1 != 0))
    rejections.add(bad_age, age_header or "age", age, "age: not a whole number between 0 and 120")
    from_age = (today.year - ages).where(~bad_age)
    years = years.where(years.notna(), from_age)
    return years.astype("Int64")


def _household(value: str) -> str:
    key = fold_key(value).replace("-", "")
    if key in HOUSEHOLD_VALUES:
        return HOUSEHOLD_VALUES[key]
    return "_".join(value.strip().lower().replace("-", " ").split())[:40]


def _language_code(registry: LanguageRegistry, value: object) -> str | None:
    language = registry.resolve(str(value))
    return language.code if language else None
