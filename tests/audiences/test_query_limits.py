"""Segment queries have bounds: size, nesting, comparisons, numbers. Each is one clear error naming
the column, never a RecursionError or the database's "Expression tree is too large"; the largest
query allowed runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from audiences.query import MAX_COMPARISONS, MAX_NESTING, compile_query
from audiences.segments import count
from campaign.core.errors import Invalid
from tests.factories import make_contact
from tests.subprocess_cli import run_cli

TODAY = date(2027, 1, 11)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("not " * 500 + "opted_out", "nested more than 20 levels of and/or/not at column 81"),
        ("age > 1 and (" * 25 + "age > 1" + ")" * 25, "nested more than 20 levels"),
        (" or ".join(["(age > 1 and (age < 90 or not opted_out))"] * 7), None),  # fine: 3 levels
        ("hijos in (" + ", ".join(str(i) for i in range(1200)) + ")", "more than 500 comparisons"),
        (" and ".join(["age > 1"] * 501), "(each value of an in list counts) at column 6001"),
        ("age > " + "9" * 20, "a number has at most 15 digits at column 7"),
        ("hijos > " + "9" * 5000, "a number has at most 15 digits at column 9"),
        ("age < 200", "age 200 is out of range (0 to 150) at column 7"),
        ("birth_year > 99999", "birth_year 99999 is out of range (1 to 9999) at column 14"),
        ("age > 1 and " * 1000 + "age > 1", "longer than 10000 characters"),
    ],
)
def test_bounds_are_clear_errors(query, words):
    if words is None:
        compile_query(query, today=TODAY)
        return
    with pytest.raises(Invalid) as refused:
        compile_query(query, today=TODAY)
    assert refused.value.field == "query"
    assert words in refused.value.reason


def test_the_largest_query_allowed_runs_on_the_database(session):
    make_contact(session, custom={"hijos": 7}, birth_year=2000)
    make_contact(session, custom={"hijos": 900}, birth_year=2000)
    values = ", ".join(str(i) for i in range(MAX_COMPARISONS - MAX_NESTING))
    nested = "age > 1"
    for _ in range((MAX_NESTING - 1) // 2):  # two levels each, plus the top-level `and`
        nested = f"(age > 0 and ({nested} or age > 140))"
    query = f"hijos in ({values}) and {nested}"
    assert count(session, query, today=TODAY).count == 1


def test_audiences_count_refuses_a_hostile_query_in_one_line(db_url):
    result = run_cli("audiences", "count", "not " * 500 + "opted_out", db_url=db_url)
    assert result.returncode == 1, result.stdout
    assert "nested more than 20 levels" in result.stderr and "Traceback" not in result.stderr
    long_list = "hijos in (" + ",".join(map(str, range(1200))) + ")"
    result = run_cli("audiences", "count", long_list, db_url=db_url)
    assert result.returncode == 1
    assert "more than 500 comparisons" in result.stderr
