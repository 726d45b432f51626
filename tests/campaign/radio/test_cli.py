"""Radio through the CLI: stations load/list, schedule (planned vs aired), the producers' log, calibration."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaign.cli import app
from campaign.radio.airings import plan_airings
from campaign.radio.calibration import effective_rate
from campaign.radio.models import Airing, Station
from messages.models import Message, RadioCalibration
from tests.factories import RADIO_SCRIPT_ES, RADIO_SCRIPT_MAM, make_radio_spot, make_radio_step, make_station

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)

STATIONS_CSV = """slug,name,frequency,department,municipality,languages,contact_person,notes
radio-ejemplo-sur,Radio Ejemplo Sur,98.3 FM,San Marcos,Ayutla,es; mam,Persona Sintética,sintética
,Radio Ejemplo Norte,94.1 FM,GT-13,,Español|K'iche',,
"""


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_stations_load_csv_then_list(session, cli, tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text(STATIONS_CSV, encoding="utf-8")
    result = cli.invoke(app, ["radio", "stations", "load", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 2, "created": 2, "updated": 0}
    again = cli.invoke(app, ["radio", "stations", "load", str(path), "--json"])
    assert json.loads(again.stdout)["updated"] == 2
    listed = cli.invoke(app, ["radio", "stations", "list", "--json"])
    stations = {s["slug"]: s for s in json.loads(listed.stdout)}
    assert stations["radio-ejemplo-sur"]["languages"] == ["es", "mam"]
    assert stations["radio-ejemplo-sur"]["department"] == "GT-12"
    assert stations["radio-ejemplo-norte"]["languages"] == ["es", "quc"]  # slug derived from the name


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("radio-x,Radio X,,,,klingon,,", "row 3, column 'languages': unknown language 'klingon'"),
        ("radio-x,Radio X,,Atlantida,,es,,", "row 3, column 'department'"),
        ("radio-x,,,,,es,,", "row 3, column 'name'"),
        ("radio-ejemplo-sur,Otra,,,,es,,", "row 3, column 'slug': 'radio-ejemplo-sur' is also used"),
    ],
)
def test_a_bad_station_row_is_named_and_nothing_is_stored(session, cli, tmp_path, row, expected):
    path = tmp_path / "stations.csv"
    path.write_text(STATIONS_CSV.splitlines()[0] + "\n" + STATIONS_CSV.splitlines()[1] + "\n" + row + "\n",
                    encoding="utf-8")
    result = cli.invoke(app, ["radio", "stations", "load", str(path)])
    assert result.exit_code == 1
    assert expected in result.stderr
    session.expire_all()
    assert _count(session, Station) == 0


@pytest.fixture
def planned(session):
    spot = make_radio_spot(session, slug="spot-cli", scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
    make_station(session, slug="radio-uno", languages=["es", "mam"])
    step = make_radio_step(session, message=spot, campaign_slug="campana-cli",
                           rrule="FREQ=DAILY;BYHOUR=6,18;BYMINUTE=30;COUNT=4")
    assert plan_airings(session, step, now=NOW) == 8
    session.commit()
    return step


def test_log_marks_aired_and_missed_and_schedule_shows_it(session, cli, tmp_path, planned):
    log = tmp_path / "log.csv"
    log.write_text(
        "date,time,spot,aired,notes,language\n"
        "2027-01-11,06:30,spot-cli,sí,,\n"
        "11/01/2027,18:30,spot-cli,no,Corte de luz,mam\n",
        encoding="utf-8",
    )
    result = cli.invoke(app, ["radio", "log", "radio-uno", str(log), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 2, "aired": 2, "missed": 1}
    schedule = cli.invoke(app, ["radio", "schedule", "campana-cli", "--json"])
    assert schedule.exit_code == 0, schedule.output
    data = json.loads(schedule.stdout)
    assert data["counts"] == {"planned": 5, "aired": 2, "missed": 1}
    missed = [a for a in data["airings"] if a["status"] == "missed"]
    assert missed == [dict(missed[0], date="2027-01-11", time="18:30", language="mam", notes="Corte de luz")]
    table = cli.invoke(app, ["radio", "schedule", "campana-cli"])
    assert "aired 2" in table.stdout and "missed 1" in table.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # 31 minutes after the 06:30 slot: outside the default tolerance of 30
        ("2027-01-11,07:01,spot-cli,yes,,", "row 3: no planned airing of 'spot-cli' on radio-uno at 2027"),
        ("2027-01-11,06:30,spot-cli,quizás,,", "row 3, column 'aired'"),
        ("2027-13-11,06:30,spot-cli,yes,,", "row 3, column 'date'"),
        ("2027-01-11,6h3x,spot-cli,yes,,", "row 3, column 'time'"),
    ],
)
def test_a_bad_log_row_is_named_and_nothing_changes(session, cli, tmp_path, planned, line, expected):
    log = tmp_path / "log.csv"
    log.write_text(f"date,time,spot,aired,notes,language\n2027-01-11,06:30,spot-cli,yes,,\n{line}\n",
                   encoding="utf-8")
    result = cli.invoke(app, ["radio", "log", "radio-uno", str(log)])
    assert result.exit_code == 1
    assert expected in result.stderr
    session.expire_all()
    assert set(session.scalars(select(Airing.status))) == {"planned"}


def test_calibration_changes_later_estimates_as_recorded(session, cli, planned):
    default = effective_rate(session, "mam")
    calibrate = ["radio", "calibrate", "--lang", "mam", "--script", "spot-cli", "--seconds"]
    result = cli.invoke(app, [*calibrate, "14", "--json"])
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout)
    # 14 s of read minus 2 s of music cue = 12 s of speech for the script's syllables
    assert recorded["syllables_per_second"] == pytest.approx(recorded["syllables"] / 12, abs=0.001)
    session.expire_all()
    assert effective_rate(session, "mam") == pytest.approx(recorded["syllables_per_second"])
    assert recorded["syllables_per_second"] != default

    # Airings planned after the calibration carry the new estimate: syllables / rate + cues.
    spot = session.get(Message, planned.message_id)
    step2 = make_radio_step(session, message=spot, campaign=planned.campaign,
                            rrule="FREQ=DAILY;BYHOUR=12;BYMINUTE=0;COUNT=1")
    plan_airings(session, step2, now=NOW)
    duration = session.scalar(select(Airing.duration_seconds).where(Airing.step_id == step2.id,
                                                                     Airing.language == "mam"))
    assert duration == pytest.approx(14.0, abs=0.1)

    session.commit()
    slower = cli.invoke(app, [*calibrate, "20"])
    assert slower.exit_code == 0, slower.output
    session.expire_all()
    assert effective_rate(session, "mam") == pytest.approx(recorded["syllables"] / 18, abs=0.001)
    assert _count(session, RadioCalibration) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--lang", "mam", "--script", "spot-nadie", "--seconds", "20"], "spot-nadie"),
        (["--lang", "xyz", "--script", "spot-cli", "--seconds", "20"], "unknown language code 'xyz'"),
        (["--lang", "mam", "--script", "spot-cli", "--seconds", "1.5"], "no time for speech"),
        (["--lang", "quc", "--script", "spot-cli", "--seconds", "20"], "no 'quc' translation"),
    ],
)
def test_bad_calibrations_are_refused(session, cli, planned, args, expected):
    result = cli.invoke(app, ["radio", "calibrate", *args])
    assert result.exit_code != 0
    assert expected in result.stderr
    assert _count(session, RadioCalibration) == 0
