"""Typos reach nobody, silently (issue 10, defect 3), dates compared as text (defect 7), and custom
fields with a type (issue 12), through the `campaign` command run as a user runs it."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from audiences.models import Contact, CustomField
from audiences.segments import count
from tests.factories import declare_custom_fields, make_contact
from tests.subprocess_cli import run_cli, run_json


def _write(path, header, rows):
    """A contact file with a consent column (every import needs one, or --consent-source)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "consentimiento"])
        writer.writerows([*row, "feria (sintético)"] for row in rows)
    return path


def test_a_misspelled_field_or_segment_is_an_error_naming_the_closest_names(db_url):
    typo = run_cli("audiences", "count", 'departmnt = "San Marcos"', db_url=db_url)
    assert typo.returncode != 0 and typo.stdout == ""
    assert "departmnt" in typo.stderr and "department" in typo.stderr, typo.stderr
    segment = run_cli("audiences", "count", "border_yuth", db_url=db_url)
    assert segment.returncode != 0
    assert "border_yuth" in segment.stderr and "border_youth" in segment.stderr, segment.stderr
    saved = run_cli("audiences", "segment", "add", "jovenes", 'edad <= 24', "--name", "J", db_url=db_url)
    assert saved.returncode != 0 and "edad" in saved.stderr and "age" in saved.stderr


def test_custom_fields_are_known_once_imported(db_url, tmp_path):
    before = run_cli("audiences", "count", 'colonia = "El Carmen"', db_url=db_url)
    assert before.returncode != 0 and "colonia" in before.stderr
    path = _write(tmp_path / "c.csv", ["telefono", "colonia", "hijos"],
                  [["5555-0001", "El Carmen", "2"], ["5555-0002", "La Reforma", "0"]])
    imported = run_json("audiences", "import", str(path), "--json", db_url=db_url)
    assert imported["custom_fields"] == {"colonia": "text", "hijos": "number"}
    assert run_json("audiences", "count", 'colonia = "El Carmen"', "--json", db_url=db_url)["count"] == 1
    assert run_json("audiences", "count", "hijos >= 1", "--json", db_url=db_url)["count"] == 1
    assert run_json("audiences", "count", "hijos", "--json", db_url=db_url)["count"] == 1  # not 0
    typo = run_cli("audiences", "count", "hijo >= 1", db_url=db_url)
    assert typo.returncode != 0 and "hijos" in typo.stderr
    text_vs_number = run_cli("audiences", "count", 'hijos = "dos"', db_url=db_url)
    assert text_vs_number.returncode != 0 and "number" in text_vs_number.stderr


def test_a_value_that_does_not_fit_its_field_rejects_the_row(db_url, tmp_path, session):
    rows = [[f"5555-{i:04d}", str(i % 4)] for i in range(1, 20)] + [["5555-0100", "dos"]]
    path = _write(tmp_path / "hijos.csv", ["celular", "hijos"], rows)
    strict = run_cli("audiences", "import", str(path), "--report", str(tmp_path / "r.csv"), db_url=db_url)
    assert strict.returncode == 1  # all or nothing: one bad row stores nothing
    [rejected] = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert (rejected["row"], rejected["column"], rejected["value"]) == ("21", "hijos", "dos")
    assert rejected["reason"].startswith("hijos: not a number")
    done = run_json("audiences", "import", str(path), "--partial", "--json", db_url=db_url)
    assert done["imported"] == 19 and done["rejected"] == 1
    stored = {c.custom.get("hijos") for c in session.scalars(select(Contact))}
    assert stored <= {0, 1, 2, 3}  # numbers, never the text "dos"
    later = _write(tmp_path / "later.csv", ["celular", "hijos"], [["5555-0200", "tres"]])
    again = run_json("audiences", "import", str(later), "--partial", "--json", db_url=db_url)
    assert again["rejected"] == 1  # the field stays a number field


def test_date_columns_are_parsed_day_first_and_stored_as_dates(db_url, tmp_path, session):
    path = _write(tmp_path / "fechas.csv", ["telefono", "registro"], [
        ["5555-0001", "05/01/2027"], ["5555-0002", "20/01/2027"], ["5555-0003", "2027-02-01"],
    ])
    summary = run_json("audiences", "import", str(path), "--json", db_url=db_url)
    assert summary["custom_fields"] == {"registro": "date"}
    stored = sorted(c.custom["registro"] for c in session.scalars(select(Contact)))
    assert stored == ["2027-01-05", "2027-01-20", "2027-02-01"]
    assert session.scalar(select(CustomField.type).where(CustomField.key == "registro")) == "date"
    query = 'registro >= "2027-01-06" and registro < "2027-02-01"'
    assert run_json("audiences", "count", query, "--json", db_url=db_url)["count"] == 1


def test_invalid_and_ambiguous_dates_are_refused_with_row_and_column(db_url, tmp_path):
    path = _write(tmp_path / "fechas.csv", ["telefono", "registro"], [
        ["5555-0001", "05/01/2027"],  # row 2: ambiguous, the column also has month-first dates
        ["5555-0002", "01/25/2027"],  # row 3: only valid month-first
        ["5555-0003", "05/01/27"],  # row 4: two-digit year
        ["5555-0004", "31/02/2027"],  # row 5: no such day
        ["5555-0005", "20/01/2027"],  # row 6: fine
    ])
    result = run_cli("audiences", "import", str(path), "--report", str(tmp_path / "r.csv"), db_url=db_url)
    assert result.returncode == 1
    report = {r["row"]: r for r in csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8"))}
    assert set(report) == {"2", "3", "4", "5"} and {r["column"] for r in report.values()} == {"registro"}
    assert "ambiguous" in report["2"]["reason"] and "two-digit year" in report["4"]["reason"]
    month_first = _write(tmp_path / "us.csv", ["telefono", "registro"], [
        ["5555-0002", "01/25/2027"], ["5555-0001", "05/01/2027"]])
    done = run_json("audiences", "import", str(month_first), "--date-order", "mdy", "--json", db_url=db_url)
    assert done["imported"] == 2 and done["rejected"] == 0


def test_query_values_are_bound_with_the_fields_type_on_both_databases(db_url, session):
    declare_custom_fields(session, {"hijos": "number", "registro": "date", "colonia": "text"})
    make_contact(session, custom={"hijos": 2, "registro": "2027-01-05", "colonia": "10"})
    make_contact(session, custom={"hijos": 10, "registro": "2026-12-31", "colonia": "9"})
    make_contact(session, custom={"hijos": "dos", "registro": "05/01/2027"})  # from before types
    session.commit()
    expected = {
        "hijos >= 3": 1,  # 10 >= 3 as numbers (as text, "10" < "3")
        "hijos < 3": 1,
        'hijos = "2"': 1,  # a quoted number binds as a number
        'registro < "2027-01-01"': 1,  # as dates, never the text "05/01/2027"
        "colonia = 10": 1,  # a number binds as text for a text field
        'colonia > "8"': 1,  # text order: "9" > "8", "10" < "8"
        "hijos = null": 1,  # a value of the wrong type counts as missing, on both databases
    }
    for query, expected_count in expected.items():
        assert count(session, query, today=date(2027, 1, 1)).count == expected_count, query
    assert run_json("audiences", "count", "hijos >= 3", "--json", db_url=db_url)["count"] == 1


def test_offset_schedules_count_from_real_dates(db_url, tmp_path, session):
    """A contact date written 20/01/2027 (day first) is 20 January: not due on 10 January."""
    from tests.factories import make_sms_message

    make_sms_message(session, slug="bienvenida")
    session.commit()
    path = _write(tmp_path / "c.csv", ["telefono", "idioma", "registro"], [["5555-0001", "es", "20/01/2027"]])
    assert run_cli("audiences", "import", str(path), db_url=db_url).returncode == 0
    campaign = tmp_path / "campana.yaml"
    campaign.write_text(
        "slug: bienvenida\nname: Bienvenida\nsteps:\n"
        "  - id: tres-dias\n    message: bienvenida\n    query: 'not opted_out'\n"
        "    offset: {field: registro, days: 3, time: '09:00'}\n",
        encoding="utf-8",
    )
    created = run_cli("create", str(campaign), db_url=db_url)
    assert created.returncode == 0, created.stderr
    now = datetime(2027, 1, 10, 15, 0, tzinfo=UTC).isoformat()
    preview = run_json("preview", "bienvenida", "--now", now, "--json", db_url=db_url)
    assert preview["steps"][0]["recipients"] == 0  # 20 Jan + 3 days is not due on 10 Jan
    later = (datetime(2027, 1, 23, 14, 0, tzinfo=UTC) + timedelta(minutes=1)).isoformat()
    assert run_json("preview", "bienvenida", "--now", later, "--json", db_url=db_url)["steps"][0][
        "recipients"] == 1
    wrong = campaign.read_text(encoding="utf-8").replace("field: registro", "field: registr")
    campaign.write_text(wrong, encoding="utf-8")
    refused = run_cli("create", str(campaign), db_url=db_url)
    assert refused.returncode != 0 and "registro" in refused.stderr, refused.stderr


def test_a_campaign_step_with_a_misspelled_segment_is_refused_at_create(db_url, tmp_path, session):
    from tests.factories import make_sms_message

    make_sms_message(session, slug="aviso")
    session.commit()
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "slug: aviso\nname: Aviso\nsteps:\n"
        "  - id: uno\n    message: aviso\n    segment: border_yuth\n    at: '2027-01-11 10:00'\n",
        encoding="utf-8",
    )
    refused = run_cli("create", str(campaign), db_url=db_url)
    assert refused.returncode != 0
    assert "steps[0].segment" in refused.stderr and "border_youth" in refused.stderr, refused.stderr
    listed = run_json("list", "--json", db_url=db_url)
    assert listed == []
    json.dumps(listed)


def test_an_offset_from_05_01_2027_is_the_fifth_of_january_not_sent_at_once(db_url, tmp_path, session):
    """The issue's case: 05/01/2027 (day first) + 3 days is 8 January; the preview on 2 January
    sends nothing. Read month first (CAMPAIGN_DATE_ORDER=mdy), the same text is 1 May."""
    from tests.factories import make_sms_message

    make_sms_message(session, slug="bienvenida")
    session.commit()
    path = _write(tmp_path / "c.csv", ["telefono", "idioma", "registro"], [["5555-0001", "es", "05/01/2027"]])
    campaign = tmp_path / "campana.yaml"
    campaign.write_text(
        "slug: bienvenida\nname: Bienvenida\nsteps:\n"
        "  - id: tres-dias\n    message: bienvenida\n    query: 'not opted_out'\n"
        "    offset: {field: registro, days: 3, time: '09:00'}\n",
        encoding="utf-8",
    )
    for order, due, stored in (("dmy", 1, "2027-01-05"), ("mdy", 0, "2027-05-01")):
        env = {"CAMPAIGN_DATE_ORDER": order}
        assert run_cli("audiences", "import", str(path), db_url=db_url, env=env).returncode == 0
        session.expire_all()
        assert [c["registro"] for c in session.scalars(select(Contact.custom))] == [stored]
        assert run_cli("create", str(campaign), db_url=db_url, env=env).returncode == 0
        early = datetime(2027, 1, 2, 15, 0, tzinfo=UTC).isoformat()
        preview = run_json("preview", "bienvenida", "--now", early, "--json", db_url=db_url, env=env)
        assert preview["steps"][0]["recipients"] == 0, (order, preview["steps"][0])
        on_time = datetime(2027, 1, 8, 15, 1, tzinfo=UTC).isoformat()
        preview = run_json("preview", "bienvenida", "--now", on_time, "--json", db_url=db_url, env=env)
        assert preview["steps"][0]["recipients"] == due, (order, preview["steps"][0])
