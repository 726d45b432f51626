"""Guatemala's 22 departments and 340 municipalities (INE codes) with the border each one faces.

Data: `audiences/data/departments.csv` and `audiences/data/municipalities.csv` (see the README
there for sources). Department codes are ISO 3166-2:GT as revised in 2021 (GT-01..GT-22, the INE
department numbers); the former letter codes (GT-SM, GT-HU, ...) and names with or without accents
are accepted. Municipality codes are INE's four digits: department (2) + municipality (2).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from audiences.reasons import phrase_label
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import fold_key

DATA_DIR = Path(__file__).with_name("data")
BORDER_COUNTRIES = ("MX", "SV", "HN", "BZ")


@dataclass(frozen=True)
class Department:
    """One department: ISO 3166-2:GT code (GT-12), name, former letter code (GT-SM)."""

    code: str
    name: str
    old_code: str


@dataclass(frozen=True)
class Municipality:
    """One municipality: INE code, official name, department ISO code, the country its territory
    borders (MX, SV, HN, BZ) or None, and other names people use for it."""

    code: str
    name: str
    department: str
    border: str | None
    aliases: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def departments() -> tuple[Department, ...]:
    """The 22 departments in INE order."""
    with (DATA_DIR / "departments.csv").open(encoding="utf-8") as handle:
        return tuple(Department(r["code"], r["name"], r["old_code"]) for r in csv.DictReader(handle))


@lru_cache(maxsize=1)
def municipalities() -> tuple[Municipality, ...]:
    """The 340 municipalities in INE code order."""
    with (DATA_DIR / "municipalities.csv").open(encoding="utf-8") as handle:
        return tuple(
            Municipality(
                code=r["code"],
                name=r["name"],
                department=r["department"],
                border=r["border"] or None,
                aliases=tuple(a for a in r["aliases"].split("|") if a),
            )
            for r in csv.DictReader(handle)
        )


@lru_cache(maxsize=1)
def _department_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for dept in departments():
        number = dept.code[3:]
        letters = dept.old_code[3:]
        for key in (dept.code, number, str(int(number)), dept.old_code, letters, dept.name):
            index[fold_key(key)] = dept.code
    # Common longer or older forms.
    index[fold_key("El Quiché")] = "GT-14"
    index[fold_key("Ciudad de Guatemala")] = "GT-01"
    return index


def resolve_department(value: str) -> str:
    """ISO code (GT-12) of a department written as GT-12, 12, GT-SM, SM, "San Marcos", "peten".

    Raises Invalid("department", ...) naming the value when it matches no department.
    """
    key = fold_key(str(value or ""))
    if not key:
        raise Invalid("department", phrase_label("empty"), code="empty")
    try:
        return _department_index()[key]
    except KeyError:
        raise Invalid("department", _("unknown department %(value)r", value=value)) from None


def department_name(code: str) -> str:
    """The name of a department given its ISO code."""
    for dept in departments():
        if dept.code == code:
            return dept.name
    raise Invalid("department", _("unknown department code %(code)r", code=code))


@lru_cache(maxsize=1)
def _municipality_index() -> tuple[dict[str, Municipality], dict[str, list[Municipality]]]:
    by_code = {m.code: m for m in municipalities()}
    by_name: dict[str, list[Municipality]] = {}
    for m in municipalities():
        for name in {m.name, *m.aliases}:
            bucket = by_name.setdefault(fold_key(name), [])
            if m not in bucket:
                bucket.append(m)
    return by_code, by_name


def resolve_municipality(value: str, department: str | None = None) -> Municipality:
    """The municipality named by an INE code (1217), a name or a known alternate name
    ("Tecún Umán" is Ayutla, San Marcos), accents and case ignored.

    `department` (any form `resolve_department` accepts) narrows names used in several
    departments (San José, La Libertad, ...). Raises Invalid("municipality", ...) when unknown,
    ambiguous, or not in the given department.
    """
    text = str(value or "").strip()
    if not text:
        raise Invalid("municipality", phrase_label("empty"), code="empty")
    by_code, by_name = _municipality_index()
    dept_code = resolve_department(department) if department else None
    if text.isdigit() and len(text) in (3, 4):
        found = by_code.get(text.zfill(4))
        if found is None:
            raise _refused(f"unknown INE code {text!r}")
        candidates = [found]
    else:
        candidates = by_name.get(fold_key(text), [])
        if not candidates:
            raise _refused(f"unknown municipality {text!r}")
    if dept_code:
        in_dept = [m for m in candidates if m.department == dept_code]
        if not in_dept:
            raise _refused(f"{text!r} is not a municipality of {department_name(dept_code)}")
        candidates = in_dept
    if len(candidates) > 1:
        where = ", ".join(department_name(m.department) for m in candidates)
        raise _refused(f"{text!r} is ambiguous (in {where}): give the department")
    return candidates[0]


def _refused(code: str) -> Invalid:
    """A municipality refused: `code` (English, with the value) is what an import stores as the
    rejection's reason; people read it in their language (audiences/reasons.py)."""
    return Invalid("municipality", phrase_label(code), code=code)


def municipality_codes_matching(value: str) -> list[str]:
    """Every INE code a municipality name or code may mean (several for shared names)."""
    text = str(value or "").strip()
    by_code, by_name = _municipality_index()
    if text.isdigit() and text.zfill(4) in by_code:
        return [text.zfill(4)]
    return [m.code for m in by_name.get(fold_key(text), [])]


def border_municipality_codes(countries: Iterable[str] = BORDER_COUNTRIES) -> list[str]:
    """INE codes of the municipalities that border any of `countries` (MX, SV, HN, BZ)."""
    wanted = {c.strip().upper() for c in countries}
    unknown = wanted - set(BORDER_COUNTRIES)
    if unknown:
        raise Invalid(
            "border", _("unknown border country %(codes)s (use MX, SV, HN or BZ)", codes=sorted(unknown))
        )
    return [m.code for m in municipalities() if m.border in wanted]
