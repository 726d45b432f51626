"""Radio spots reach translators (issue 10, defect 10): `messages export-translations` includes every
radio spot, with its slot length and a read-time hint per row, the format follows `--out`'s extension
(or a mismatch is refused), and the returned script comes back as a script. Through the `campaign`
command run as a user runs it; the Mam words below are synthetic test text, not a translation."""

from __future__ import annotations

import json

import polib
from openpyxl import load_workbook

from tests.subprocess_cli import run_cli, run_json

SPOTS = {
    "spot-coyotes",
    "spot-documentos",
    "spot-mendicidad",
    "spot-nina-trabajo-domestico",
    "spot-oferta-trabajo",
    "spot-redes-sociales",
    "spot-violencia-hogar",
}


def test_export_includes_radio_spots_with_slot_and_read_time(db_url, tmp_path):
    assert run_cli("messages", "load", db_url=db_url).returncode == 0
    po_path = tmp_path / "mam.po"
    written = run_cli(
        "messages", "export-translations", "--lang", "mam", "--out", str(po_path), db_url=db_url
    )
    assert written.returncode == 0, written.stderr
    po = polib.pofile(str(po_path))  # a PO file, not an XLSX named .po
    spots = {e.msgctxt: e for e in po if e.msgctxt in SPOTS}
    assert set(spots) == SPOTS
    comment = " ".join(spots["spot-mendicidad"].comment.split())  # PO wraps long comments
    entry = spots["spot-mendicidad"]
    assert "slot: 20 s" in comment and "Spanish reads in about" in comment
    assert "syllables in mam" in comment
    assert entry.msgid.splitlines()[0] == "[EFECTO 1 s] Ruido de calle y tráfico"
    assert entry.msgid.splitlines()[1].startswith("LOCUTOR: Niños pidiendo dinero")

    xlsx_path = tmp_path / "mam.xlsx"
    assert (
        run_cli(
            "messages", "export-translations", "--lang", "mam", "--out", str(xlsx_path), db_url=db_url
        ).returncode
        == 0
    )
    sheet = load_workbook(xlsx_path).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    by_slug = {r[header.index("slug")]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert SPOTS <= set(by_slug)
    for slug in SPOTS:
        row = by_slug[slug]
        assert row["channel"] == "radio" and row["slot_seconds"] in (15, 20, 30, 45, 60), row
        assert f"{row['slot_seconds']} s slot" in row["hint"] and "Spanish reads in about" in row["hint"]
    assert by_slug["bienvenida"]["channel"] == "sms"


def test_the_format_follows_the_file_name_or_a_mismatch_is_refused(db_url, tmp_path):
    assert run_cli("messages", "load", db_url=db_url).returncode == 0
    mismatch = run_cli(
        "messages",
        "export-translations",
        "--lang",
        "quc",
        "--out",
        str(tmp_path / "x.po"),
        "--format",
        "xlsx",
        db_url=db_url,
    )
    assert mismatch.returncode == 2 and "x.po" in mismatch.stderr, mismatch.stderr
    assert not (tmp_path / "x.po").exists()
    unknown = run_cli(
        "messages", "export-translations", "--lang", "quc", "--out", str(tmp_path / "x.txt"), db_url=db_url
    )
    assert unknown.returncode == 2 and "--format" in unknown.stderr
    assert not (tmp_path / "x.txt").exists()
    named = run_cli(
        "messages",
        "export-translations",
        "--lang",
        "quc",
        "--out",
        str(tmp_path / "x.po"),
        "--format",
        "po",
        db_url=db_url,
    )
    assert named.returncode == 0 and polib.pofile(str(tmp_path / "x.po"))


def test_a_returned_spot_comes_back_as_a_script(db_url, tmp_path):
    assert run_cli("messages", "load", db_url=db_url).returncode == 0
    path = tmp_path / "mam.po"
    assert (
        run_cli(
            "messages", "export-translations", "--lang", "mam", "--out", str(path), db_url=db_url
        ).returncode
        == 0
    )
    po = polib.pofile(str(path))
    entry = next(e for e in po if e.msgctxt == "spot-mendicidad")
    entry.msgstr = (
        "[EFECTO 1 s] Ruido de calle y tráfico\n"
        "LOCUTOR: Texto de prueba uno.\n"
        "LOCUTOR: Texto de prueba {{ policia }}, si falta un niño {{ alba_keneth }}.\n"
        "[MÚSICA 1 s] Cierre"
    )
    entry.flags.append("fuzzy")
    broken = next(e for e in po if e.msgctxt == "spot-coyotes")
    broken.msgstr = "Texto de prueba sin etiqueta de locutor"
    po.save(str(path))
    result = run_cli("messages", "import-translations", str(path), "--json", db_url=db_url)
    assert result.returncode == 1  # one spot refused, the other kept
    report = json.loads(result.stdout)
    assert [line.split(" ")[2] for line in report["added"]] == ["(spot-mendicidad/mam)"]
    assert any("spot-coyotes" in line and "line 1" in line for line in report["refused"]), report
    shown = run_json("messages", "show", "spot-mendicidad", "--json", db_url=db_url)
    mam = shown["translations"]["mam"]
    assert mam["status"] == "needs_review"
    labels = [p.get("speaker") or p.get("cue") for p in mam["script"]]
    assert labels == ["EFECTO", "LOCUTOR", "LOCUTOR", "MÚSICA"]
    assert mam["script"][2]["text"] == "Texto de prueba {{ policia }}, si falta un niño {{ alba_keneth }}."
    again = run_cli(
        "messages",
        "export-translations",
        "--lang",
        "mam",
        "--only",
        "all",
        "--out",
        str(tmp_path / "again.po"),
        db_url=db_url,
    )
    assert again.returncode == 0
    back = next(e for e in polib.pofile(str(tmp_path / "again.po")) if e.msgctxt == "spot-mendicidad")
    assert back.msgstr == entry.msgstr and "this translation reads in about" in " ".join(back.comment.split())
