"""The translator round trip: XLSX edited with openpyxl as a translator would, and PO."""

from __future__ import annotations

from datetime import UTC, datetime

import polib
from openpyxl import load_workbook

from messages import library
from messages.packload import load_pack
from messages.translations import export_rows, import_rows, read_rows, write_po, write_xlsx
from tests.messages.conftest import message

NOW = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)


def _pack(write_pack):
    first = message("mensaje-a", variables=["organizacion", "policia"],
                    body="{{ organizacion }}: llama al {{ policia }}. BAJA para salir")
    first["translations"]["quc"] = {"status": "needs_review",
                                    "body": "{{ organizacion }}: {{ policia }} ri. BAJA"}
    return write_pack("p", [first, message("mensaje-b"), message("mensaje-c"), message("mensaje-d")])


def _rows_by_slug(sheet):
    header = [c.value for c in sheet[1]]
    return header, {sheet.cell(row=r, column=1).value: r for r in range(2, sheet.max_row + 1)}


def test_xlsx_round_trip_changes_exactly_the_edited_rows(session, write_pack, tmp_path):
    load_pack(session, _pack(write_pack), now=NOW)
    path = tmp_path / "quc.xlsx"
    write_xlsx(export_rows(session, language="quc", only="all"), path, language="quc")

    workbook = load_workbook(path)
    sheet = workbook.active
    header, row_of = _rows_by_slug(sheet)
    col = {name: header.index(name) + 1 for name in header}
    assert sheet.cell(row=row_of["mensaje-a"], column=col["hint"]).value.startswith("=LEN(E")
    assert sheet.cell(row=row_of["mensaje-a"], column=col["status"]).value == "needs_review"
    # the translator fills in two rows, breaks the variables of one, and leaves one alone
    edit = sheet.cell(row=row_of["mensaje-b"], column=col["translation"])
    edit.value = "{{ organizacion }}: utz awach. BAJA"
    sheet.cell(row=row_of["mensaje-b"], column=col["notes"]).value = "k'amom"
    sheet.cell(row=row_of["mensaje-a"], column=col["translation"]).value = \
        "{{ organizacion }}: chaq’ij {{ policia }}. BAJA"
    sheet.cell(row=row_of["mensaje-c"], column=col["translation"]).value = "{{ organisacion }}: utz. BAJA"
    workbook.save(path)

    # meanwhile the Spanish source of mensaje-b... stays; mensaje-d is untouched
    report = import_rows(session, read_rows(path), now=LATER)
    assert report.added == [f"row {row_of['mensaje-b']} (mensaje-b/quc)"]
    assert report.updated == [f"row {row_of['mensaje-a']} (mensaje-a/quc)"]
    assert len(report.refused) == 1
    assert report.refused[0].startswith(f"row {row_of['mensaje-c']} (mensaje-c/quc): variables")
    a = library.get_translation(session, "mensaje-a", "quc")
    assert a.body == "{{ organizacion }}: chaq'ij {{ policia }}. BAJA"  # apostrophe normalized
    assert a.version == 2 and a.status == "needs_review"
    b = library.get_translation(session, "mensaje-b", "quc")
    assert b.status == "needs_review" and b.notes == "k'amom" and b.version == 1
    for slug in ("mensaje-c", "mensaje-d"):
        assert all(t.language != "quc" for t in library.get_message(session, slug).translations)
    # importing the same file again changes nothing more
    again = import_rows(session, read_rows(path), now=LATER)
    assert again.added == [] and again.updated == [] and len(again.refused) == 1


def test_stale_rows_are_refused_with_row_numbers(session, write_pack, tmp_path):
    load_pack(session, _pack(write_pack), now=NOW)
    path = tmp_path / "quc.xlsx"
    write_xlsx(export_rows(session, language="quc", only="missing"), path, language="quc")
    workbook = load_workbook(path)
    sheet = workbook.active
    header, row_of = _rows_by_slug(sheet)
    assert "mensaje-a" not in row_of  # already has a K'iche' text: not missing
    sheet.cell(row=row_of["mensaje-b"], column=5).value = "{{ organizacion }}: utz. BAJA"
    sheet.cell(row=row_of["mensaje-c"], column=5).value = "{{ organizacion }}: utz c. BAJA"
    workbook.save(path)
    # the Spanish of mensaje-b changes after the export
    es = library.get_translation(session, "mensaje-b", "es")
    library.set_body(session, es, body="{{ organizacion }}: nuevo texto. BAJA", now=LATER, by="editor")

    report = import_rows(session, read_rows(path), now=LATER)
    assert report.refused == [f"row {row_of['mensaje-b']} (mensaje-b/quc): the Spanish source changed "
                              "since export (stale); export again"]
    assert report.added == [f"row {row_of['mensaje-c']} (mensaje-c/quc)"]
    assert all(t.language != "quc" for t in library.get_message(session, "mensaje-b").translations)


def test_dry_run_changes_nothing_and_reviewer_approves(session, write_pack, tmp_path):
    load_pack(session, _pack(write_pack), now=NOW)
    path = tmp_path / "quc.xlsx"
    write_xlsx(export_rows(session, language="quc", only="all"), path, language="quc")
    workbook = load_workbook(path)
    sheet = workbook.active
    _, row_of = _rows_by_slug(sheet)
    sheet.cell(row=row_of["mensaje-b"], column=5).value = "{{ organizacion }}: utz. BAJA"
    sheet.cell(row=row_of["mensaje-b"], column=6).value = "approved"
    workbook.save(path)
    dry = import_rows(session, read_rows(path), now=LATER, dry_run=True)
    assert dry.added
    assert all(t.language != "quc" for t in library.get_message(session, "mensaje-b").translations)
    # without a named reviewer "approved" in the sheet is not trusted
    import_rows(session, read_rows(path), now=LATER)
    assert library.get_translation(session, "mensaje-b", "quc").status == "needs_review"
    import_rows(session, read_rows(path), now=LATER, reviewer="Revisora")
    b = library.get_translation(session, "mensaje-b", "quc")
    assert b.status == "approved" and b.reviewer == "Revisora"


def test_po_round_trip(session, write_pack, tmp_path):
    load_pack(session, _pack(write_pack), now=NOW)
    path = tmp_path / "quc.po"
    write_po(export_rows(session, language="quc", only="all"), path, language="quc")
    po = polib.pofile(str(path))
    entry = next(e for e in po if e.msgctxt == "mensaje-d")
    entry.msgstr = "{{ organizacion }}: utz d. BAJA"
    stale = next(e for e in po if e.msgctxt == "mensaje-c")
    stale.msgid = "{{ organizacion }}: otra fuente"
    stale.msgstr = "{{ organizacion }}: x. BAJA"
    po.save(str(path))
    report = import_rows(session, read_rows(path), now=LATER)
    assert len(report.added) == 1 and "mensaje-d/quc" in report.added[0]
    assert len(report.refused) == 1 and "mensaje-c/quc" in report.refused[0] and "stale" in report.refused[0]
    assert report.refused[0].startswith(f"row {stale.linenum} ")
