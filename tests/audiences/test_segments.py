"""Segment language and counts: SQL results agree with a pandas computation over the same data."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audiences.geography import municipalities
from audiences.models import Contact, ContactStatus
from audiences.query import compile_query
from audiences.segments import count, ensure_builtin_segments, list_segments
from campaign.core.errors import Invalid
from tests.factories import declare_custom_fields, make_contact

TODAY = date(2025, 6, 1)
BORDER = {m.code: m.border for m in municipalities() if m.border}
MUNIS = ["1217", "1215", "1301", "2007", "2205", "0101", "1711", None]
LANGS = ["es", "quc", "mam", "kek", None]
HOUSEHOLDS = ["single_mother", "two_parents", None]


def _seed(session, rows):
    declare_custom_fields(session, {"adolescent_children": "number"})  # as if imported
    for i, (muni, year, lang, household, status, country, kids) in enumerate(rows):
        make_contact(
            session,
            phone=f"+5023{i:07d}",
            municipality_code=muni,
            department=None if muni is None else f"GT-{muni[:2]}",
            birth_year=year,
            language=lang,
            household=household,
            status=status,
            country=country,
            custom={} if kids is None else {"adolescent_children": kids},
        )
    return pd.DataFrame(rows, columns=["muni", "year", "lang", "household", "status", "country", "kids"])


ROW = st.tuples(
    st.sampled_from(MUNIS),
    st.one_of(st.none(), st.integers(1950, 2020)),
    st.sampled_from(LANGS),
    st.sampled_from(HOUSEHOLDS),
    st.sampled_from(list(ContactStatus)),
    st.sampled_from(["GT", "GT", "MX", "HN"]),
    st.one_of(st.none(), st.integers(0, 3)),
)


def _expected(df: pd.DataFrame) -> dict[str, int]:
    age = TODAY.year - df["year"]
    border = df["muni"].map(lambda m: BORDER.get(m) if m else None)
    on_border = border.notna()
    return {
        "border_youth": int((on_border & age.between(13, 24)).sum()),
        "single_mother_households": int((df["household"] == "single_mother").sum()),
        "parents_of_adolescents": int((df["kids"].fillna(0) >= 1).sum()),
        "indigenous_language_speakers": int(df["lang"].isin(["quc", "mam", "kek", "cak", "kjb"]).sum()),
        "migrants_in_transit": int((on_border & (df["country"] != "GT")).sum()),
        'border = "MX" and not opted_out': int(((border == "MX") & (df["status"] != "opted_out")).sum()),
        'language != "es" or age < 18': int(((df["lang"] != "es") | (age < 18)).sum()),
        'not (household = "single_mother")': int((df["household"] != "single_mother").sum()),
    }


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=0, max_size=25))
def test_counts_agree_with_pandas(session, rows):
    session.query(Contact).delete()
    df = _seed(session, rows)
    for query, expected in _expected(df).items():
        assert count(session, query, today=TODAY).count == expected, query


def test_breakdown_sums_to_count(session):
    rows = [
        ("1217", 2008, "mam", None, "active", "GT", 1),
        ("1215", 2005, "es", None, "active", "MX", None),
        ("2007", 2010, None, None, "active", "HN", None),
        ("0101", 2008, "es", None, "active", "GT", None),
    ]
    _seed(session, rows)
    result = count(session, "border_youth", today=TODAY, by="border")
    assert result.count == 3 and result.breakdown == {"MX": 2, "HN": 1}
    by_lang = count(session, "age between 13 and 24", today=TODAY, by="language")
    assert by_lang.breakdown == {"es": 2, "(none)": 1, "mam": 1}
    with pytest.raises(Invalid, match="cannot break down by 'shoe_size'"):
        count(session, "border", today=TODAY, by="shoe_size")


def test_municipality_alias_and_department_name(session):
    _seed(
        session,
        [("1217", 2000, "es", None, "active", "GT", None), ("1215", 2000, "es", None, "active", "GT", None)],
    )
    assert count(session, 'municipality = "Tecún Umán"', today=TODAY).count == 1
    assert count(session, 'department = "San Marcos" and age >= 13', today=TODAY).count == 2
    assert count(session, 'municipality in ("Ayutla", "Malacatán")', today=TODAY).count == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("department = ", "query ends too early at column 13"),
        ("age >> 3", "unexpected '>' at column 6"),
        ('department = "Narnia"', "unknown department 'Narnia' at column 14"),
        ("age betwen 1 and 2", "unexpected 'betwen' at column 5"),
        ('language = "klingon"', "unknown language 'klingon' at column 12"),
        ("(age > 3", "query ends too early at column 9"),
        ("age = 3 @", "unexpected character '@' at column 9"),
    ],
)
def test_query_errors_point_at_position(query, message):
    with pytest.raises(Invalid) as info:
        compile_query(query, today=TODAY)
    assert info.value.field == "query" and info.value.reason == message


def test_builtins_created_once(session):
    assert ensure_builtin_segments(session) == 5
    assert ensure_builtin_segments(session) == 0
    slugs = {s.slug for s in list_segments(session)}
    assert {
        "border_youth",
        "single_mother_households",
        "parents_of_adolescents",
        "indigenous_language_speakers",
        "migrants_in_transit",
    } <= slugs
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
