"""Phone normalization and the shipped geography table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiences.geography import (
    border_municipality_codes,
    departments,
    municipalities,
    resolve_department,
    resolve_municipality,
)
from audiences.phones import fast_guatemala, normalize_many, normalize_phone, timezone_for
from campaign.core.errors import Invalid


@pytest.mark.parametrize(
    ("raw", "e164", "country"),
    [
        ("5555-1234", "+50255551234", "GT"),
        ("+502 5555 1234", "+50255551234", "GT"),
        ("(502) 5555-1234", "+50255551234", "GT"),
        ("0050255551234", "+50255551234", "GT"),
        ("00502 5555 1234", "+50255551234", "GT"),
        ("502-5555-1234", "+50255551234", "GT"),
        ("5555.1234", "+50255551234", "GT"),
        (" 3123 4567 ", "+50231234567", "GT"),
        ("+52 962 123 4567", "+529621234567", "MX"),
        ("+504 9876 5432", "+50498765432", "HN"),
        ("+503 7012 3456", "+50370123456", "SV"),
        ("+501 610 1234", "+5016101234", "BZ"),
        ("+1 213 555 0143", "+12135550143", "US"),
    ],
)
def test_accepted_formats(raw, e164, country):
    number = normalize_phone(raw)
    assert (number.e164, number.country) == (e164, country)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("555", "too short"),
        ("+502 5555 12345", "wrong number of digits"),
        ("+502 5555 1234 5678 9012", "too long"),
        ("8123 4567", "not a valid number for GT"),
        ("no tiene", "not a phone number"),
    ],
)
def test_rejected_with_reason(raw, reason):
    with pytest.raises(Invalid) as info:
        normalize_phone(raw)
    assert info.value.field == "phone" and info.value.reason == reason


def test_landline_warns_mobile_does_not():
    landline = normalize_phone("2222 1234")
    assert landline.is_mobile is False and "landline" in landline.warning
    mobile = normalize_phone("5555 1234")
    assert mobile.is_mobile is True and mobile.warning is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=10_000_000, max_value=99_999_999),
    st.sampled_from(["{}", "+502 {}", "502-{}", "00502{}", "({}) ", "{}."]),
)
def test_fast_path_agrees_with_phonenumbers(number, template):
    raw = template.format(number)
    fast = fast_guatemala(raw)
    if fast is None:
        return  # the slow path answers; nothing to compare
    assert fast == normalize_phone(raw)


def test_normalize_many_gives_reasons():
    out = normalize_many(["5555-1234", "123", "5555-1234"])
    assert out["5555-1234"].e164 == "+50255551234" and out["123"] == "too short"


@pytest.mark.parametrize(
    ("e164", "zone"),
    [
        ("+50255551234", "America/Guatemala"),
        ("+50498765432", "America/Tegucigalpa"),
        ("+50370123456", "America/El_Salvador"),
        ("+5016101234", "America/Belize"),
    ],
)
def test_timezone_from_number(e164, zone):
    assert timezone_for(e164) == zone


def test_geography_counts_and_codes():
    assert len(departments()) == 22
    munis = municipalities()
    assert len(munis) == 340
    assert len({m.code for m in munis}) == 340
    for m in munis:
        assert len(m.code) == 4 and m.department == f"GT-{m.code[:2]}"
        assert m.border in (None, "MX", "SV", "HN", "BZ")
    per_dept = {d.code: sum(1 for m in munis if m.department == d.code) for d in departments()}
    assert per_dept["GT-12"] == 30 and per_dept["GT-13"] == 33 and per_dept["GT-01"] == 17


@pytest.mark.parametrize("value", ["San Marcos", "san marcos", "SAN MARCOS", "GT-12", "12", "GT-SM", "SM"])
def test_department_spellings(value):
    assert resolve_department(value) == "GT-12"


def test_department_accents_optional():
    assert resolve_department("Petén") == resolve_department("Peten") == "GT-17"
    assert resolve_department("Quiché") == resolve_department("El Quiche") == "GT-14"
    with pytest.raises(Invalid, match="unknown department 'Narnia'"):
        resolve_department("Narnia")


def test_municipality_names_and_aliases():
    ayutla = resolve_municipality("Ayutla")
    assert resolve_municipality("Tecún Umán") == resolve_municipality("tecun uman") == ayutla
    assert (ayutla.code, ayutla.department, ayutla.border) == ("1217", "GT-12", "MX")
    assert resolve_municipality("La Democracia", "Huehuetenango").border == "MX"
    assert resolve_municipality("Esquipulas", "Chiquimula").border == "HN"
    assert resolve_municipality("Melchor de Mencos").border == "BZ"
    assert resolve_municipality("Asunción Mita").border == "SV"
    assert resolve_municipality("1217") == ayutla


def test_ambiguous_municipality_needs_department():
    with pytest.raises(Invalid, match="ambiguous"):
        resolve_municipality("San José")
    assert resolve_municipality("San José", "Escuintla").code == "0509"
    with pytest.raises(Invalid, match="not a municipality of Zacapa"):
        resolve_municipality("Ayutla", "Zacapa")


def test_border_codes_by_country():
    mx = set(border_municipality_codes(["MX"]))
    assert {"1217", "1215"} <= mx
    assert "2007" in border_municipality_codes(["HN"])  # Esquipulas
    assert set(border_municipality_codes()) >= mx
    with pytest.raises(Invalid):
        border_municipality_codes(["XX"])
