"""Radio exports through the CLI: PDF text comes back intact (Mayan letters too), DOCX reopens with the
same content, the traffic CSV has one row per planned airing, TXT reads on a phone."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from docx import Document
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from campaign.cli import app
from campaign.radio.airings import plan_airings
from campaign.radio.models import Airing
from messages.rendering import render
from tests.factories import RADIO_SCRIPT_ES, RADIO_SCRIPT_MAM, make_radio_spot, make_radio_step, make_station

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
VARIABLES = {"hotline_mujer": "1572", "linea_maya": "1524", "policia": "110", "organizacion": "Red Sintética"}


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _spoken(script, variables=VARIABLES) -> list[str]:
    return [_squash(render(p["text"], variables)) for p in script if p.get("speaker")]


def _assert_in_order(haystack: str, lines: list[str]) -> None:
    position = 0
    for line in lines:
        found = haystack.find(line, position)
        assert found >= 0, f"{line!r} missing (or out of order) after position {position}"
        position = found + len(line)


@pytest.fixture
def radio_campaign(session):
    spot = make_radio_spot(
        session, slug="spot-prueba", scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM},
        pronunciation="Ẍjal: 'shjal'; tx'otx': glotal suave",
    )
    make_station(session, slug="radio-mam", name="Radio Comunitaria Mam", languages=["mam", "es"])
    make_station(session, slug="radio-sur", name="Radio del Sur", languages=["es"])
    step = make_radio_step(session, message=spot, campaign_slug="campana-radio",
                           rrule="FREQ=DAILY;BYHOUR=6,12,18;BYMINUTE=30;COUNT=6")
    planned = plan_airings(session, step, now=NOW)
    session.commit()
    return {"campaign": "campana-radio", "planned": planned}


def test_pdf_has_every_spoken_line_in_order_with_mayan_letters(
    session, cli, tmp_path, artifacts, radio_campaign
):
    out = tmp_path / "out"
    args = ["radio", "export", "campana-radio", "--format", "pdf", "--out", str(out), "--json"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    # one pack per station, in alphabetical order of name: Radio Comunitaria Mam, Radio del Sur
    assert [f.rsplit("-", 1)[-1] for f in files] == ["mam.pdf", "sur.pdf"]
    pdf = files[0]
    reader = PdfReader(pdf)
    # one page per spot version (es, mam), then the station's schedule
    assert len(reader.pages) >= 3
    text = _squash(" ".join(page.extract_text() for page in reader.pages))
    _assert_in_order(text, _spoken(RADIO_SCRIPT_ES) + _spoken(RADIO_SCRIPT_MAM))
    for letters in ("ẍ", "Ẍ", "ä", "ë", "ï", "ö", "ü", "tx'otx'", "ch'aqaab'", "¿", "é"):
        assert letters in text, letters
    assert "LOCUTORA" in text and "MÚSICA (2 s)" in text and "Radio Comunitaria Mam" in text
    assert "Pronunciación" in text
    fonts = {str(f.get("/BaseFont")) for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in f for f in fonts), fonts  # embedded vendored font, not a base-14 font

    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) is needed to save the first page picture"
    subprocess.run([pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", pdf,
                    str(artifacts / "radio-first-page")], check=True)
    assert (artifacts / "radio-first-page.png").stat().st_size > 5000


def test_docx_reopens_with_the_same_structure(session, cli, tmp_path, radio_campaign):
    out = tmp_path / "docx"
    result = cli.invoke(app, ["radio", "export", "campana-radio", "--format", "docx", "--out", str(out),
                              "--station", "radio-mam", "--page-size", "letter"])
    assert result.exit_code == 0, result.output
    [path] = list(out.glob("*.docx"))
    document = Document(str(path))
    rows = [
        (row.cells[0].text, row.cells[1].text)
        for table in document.tables
        if len(table.columns) == 2
        for row in table.rows
    ]
    labels = [label for label, _ in rows]
    assert "LOCUTORA" in labels and "NARRADORA" in labels and "Spot" in labels
    copy = _squash(" ".join(text for _, text in rows))
    _assert_in_order(copy, _spoken(RADIO_SCRIPT_ES) + _spoken(RADIO_SCRIPT_MAM))
    schedule = [t for t in document.tables if len(t.columns) == 6][0]
    assert len(schedule.rows) == 1 + 12  # header + 6 times x 2 languages on radio-mam
    assert round(document.sections[0].page_width.mm) == 216  # Letter


def test_traffic_csv_has_one_row_per_planned_airing(session, cli, tmp_path, radio_campaign):
    out = tmp_path / "csv"
    result = cli.invoke(app, ["radio", "export", "campana-radio", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [path] = list(out.glob("*.csv"))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    planned = session.scalar(select(func.count()).select_from(Airing))
    assert len(rows) == planned == radio_campaign["planned"] == 18  # 6 times x (mam+es on one, es on other)
    assert set(rows[0]) >= {"station", "date", "time", "spot", "language", "duration", "status"}
    assert {r["time"] for r in rows} == {"06:30", "12:30", "18:30"}
    assert {r["status"] for r in rows} == {"planned"}

    result = cli.invoke(app, ["radio", "export", "campana-radio", "--format", "xlsx", "--out", str(out),
                              "--lang", "mam"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(next(out.glob("*.xlsx"))).active
    assert sheet.max_row - 1 == 6 and sheet["F2"].value == "mam"  # after spot (title) and spot_id


def test_txt_per_spot_and_language(session, cli, tmp_path, radio_campaign):
    out = tmp_path / "txt"
    result = cli.invoke(app, ["radio", "export", "campana-radio", "--format", "txt", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.glob("*.txt"))
    assert files == ["spot-prueba-es.txt", "spot-prueba-mam.txt"]
    text = (out / "spot-prueba-mam.txt").read_text(encoding="utf-8")
    _assert_in_order(_squash(text), _spoken(RADIO_SCRIPT_MAM))
    assert "Lectura estimada" in text


def test_bad_export_requests_fail_clearly(session, cli, tmp_path, radio_campaign):
    result = cli.invoke(app, ["radio", "export", "campana-radio", "--format", "odt", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "format" in result.stderr and "odt" in result.stderr
    result = cli.invoke(app, ["radio", "export", "nadie", "--format", "pdf", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "nadie" in result.stderr
    args = ["radio", "export", "campana-radio", "--format", "pdf", "--out", str(tmp_path / "q")]
    result = cli.invoke(app, [*args, "--lang", "quc"])
    assert result.exit_code != 0 and "no approved radio spot in quc" in result.stderr
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())
