"""Importing messy contact files: formats, encodings, duplicates, rejections, dry run, fatal errors."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select

from audiences.importer import import_file, write_report
from audiences.models import ConsentEvent, Contact, ContactStatus, ImportBatch, ImportRejection
from campaign.core.errors import Invalid
from tests.factories import make_contact

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOURCE = "feria de salud (synthetic test data)"
MESSY = [
    ["Teléfono", "Nombre", "Idioma", "Departamento", "Municipio", "Edad", "Sexo", "Hogar", "Hijos"],
    ["5555-1234", "Ana Sintética", "K'iche'", "Quiché", "Nebaj", "17", "F", "madre soltera", "2"],
    ["+502 4444 1234", "Rosa", "Español", "San Marcos", "Tecún Umán", "19", "Mujer", "", ""],
    ["12345", "Bad Phone", "es", "", "", "", "", "", ""],  # row 4: too short
    ["(502) 5555-1234", "", "quc", "", "", "", "", "", "3"],  # row 5: duplicate of row 2, newer
    ["3333 2222", "Luis", "klingon", "", "", "", "", "", ""],  # row 6: unknown language
    ["3333 2223", "Tomás", "mam", "Narnia", "", "", "", "", ""],  # row 7: unknown department
    ["+52 962 123 4567", "Migrante", "spanish", "GT-SM", "Ayutla", "22", "M", "", ""],
    ["2222 1234", "Oficina", "es", "Guatemala", "Mixco", "", "", "", ""],  # landline: warning
]


def _write_csv(path, rows, *, delimiter=",", encoding="utf-8"):
    with path.open("w", newline="", encoding=encoding) as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def _contacts(session):
    return {c.phone: c for c in session.scalars(select(Contact))}


@pytest.mark.parametrize(
    ("delimiter", "encoding", "suffix"),
    [(",", "utf-8", ".csv"), (";", "utf-8-sig", ".csv"), ("\t", "cp1252", ".txt"), ("|", "latin-1", ".csv")],
)
def test_messy_csv_exact_counts(session, tmp_path, delimiter, encoding, suffix):
    path = _write_csv(tmp_path / f"contacts{suffix}", MESSY, delimiter=delimiter, encoding=encoding)
    summary = import_file(session, path, consent_source=SOURCE, partial=True, now=NOW)
    assert (summary.rows, summary.imported, summary.updated, summary.duplicates, summary.rejected) == (
        8,
        4,
        0,
        1,
        3,
    )
    assert summary.rejected_by_reason == {
        "phone: too short": 1,
        "language: unknown language": 1,
        "department: unknown department": 1,
    }
    assert summary.warnings == 1
    contacts = _contacts(session)
    ana = contacts["+50255551234"]
    # newer non-empty values win, empty ones keep the earlier value
    assert (ana.name, ana.language, ana.department, ana.municipality_code) == (
        "Ana Sintética",
        "quc",
        "GT-14",
        "1413",
    )
    assert ana.birth_year == 2008 and ana.sex == "F" and ana.household == "single_mother"
    assert ana.custom == {"hijos": 3}
    rosa = contacts["+50244441234"]
    assert (rosa.municipality_code, rosa.department, rosa.language) == ("1217", "GT-12", "es")
    migrant = contacts["+529621234567"]
    assert migrant.country == "MX" and migrant.timezone == "America/Mexico_City"
    assert contacts["+50222221234"].timezone == "America/Guatemala"
    reasons = {(r.row, r.reason) for r in session.scalars(select(ImportRejection))}
    assert (4, "phone: too short") in reasons and (6, "language: unknown language") in reasons
    assert (7, "department: unknown department") in reasons
    assert any(row == 9 and reason.startswith("phone: landline") for row, reason in reasons)


def test_report_names_row_column_value_reason(session, tmp_path):
    path = _write_csv(tmp_path / "c.csv", MESSY)
    summary = import_file(session, path, consent_source=SOURCE, partial=True, now=NOW)
    report = tmp_path / "rejects.csv"
    write_report(report, summary)
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert {"row": "4", "column": "Teléfono", "value": "12345", "reason": "phone: too short"} in rows
    assert {
        "row": "7",
        "column": "Departamento",
        "value": "Narnia",
        "reason": "department: unknown department",
    } in rows


def test_xlsx(session, tmp_path):
    path = tmp_path / "contacts.xlsx"
    pd.DataFrame(MESSY[1:], columns=MESSY[0]).to_excel(path, index=False)
    summary = import_file(session, path, consent_source=SOURCE, partial=True, now=NOW)
    assert (summary.imported, summary.duplicates, summary.rejected) == (4, 1, 3)


def test_against_database_merge_and_opt_out_kept(session, tmp_path):
    make_contact(
        session,
        phone="+50255551234",
        name="Old Name",
        language="es",
        status=ContactStatus.OPTED_OUT,
        custom={"keep": "yes"},
    )
    path = _write_csv(
        tmp_path / "c.csv",
        [["celular", "nombre", "idioma"], ["5555 1234", "", "mam"], ["4444 0000", "Nueva", ""]],
    )
    summary = import_file(session, path, consent_source=SOURCE, partial=True, now=NOW)
    assert (summary.imported, summary.updated) == (1, 1)
    session.expire_all()
    old = _contacts(session)["+50255551234"]
    assert old.status == ContactStatus.OPTED_OUT  # an import never undoes an opt-out
    assert (old.name, old.language, old.custom) == ("Old Name", "mam", {"keep": "yes"})
    again = import_file(session, path, consent_source=SOURCE, now=NOW)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)


def test_dry_run_writes_nothing(session, tmp_path):
    path = _write_csv(tmp_path / "c.csv", MESSY)
    summary = import_file(session, path, consent_source=SOURCE, dry_run=True, now=NOW)
    assert summary.imported == 4 and summary.dry_run
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.pdf", b"%PDF-1.4", "wrong file type .pdf"),
        ("c.csv", b"PK\x03\x04binaryzip", "wrong file type"),
        ("c.csv", b"t\x00e\x00l\x00\n\x001\x00", "unreadable encoding"),
        ("c.csv", b"nombre,idioma\nAna,es\n", "no phone column"),
        ("c.xlsx", b"not a workbook", "not a readable XLSX"),
    ],
)
def test_fatal_errors_leave_database_unchanged(session, tmp_path, name, content, message):
    make_contact(session, phone="+50230000001")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Invalid, match=message):
        import_file(session, path, consent_source=SOURCE, now=NOW)
    assert session.scalar(select(func.count()).select_from(Contact)) == 1
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_map_override_and_bad_map(session, tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["numero_wa", "lengua materna"], ["5555 1234", "Kaqchikel"]])
    summary = import_file(
        session,
        path,
        mapping={"numero_wa": "phone", "lengua materna": "language"},
        now=NOW,
        consent_source=SOURCE,
    )
    assert summary.imported == 1 and _contacts(session)["+50255551234"].language == "cak"
    with pytest.raises(Invalid, match="no column 'nope'"):
        import_file(session, path, consent_source=SOURCE, mapping={"nope": "phone"}, now=NOW)


def test_ragged_rows_rejected_with_line(session, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "telefono,nombre\n5555 1234,Ana\n4444 1234,Luis,extra,cols\n3333 1234,Rosa\n", encoding="utf-8"
    )
    summary = import_file(session, path, consent_source=SOURCE, partial=True, now=NOW)
    assert (summary.imported, summary.rejected) == (2, 1)
    assert summary.rejected_by_reason == {"row: wrong number of columns": 1}
    assert summary.report[0][0] == 3


def test_all_or_nothing_by_default(session, tmp_path):
    """A file with rejected rows writes nothing unless asked for a partial import; the report is full."""
    make_contact(session, phone="+50230000001")
    path = _write_csv(tmp_path / "c.csv", MESSY)
    summary = import_file(session, path, consent_source=SOURCE, now=NOW)
    assert summary.aborted and summary.rejected == 3
    assert {r[3] for r in summary.report} >= {"phone: too short", "department: unknown department"}
    assert session.scalar(select(func.count()).select_from(Contact)) == 1
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_clean_file_imports_by_default(session, tmp_path):
    path = _write_csv(tmp_path / "c.csv", [MESSY[0], MESSY[1], MESSY[2]])
    summary = import_file(session, path, consent_source=SOURCE, now=NOW)
    assert not summary.aborted and (summary.imported, summary.rejected) == (2, 0)


def test_stages_are_reported_in_order_for_progress_bars(session, tmp_path):
    from audiences.importer import IMPORT_STAGES

    seen: list[str] = []
    path = _write_csv(tmp_path / "c.csv", [MESSY[0], MESSY[1]])
    import_file(session, path, consent_source=SOURCE, now=NOW, on_stage=seen.append)
    assert tuple(seen) == IMPORT_STAGES


def test_a_file_without_consent_is_refused_and_nothing_is_stored(session, tmp_path):
    make_contact(session, phone="+50230000001")
    path = _write_csv(tmp_path / "c.csv", [MESSY[0], MESSY[1], MESSY[2]])
    with pytest.raises(Invalid, match="no consent column") as refused:
        import_file(session, path, now=NOW)
    assert refused.value.field == "consent" and "consent source for the whole file" in refused.value.reason
    assert "--" not in refused.value.message  # the web shows it too: the option is the CLI's hint
    assert "--consent-source" in (refused.value.cli_hint or "")
    assert session.scalar(select(func.count()).select_from(Contact)) == 1
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_consent_source_for_the_whole_file_is_one_consent_event_per_contact(session, tmp_path):
    path = _write_csv(tmp_path / "c.csv", [MESSY[0], MESSY[1], MESSY[2]])
    summary = import_file(session, path, now=NOW, consent_source=SOURCE, imported_by="ana")
    assert summary.consented == 2 and summary.without_consent == 0
    events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.contact_id)).all()
    assert [(e.kind, e.channel, e.source, e.recorded_by, e.at) for e in events] == [
        ("opt_in", "import", SOURCE, "ana", NOW)
    ] * 2
    assert {c.consent_source for c in _contacts(session).values()} == {SOURCE}
    assert all(c.consent_at == NOW for c in _contacts(session).values())


def test_a_consent_column_gives_each_row_its_source_and_no_means_no(session, tmp_path):
    rows = [
        ["telefono", "consentimiento"],
        ["5555 0101", "formulario escuela"],
        ["5555 0102", "sí"],
        ["5555 0103", "No"],
        ["5555 0104", ""],  # empty, and no source for the whole file: rejected
    ]
    path = _write_csv(tmp_path / "c.csv", rows)
    strict = import_file(session, path, now=NOW)
    assert strict.aborted and strict.report[0][1:] == (
        "consentimiento",
        "",
        "consent: empty (say where this person agreed to receive messages, or give --consent-source)",
    )
    summary = import_file(session, path, now=NOW, consent_source="feria", imported_by="ana")
    assert (summary.imported, summary.consented, summary.without_consent) == (4, 3, 1)
    contacts = _contacts(session)
    assert [contacts[f"+5025555010{i}"].consent_source for i in range(1, 5)] == [
        "formulario escuela",
        "feria",
        None,
        "feria",
    ]
    assert contacts["+50255550103"].consent_at is None  # imported, never sent a blast (no_consent)
    sources = session.scalars(select(ConsentEvent.source).order_by(ConsentEvent.source)).all()
    assert sources == ["feria", "feria", "formulario escuela"]


def test_an_import_gives_consent_to_a_stored_sender_but_never_changes_an_opt_out(session, tmp_path):
    sender = make_contact(session, phone="+50255550101", consent=False)
    gone = make_contact(session, phone="+50255550102", status=ContactStatus.OPTED_OUT, consent=False)
    path = _write_csv(tmp_path / "c.csv", [["telefono"], ["5555 0101"], ["5555 0102"]])
    summary = import_file(session, path, now=NOW, consent_source="feria", imported_by="ana")
    assert summary.consented == 1
    session.expire_all()
    assert (sender.consent_source, sender.consent_at) == ("feria", NOW)
    assert gone.status == ContactStatus.OPTED_OUT and gone.consent_at is None
    events = session.scalars(select(ConsentEvent)).all()
    assert [(e.contact_id, e.source) for e in events] == [(sender.id, "feria")]
    again = import_file(session, path, now=NOW, consent_source="otra feria")
    assert again.consented == 0 and session.scalar(select(func.count()).select_from(ConsentEvent)) == 1
