"""Custom field types, pure: number and date parsing, type inference, ambiguous dates."""

from __future__ import annotations

from datetime import date

import pytest

from audiences.fields import infer_type, parse_column, parse_date, parse_number
from audiences.models import FieldType
from campaign.core.errors import Invalid


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("05/01/2027", "dmy", date(2027, 1, 5)),  # Guatemala writes day first
        ("05/01/2027", "mdy", date(2027, 5, 1)),
        ("5-1-2027", "dmy", date(2027, 1, 5)),
        ("05.01.2027", "dmy", date(2027, 1, 5)),
        ("2027-01-05", "dmy", date(2027, 1, 5)),  # ISO is ISO whatever the order
        ("2027-01-05", "mdy", date(2027, 1, 5)),
        ("2027-01-05 00:00:00", "dmy", date(2027, 1, 5)),  # as pandas reads an XLSX date cell
        ("2027/1/5", "ymd", date(2027, 1, 5)),
    ],
)
def test_dates_are_read_in_the_configured_order(text, order, expected):
    assert parse_date(text, order) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("05/01/27", "two-digit year"),
        ("31/02/2027", "not a valid day/month/year date"),
        ("13/25/2027", "not a valid day/month/year date"),
        ("mañana", "not a date like"),
        ("1850-01-01", "between 1900 and 2100"),
    ],
)
def test_bad_dates_say_why(text, why):
    with pytest.raises(Invalid) as info:
        parse_date(text, "dmy")
    assert why in info.value.reason


def test_numbers_are_plain_numbers():
    assert parse_number("3") == 3 and parse_number("-2.5") == -2.5
    for text in ("dos", "1,5", "3 hijos", "", "1e3"):
        with pytest.raises(ValueError):
            parse_number(text)


def test_a_new_column_is_typed_by_most_of_its_values():
    assert infer_type(["0", "1", "2", "3"]) == FieldType.NUMBER
    assert infer_type({"0": 40, "1": 30, "2": 20, "dos": 1}) == FieldType.NUMBER  # a typo, rejected
    assert infer_type(["0", "1", "2", "dos"]) == FieldType.TEXT  # one row in four is no typo
    assert infer_type(["05/01/2027", "2027-02-01", "31/12/2026"]) == FieldType.DATE
    assert infer_type(["El Carmen", "La Reforma", "3"]) == FieldType.TEXT
    assert infer_type([]) == FieldType.TEXT


def test_a_value_that_does_not_fit_is_an_error_naming_the_field():
    parsed = parse_column("hijos", ["1", "dos", "2"], FieldType.NUMBER)
    assert parsed.values == {"1": 1, "2": 2}
    assert parsed.errors["dos"].startswith("hijos: ")


def test_day_month_dates_are_ambiguous_when_the_column_is_also_month_first():
    parsed = parse_column("registro", ["05/01/2027", "01/25/2027", "20/01/2027", "07/07/2027"],
                          FieldType.DATE, order="dmy")
    assert parsed.values == {"20/01/2027": "2027-01-20", "07/07/2027": "2027-07-07"}
    assert "ambiguous" in parsed.errors["05/01/2027"]
    assert "--date-order mdy" in parsed.errors["05/01/2027"]
    assert "registro" in parsed.errors["01/25/2027"]
    clean = parse_column("registro", ["05/01/2027", "20/01/2027"], FieldType.DATE, order="dmy")
    assert clean.values == {"05/01/2027": "2027-01-05", "20/01/2027": "2027-01-20"} and not clean.errors


def test_upgrade_learns_the_custom_fields_contacts_already_hold(migrated_engine):
    """Databases from before field types: each key's type is read from the stored values."""
    import json

    import sqlalchemy as sa
    from alembic import command

    from audiences.fields import known_fields
    from campaign.core.db import make_sessionmaker
    from campaign.schema import alembic_config, upgrade

    command.upgrade(alembic_config(migrated_engine), "0005")
    contacts = sa.table("contacts", *(sa.column(n) for n in ("phone", "custom", "status",
                                                              "created_at", "updated_at")))
    stamp = "2027-01-01 00:00:00"
    values = [
        {"hijos": 2, "registro": "2027-01-05", "colonia": "El Carmen", "mixto": 1},
        {"hijos": 0, "registro": "2026-12-31", "colonia": "5", "mixto": "dos"},
        {},
    ]
    with migrated_engine.begin() as connection:
        for n, custom in enumerate(values):
            connection.execute(sa.insert(contacts).values(
                phone=f"+5023990{n:04d}", custom=json.dumps(custom), status="active",
                created_at=stamp, updated_at=stamp,
            ))
    upgrade(migrated_engine)
    with make_sessionmaker(migrated_engine)() as session:
        assert known_fields(session) == {
            "hijos": FieldType.NUMBER, "registro": FieldType.DATE,
            "colonia": FieldType.TEXT, "mixto": FieldType.TEXT,
        }
