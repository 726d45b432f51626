"""`campaign launch` spends money, so it asks first (issue 10, defect 4).

In a terminal it shows recipients, segments and cost and waits for a yes; scripts pass `--yes`;
without a terminal and without `--yes` it launches nothing and says why (exit 2). Through the
real command in a fresh process; the terminal is a pseudo-terminal. Synthetic contacts only.
"""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from tests.factories import make_contact, make_sms_message
from tests.subprocess_cli import campaign_executable, run_cli, run_json

LAUNCH_AT = "2027-01-10T15:00:00Z"
CAMPAIGN = (
    "slug: prueba\nname: Prueba\nsteps:\n"
    "  - id: aviso\n    message: aviso\n"
    "    query: 'department = \"San Marcos\"'\n    at: '2027-01-11 10:00'\n"
)


@pytest.fixture
def draft(db_url, session, tmp_path) -> str:
    make_sms_message(session, slug="aviso")
    for _ in range(4):
        make_contact(session, department="GT-12", language="es")
    session.commit()
    path = tmp_path / "campana.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    created = run_cli("create", str(path), db_url=db_url)
    assert created.returncode == 0, created.stderr
    return db_url


def _launch_in_a_terminal(db_url: str, answer: str) -> tuple[int, str]:
    """`campaign launch prueba` with a terminal on stdin that types `answer`; (exit code, output)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "CAMPAIGN_DATABASE_URL": db_url, "CAMPAIGN_LOCALE": "en", "COLUMNS": "100"}
    process = subprocess.Popen(
        [*campaign_executable(), "launch", "prueba", "--now", LAUNCH_AT],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    os.close(follower)
    os.write(leader, answer.encode())
    out, _ = process.communicate(timeout=120)
    os.close(leader)
    return process.returncode, out


def _status(db_url: str) -> str:
    return str(run_json("show", "prueba", "--json", db_url=db_url)["status"])


def test_without_a_terminal_and_without_yes_nothing_is_launched(draft):
    result = run_cli("launch", "prueba", "--now", LAUNCH_AT, db_url=draft)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--yes" in result.stderr and "nothing was launched" in result.stderr, result.stderr
    assert _status(draft) == "draft"


def test_in_a_terminal_it_shows_reach_and_cost_and_a_no_launches_nothing(draft):
    code, out = _launch_in_a_terminal(draft, "n\n")
    assert code == 1, out
    assert "Send to 4 recipients (4 SMS segments" in out and "USD" in out, out
    assert "aviso" in out and "Nothing launched." in out, out
    assert _status(draft) == "draft"


def test_in_a_terminal_a_yes_launches(draft):
    code, out = _launch_in_a_terminal(draft, "y\n")
    assert code == 0, out
    assert "Launched prueba: scheduled" in out, out
    assert _status(draft) == "scheduled"


def test_scripts_pass_yes(draft):
    data = run_json("launch", "prueba", "--now", LAUNCH_AT, "--yes", "--json", db_url=draft)
    assert data["status"] == "scheduled"
