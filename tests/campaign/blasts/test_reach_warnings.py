"""A step reaching nobody, skipping much of its segment, or timed outside the send window is a
warning at create and preview; launch refuses a step reaching nobody unless --allow-empty
(issue 10, defect 3). Through the `campaign` command, run as a user runs it."""

from __future__ import annotations

import json

from tests.factories import make_contact, make_sms_message
from tests.subprocess_cli import run_cli, run_json

LAUNCH_AT = "2027-01-10T15:00:00Z"


def _campaign_file(tmp_path, *, query: str, at: str = "2027-01-11 10:00", window: str = "") -> str:
    path = tmp_path / "campana.yaml"
    path.write_text(
        "slug: prueba\nname: Prueba\n" + window + "steps:\n"
        f"  - id: aviso\n    message: aviso\n    query: '{query}'\n    at: '{at}'\n",
        encoding="utf-8",
    )
    return str(path)


def _seed(session, *, mam: int = 0, es: int = 3):
    make_sms_message(session, slug="aviso")  # Spanish only
    for _ in range(es):
        make_contact(session, department="GT-12", language="es")
    for _ in range(mam):
        make_contact(session, department="GT-12", language="mam")
    session.commit()


def test_a_step_reaching_nobody_warns_at_create_and_preview_and_launch_refuses_it(db_url, session, tmp_path):
    _seed(session)
    path = _campaign_file(tmp_path, query='department = "Petén"')  # nobody lives there here
    created = run_cli("create", path, db_url=db_url)
    assert created.returncode == 0, created.stderr
    assert "aviso reaches nobody" in created.stderr, created.stderr
    data = run_json("create", path, "--json", db_url=db_url)
    assert [w["code"] for w in data["warnings"]] == ["empty"]
    preview = run_json("preview", "prueba", "--now", LAUNCH_AT, "--json", db_url=db_url)
    assert [w["code"] for w in preview["warnings"]] == ["empty"]
    assert preview["steps"][0]["warnings"] and "reaches nobody" in preview["steps"][0]["warnings"][0]
    refused = run_cli("launch", "prueba", "--now", LAUNCH_AT, db_url=db_url)
    assert refused.returncode != 0
    assert "reaches nobody" in refused.stderr and "--allow-empty" in refused.stderr
    assert run_json("show", "prueba", "--json", db_url=db_url)["status"] == "draft"
    forced = run_cli(
        "launch", "prueba", "--now", LAUNCH_AT, "--allow-empty", "--yes", "--json", db_url=db_url
    )
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["status"] == "scheduled"


def test_skipping_more_than_a_tenth_of_the_segment_is_a_warning(db_url, session, tmp_path):
    _seed(session, es=8, mam=2)  # 2 of 10 have no approved translation in their language
    path = _campaign_file(tmp_path, query='department = "San Marcos"')
    created = run_cli("create", path, db_url=db_url)
    assert created.returncode == 0, created.stderr
    assert "skips 2 of 10" in created.stderr and "no_translation 2" in created.stderr, created.stderr
    preview = run_json("preview", "prueba", "--now", LAUNCH_AT, "--json", db_url=db_url)
    assert [w["code"] for w in preview["warnings"]] == ["skipped"]
    launched = run_cli("launch", "prueba", "--now", LAUNCH_AT, "--yes", "--json", db_url=db_url)
    assert launched.returncode == 0, launched.stderr  # a warning, not a refusal


def test_a_step_time_outside_the_send_window_says_when_it_is_held_until(db_url, session, tmp_path):
    _seed(session)
    path = _campaign_file(tmp_path, query='department = "San Marcos"', at="2027-01-11 06:30")
    created = run_cli("create", path, db_url=db_url)
    assert created.returncode == 0, created.stderr
    assert "06:30 is outside the send window" in created.stderr and "held until 08:00" in created.stderr
    preview = run_json("preview", "prueba", "--now", LAUNCH_AT, "--json", db_url=db_url)
    assert [w["code"] for w in preview["warnings"]] == ["window"]
    inside = _campaign_file(tmp_path, query='department = "San Marcos"', at="2027-01-11 10:00")
    assert run_json("create", inside, "--json", db_url=db_url)["warnings"] == []
