"""What people read (issue 10, defect 13), through the real command in a fresh process.

`preview` fits 100 columns and shows local times; `show` writes recurrences in words (English and
Spanish); `tick` prints no Python dicts; a state error says what to do; `serve` checks its port
before saying "Serving on" and names the webhook URL of the port it listens on; an unknown
`--lang` lists the valid codes and aliases; `report --json` exists. Synthetic data only.
"""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.factories import make_contact, make_sms_message
from tests.processes import environment, free_port, run, run_for
from tests.subprocess_cli import run_cli, run_json

NOW = "2027-01-10T15:00:00Z"
CAMPAIGN = """slug: semanal
name: Semanal
timezone: America/Guatemala
steps:
  - id: aviso
    message: aviso
    query: 'department = "San Marcos"'
    at: '2027-01-11 10:00'
  - id: cada-lunes
    message: aviso
    query: 'department = "San Marcos"'
    rrule: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0;COUNT=6"
    starts: "2027-01-11"
"""
DICT_REPR = re.compile(r"\{'|': |\[\]|\{\}")


@pytest.fixture
def campaign_db(db_url, session, tmp_path) -> str:
    make_sms_message(session, slug="aviso")
    for _ in range(3):
        make_contact(session, department="GT-12", language="es")
    session.commit()
    path = tmp_path / "semanal.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    created = run_cli("create", str(path), db_url=db_url)
    assert created.returncode == 0, created.stderr
    return db_url


def test_preview_fits_100_columns_and_shows_local_times(campaign_db):
    result = run_cli("preview", "semanal", "--now", NOW, db_url=campaign_db, env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    too_wide = [line for line in result.stdout.splitlines() if len(line) > 100]
    assert too_wide == [], result.stdout
    assert "times in America/Guatemala" in result.stdout
    assert "2027-01-11 10:00" in result.stdout and "16:00" not in result.stdout, result.stdout
    assert not DICT_REPR.search(result.stdout), result.stdout


def test_show_writes_the_recurrence_in_words(campaign_db):
    english = run_cli("show", "semanal", db_url=campaign_db)
    assert english.returncode == 0, english.stderr
    assert "every Monday at 10:00, 6 times" in english.stdout, english.stdout
    assert "once, on 2027-01-11 10:00" in english.stdout
    assert "FREQ=" not in english.stdout
    spanish = run_cli("show", "semanal", db_url=campaign_db, env={"CAMPAIGN_LOCALE": "es"})
    assert "cada lunes a las 10:00, 6 veces" in spanish.stdout, spanish.stdout


def test_tick_prints_no_python_dicts(campaign_db):
    launched = run_cli("launch", "semanal", "--now", NOW, "--yes", db_url=campaign_db)
    assert launched.returncode == 0, launched.stderr
    result = run_cli("tick", "--now", "2027-01-11T16:00:00Z", db_url=campaign_db)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout and not DICT_REPR.search(result.stdout), result.stdout


def test_a_state_error_says_what_to_do(campaign_db, tmp_path):
    launched = run_cli("launch", "semanal", "--now", NOW, "--yes", db_url=campaign_db)
    assert launched.returncode == 0, launched.stderr
    run_cli("tick", "--now", "2027-01-11T16:00:00Z", db_url=campaign_db)
    path = tmp_path / "semanal.yaml"
    path.write_text(CAMPAIGN.replace("name: Semanal", "name: Semanal 2"), encoding="utf-8")
    edited = run_cli("create", str(path), db_url=campaign_db)
    assert edited.returncode == 1
    assert "pause the campaign first (`campaign pause semanal`)" in edited.stderr, edited.stderr
    assert "cannot move from" not in edited.stderr
    paused = run_cli("resume", "semanal", db_url=campaign_db)
    assert paused.returncode == 1 and "only a paused campaign can be resumed" in paused.stderr


def test_serve_checks_its_port_before_saying_serving_on(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["campaign", "serve", "--port", str(port)], cwd=tmp_path, env=environment(), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Serving on" not in result.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_serve_names_the_webhook_url_of_its_own_port(tmp_path):
    port = free_port()
    code, out, err = run_for(
        ["campaign", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment(),
        seconds=120,
        ready="Uvicorn running on",
    )
    assert code is None, err
    assert f"webhooks: http://127.0.0.1:{port}/twilio/inbound" in out, out


def test_an_unknown_language_lists_the_valid_codes_and_aliases_and_an_alias_works(campaign_db, tmp_path):
    bad = run_cli(
        "messages",
        "export-translations",
        "--lang",
        "klingon",
        "--out",
        str(tmp_path / "x.xlsx"),
        db_url=campaign_db,
    )
    assert bad.returncode == 2, bad.stderr
    assert "unknown language code 'klingon'" in bad.stderr
    assert "quc (K'iche', kiche" in bad.stderr and "mam (Mam)" in bad.stderr, bad.stderr
    alias = run_cli(
        "messages",
        "export-translations",
        "--lang",
        "kiche",
        "--out",
        str(tmp_path / "q.xlsx"),
        db_url=campaign_db,
    )
    assert alias.returncode == 0, alias.stderr
    assert "for quc" in alias.stdout


def test_report_has_json(campaign_db):
    data = run_json("report", "semanal", "--json", db_url=campaign_db)
    assert data["campaign"] == "semanal" and "totals" in data
    assert json.loads(run_cli("report", "semanal", "--format", "json", db_url=campaign_db).stdout) == data
