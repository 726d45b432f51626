"""Staff accounts can be changed, not only created: `campaign users disable|enable|role|reset-password`
(issue 10, defect 15). Each command in a fresh process; the web app sees the change at once:
a disabled user's open session ends at their next request. Synthetic names and passwords."""

from __future__ import annotations

import pytest

from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import TestClient, csrf_of
from tests.subprocess_cli import run_cli, run_json

PASSWORD = "una clave larga y sintética"
NEW_PASSWORD = "otra clave larga y sintética"


@pytest.fixture
def staff(db_url) -> str:
    for name, role in (("root", "admin"), ("ana", "hotline")):
        added = run_cli(
            "users", "add", name, "--role", role, "--password-stdin", db_url=db_url, input=PASSWORD + "\n"
        )
        assert added.returncode == 0, added.stderr
    return db_url


def _users(db_url: str) -> dict[str, dict]:
    return {u["username"]: u for u in run_json("users", "list", "--json", db_url=db_url)}


def _login(client, username: str, password: str):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_disable_ends_the_open_session_and_enable_lets_them_back(staff, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", staff)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        assert _login(client, "ana", PASSWORD).headers["location"] == "/inbox"
        assert client.get("/inbox").status_code == 200
        disabled = run_json("users", "disable", "ana", "--json", db_url=staff)
        assert disabled["active"] is False
        after = client.get("/inbox")
        assert after.status_code == 303 and after.headers["location"].startswith("/login")
        assert _login(client, "ana", PASSWORD).status_code == 401
        assert run_json("users", "enable", "ana", "--json", db_url=staff)["active"] is True
        assert _login(client, "ana", PASSWORD).headers["location"] == "/inbox"


def test_role_change_ends_the_session_and_applies_at_the_next_login(staff, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", staff)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        _login(client, "ana", PASSWORD)
        assert client.get("/campaigns").status_code == 403
        assert run_json("users", "role", "ana", "manager", "--json", db_url=staff)["role"] == "manager"
        ended = client.get("/campaigns")  # the role change ended her session
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        assert _login(client, "ana", PASSWORD).headers["location"] == "/campaigns"
        assert client.get("/campaigns").status_code == 200
    bad = run_cli("users", "role", "ana", "jefa", db_url=staff)
    assert bad.returncode != 0 and "unknown role 'jefa'" in bad.stderr


def test_reset_password(staff, monkeypatch):
    changed = run_json(
        "users",
        "reset-password",
        "ana",
        "--password-stdin",
        "--json",
        db_url=staff,
        input=NEW_PASSWORD + "\n",
    )
    assert changed == {"username": "ana", "password_changed": True}
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", staff)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        assert _login(client, "ana", PASSWORD).status_code == 401
        assert _login(client, "ana", NEW_PASSWORD).headers["location"] == "/inbox"
    short = run_cli("users", "reset-password", "ana", "--password-stdin", db_url=staff, input="corta\n")
    assert short.returncode != 0 and "at least" in short.stderr
    unknown = run_cli(
        "users", "reset-password", "nadie", "--password-stdin", db_url=staff, input=NEW_PASSWORD
    )
    assert unknown.returncode != 0 and "nadie" in unknown.stderr


def test_the_last_active_admin_cannot_be_disabled_or_demoted(staff):
    for argv in (("disable", "root"), ("role", "root", "manager")):
        refused = run_cli("users", *argv, db_url=staff)
        assert refused.returncode != 0 and "last active admin" in refused.stderr, refused.stderr
    assert _users(staff)["root"]["active"] is True and _users(staff)["root"]["role"] == "admin"
    assert run_cli("users", "role", "ana", "admin", db_url=staff).returncode == 0
    assert run_json("users", "disable", "root", "--json", db_url=staff)["active"] is False
