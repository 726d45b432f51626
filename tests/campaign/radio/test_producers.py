"""Radio for producers (issue 10, defect 11), through the `campaign` command run as a user runs it:
`radio log` matches an airing within a tolerance and reads Spanish headers; the PDF is one pack per
station (scripts first, then that station's schedule; stations in alphabetical order; spots by
title; labels in Spanish), and a Mam station that gets the Spanish spot is told so on the page;
`radio schedule` shows a calibration at once. Stations are the shipped synthetic examples."""

from __future__ import annotations

import re
from pathlib import Path

from pypdf import PdfReader

from tests.subprocess_cli import run_cli, run_json

STATIONS = Path(__file__).resolve().parents[3] / "campaign" / "samples" / "stations.yaml"
NOW = "2027-01-10T12:00:00+00:00"


def _yes() -> list[str]:
    """`--yes` once `launch` asks before spending (issue 10, defect 4); nothing before."""
    return ["--yes"] if "--yes" in run_cli("launch", "--help").stdout else []


def _radio_campaign(db_url: str, tmp_path: Path) -> None:
    assert run_cli("messages", "load", db_url=db_url).returncode == 0
    loaded = run_cli("radio", "stations", "load", str(STATIONS), db_url=db_url)
    assert loaded.returncode == 0, loaded.stderr
    path = tmp_path / "radio.yaml"
    path.write_text(
        "slug: radio-frontera\nname: Radio frontera\nsteps:\n"
        "  - id: coyotes\n    channel: radio\n    message: spot-coyotes\n"
        "    stations: [ejemplo-radio-malacatan, ejemplo-frontera-ayutla]\n"
        "    rrule: 'FREQ=DAILY;BYHOUR=18;BYMINUTE=30;COUNT=2'\n    starts: '2027-01-11'\n",
        encoding="utf-8",
    )
    created = run_cli("create", str(path), db_url=db_url)
    assert created.returncode == 0, created.stderr
    launched = run_cli("launch", "radio-frontera", *_yes(), "--now", NOW, db_url=db_url)
    assert launched.returncode == 0, launched.stderr


def _text(path: str) -> list[str]:
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(path).pages]


def test_the_log_matches_within_the_tolerance_and_reads_spanish_headers(db_url, tmp_path):
    _radio_campaign(db_url, tmp_path)
    log = tmp_path / "bitacora.csv"
    log.write_text(
        "Fecha,Hora,Spot,Salió,Notas\n11/01/2027,18:35,spot-coyotes,sí,Salió tarde\n", encoding="utf-8"
    )
    done = run_json("radio", "log", "ejemplo-frontera-ayutla", str(log), "--json", db_url=db_url)
    assert done == {"rows": 1, "aired": 1, "missed": 0}
    schedule = run_json(
        "radio", "schedule", "radio-frontera", "--station", "ejemplo-frontera-ayutla", "--json", db_url=db_url
    )
    aired = [a for a in schedule["airings"] if a["status"] == "aired"]
    # the slot it matched, and when it really aired (the logged time, not the planned one)
    assert [(a["date"], a["time"], a["aired_time"], a["notes"]) for a in aired] == [
        ("2027-01-11", "18:30", "18:35", "Salió tarde")
    ]

    late = tmp_path / "tarde.csv"
    late.write_text("fecha,hora,spot,salio,notas\n12/01/2027,19:10,spot-coyotes,no,\n", encoding="utf-8")
    refused = run_cli("radio", "log", "ejemplo-frontera-ayutla", str(late), db_url=db_url)
    assert refused.returncode != 0 and "row 2" in refused.stderr and "30 min" in refused.stderr
    wider = run_json(
        "radio",
        "log",
        "ejemplo-frontera-ayutla",
        str(late),
        "--json",
        db_url=db_url,
        env={"CAMPAIGN_RADIO_LOG_TOLERANCE_MINUTES": "45"},
    )
    assert wider == {"rows": 1, "aired": 0, "missed": 1}


def test_one_pdf_pack_per_station_scripts_first_in_spanish(db_url, tmp_path):
    _radio_campaign(db_url, tmp_path)
    out = tmp_path / "pdf"
    files = run_json(
        "radio", "export", "radio-frontera", "--format", "pdf", "--out", str(out), "--json", db_url=db_url
    )["files"]
    # Radio Ejemplo Frontera Sur (ejemplo-frontera-ayutla) before Radio Ejemplo Malacatán
    assert [Path(f).name for f in files] == [
        "radio-frontera-radio-ejemplo-frontera-ayutla.pdf",
        "radio-frontera-radio-ejemplo-radio-malacatan.pdf",
    ]
    pages = _text(files[0])
    title = "Spot: el coyote y la deuda"
    assert title in pages[0] and "Idioma: Español" in pages[0] and "LOCUTOR" in pages[0], pages[0]
    assert "versión en español: no hay traducción aprobada en Mam" in pages[0]
    schedule_at = next(i for i, page in enumerate(pages) if "pauta de radio" in page)
    assert schedule_at > 0 and "Radio Ejemplo Frontera Sur" in pages[schedule_at]
    assert "Español" in pages[schedule_at] and "spot-coyotes" not in " ".join(pages[schedule_at:])
    assert "Radio Ejemplo Malacatán" not in " ".join(pages)  # the other station has its own pack


def test_the_schedule_shows_a_calibration_at_once(db_url, tmp_path):
    _radio_campaign(db_url, tmp_path)

    def durations() -> set[float]:
        data = run_json("radio", "schedule", "radio-frontera", "--json", db_url=db_url)
        return {a["duration_seconds"] for a in data["airings"]}

    [before] = durations()
    calibrated = run_cli(
        "radio",
        "calibrate",
        "--lang",
        "es",
        "--script",
        "spot-coyotes",
        "--seconds",
        str(round(before * 1.5, 1)),
        db_url=db_url,
    )
    assert calibrated.returncode == 0, calibrated.stderr
    [after] = durations()
    assert after > before * 1.3, (before, after)
    table = run_cli("radio", "schedule", "radio-frontera", db_url=db_url)
    assert f"{after:.1f} s" in table.stdout


def test_docx_and_traffic_log_name_spots_by_title_and_the_log_reads_them_back(db_url, tmp_path):
    import csv

    from docx import Document

    _radio_campaign(db_url, tmp_path)
    out = tmp_path / "docx"
    files = run_json(
        "radio", "export", "radio-frontera", "--format", "docx", "--out", str(out), "--json", db_url=db_url
    )["files"]
    # one pack per station, as the PDF: Radio Ejemplo Frontera Sur before Radio Ejemplo Malacatán
    assert [Path(f).name for f in files] == [
        "radio-frontera-radio-ejemplo-frontera-ayutla.docx",
        "radio-frontera-radio-ejemplo-radio-malacatan.docx",
    ]
    document = Document(files[0])
    paragraphs = [p.text for p in document.paragraphs]
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == "Spot: el coyote y la deuda", headings  # its title, not spot-coyotes
    assert headings[-1].endswith("pauta de radio")  # scripts first, then the schedule
    assert "versión en español: no hay traducción aprobada en Mam" in paragraphs
    schedule = [t for t in document.tables if len(t.columns) == 6][0]
    spots = {row.cells[2].text for row in schedule.rows[1:]}
    languages = {row.cells[3].text for row in schedule.rows[1:]}
    assert spots == {headings[0]} and languages == {"Español"}

    traffic = tmp_path / "traffic"
    [path] = run_json(
        "radio", "export", "radio-frontera", "--format", "csv", "--out", str(traffic), "--json", db_url=db_url
    )["files"]
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["spot"] for r in rows} == {headings[0]} and {r["spot_id"] for r in rows} == {"spot-coyotes"}

    # a producer's log naming the spot by its title (any case) is matched like one naming its id
    log = tmp_path / "por-titulo.csv"
    log.write_text(f"fecha,hora,spot,salió\n12/01/2027,18:30,{headings[0].upper()},sí\n", encoding="utf-8")
    done = run_json("radio", "log", "ejemplo-radio-malacatan", str(log), "--json", db_url=db_url)
    assert done == {"rows": 1, "aired": 1, "missed": 0}


def test_a_station_without_an_approved_translation_in_any_of_its_languages_airs_the_spanish_spot(
    db_url, tmp_path
):
    """A Mam-only community station (synthetic) and a spot approved in Spanish only: the station
    still gets its airings, in Spanish, and its pack says why."""
    assert run_cli("messages", "load", db_url=db_url).returncode == 0
    stations = tmp_path / "solo-mam.yaml"
    stations.write_text(
        "stations:\n  - slug: ejemplo-solo-mam\n    name: Radio Ejemplo Solo Mam (sintética)\n"
        "    department: GT-13\n    languages: [mam]\n",
        encoding="utf-8",
    )
    assert run_cli("radio", "stations", "load", str(stations), db_url=db_url).returncode == 0
    path = tmp_path / "radio.yaml"
    path.write_text(
        "slug: radio-mam\nname: Radio mam\nsteps:\n"
        "  - id: coyotes\n    channel: radio\n    message: spot-coyotes\n"
        "    stations: [ejemplo-solo-mam]\n"
        "    rrule: 'FREQ=DAILY;BYHOUR=7;BYMINUTE=0;COUNT=3'\n    starts: '2027-01-11'\n",
        encoding="utf-8",
    )
    assert run_cli("create", str(path), db_url=db_url).returncode == 0
    launched = run_cli("launch", "radio-mam", *_yes(), "--now", NOW, db_url=db_url)
    assert launched.returncode == 0, launched.stderr
    schedule = run_json("radio", "schedule", "radio-mam", "--json", db_url=db_url)
    assert [(a["station"], a["language"]) for a in schedule["airings"]] == [("ejemplo-solo-mam", "es")] * 3
    out = str(tmp_path / "pdf")
    exported = run_json(
        "radio", "export", "radio-mam", "--format", "pdf", "--out", out, "--json", db_url=db_url
    )
    [pdf] = exported["files"]
    pages = _text(pdf)
    assert "Spot: el coyote y la deuda" in pages[0] and "Idioma: Español" in pages[0]
    assert "versión en español: no hay traducción aprobada en Mam" in pages[0]
