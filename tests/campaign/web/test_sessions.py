"""Staff sessions the server ends, and login throttling, through the web app's HTTP routes.

Users and passwords are synthetic test data.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline import staff_sessions
from campaign.hotline.models import LoginThrottle, StaffSession
from campaign.hotline.users import set_active, set_password, set_role
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, login, seed_users

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def _client(app, **headers):
    return TestClient(app, follow_redirects=False, headers={"Accept-Language": "es-GT,es;q=0.9", **headers})


@pytest.fixture
def app(engine):
    seed_users(engine)
    return create_app(settings())


def _audit(engine, action):
    with make_sessionmaker(engine).begin() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _is_login_page(response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_replayed_cookie_after_logout_gets_the_login_page(engine, app):
    with _client(app) as browser:
        assert login(browser).status_code == 303
        page = browser.get("/inbox")
        assert page.status_code == 200
        stolen = dict(browser.cookies)
        browser.post("/logout", data={"csrf_token": csrf_of(page.text)})
    with _client(app) as attacker:
        attacker.cookies.update(stolen)
        assert _is_login_page(attacker.get("/inbox"))
    with make_sessionmaker(engine).begin() as session:
        ended = session.scalars(select(StaffSession)).one()
        assert ended.end_reason == "logout" and ended.ended_at is not None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s, now: set_active(s, username="ana", active=False, now=now), id="disable"),
        pytest.param(
            lambda s, now: set_password(s, username="ana", password="otra clave muy larga", now=now),
            id="password-reset",
        ),
        pytest.param(lambda s, now: set_role(s, username="ana", role="manager", now=now), id="role-change"),
    ],
)
def test_disable_password_reset_and_role_change_end_every_session_at_once(engine, app, change):
    with _client(app) as first, _client(app) as second:
        login(first)
        login(second)
        assert first.get("/inbox").status_code == 200 and second.get("/inbox").status_code == 200
        with make_sessionmaker(engine).begin() as session:
            change(session, utcnow())
        assert _is_login_page(first.get("/inbox"))
        assert _is_login_page(second.get("/inbox"))


def test_a_role_change_to_the_same_role_keeps_sessions(engine, app):
    with _client(app) as browser:
        login(browser)
        with make_sessionmaker(engine).begin() as session:
            set_role(session, username="ana", role="hotline", now=utcnow())
        assert browser.get("/inbox").status_code == 200


@pytest.mark.parametrize(
    ("column", "age", "ends"),
    [
        ("last_seen_at", timedelta(minutes=29), False),
        ("last_seen_at", timedelta(minutes=31), True),
        ("created_at", timedelta(hours=11, minutes=50), False),
        ("created_at", timedelta(hours=12, minutes=1), True),
    ],
)
def test_idle_timeout_30_minutes_and_absolute_12_hours(engine, app, column, age, ends):
    with _client(app) as browser:
        login(browser)
        with make_sessionmaker(engine).begin() as session:
            session.execute(update(StaffSession).values({column: utcnow() - age}))
        response = browser.get("/inbox")
        assert _is_login_page(response) if ends else response.status_code == 200
        if ends:  # and the session stays over, whatever its cookie says
            with make_sessionmaker(engine).begin() as session:
                assert session.scalars(select(StaffSession)).one().ended_at is not None


def test_activity_moves_the_idle_timeout(engine, app):
    with _client(app) as browser:
        login(browser)
        with make_sessionmaker(engine).begin() as session:
            session.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=20)))
        assert browser.get("/inbox").status_code == 200  # seen now
        with make_sessionmaker(engine).begin() as session:
            row = session.scalars(select(StaffSession)).one()
            assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_thirty_wrong_passwords_lock_the_account_with_a_spanish_429(engine, app):
    with _client(app) as attacker:
        statuses = [login(attacker, password=f"wrong password {i}").status_code for i in range(30)]
        assert statuses[:3] == [401, 401, 401]
        assert set(statuses[5:]) == {429}  # (the 4th waits 1 s: a slow machine may get there later)
        refused = login(attacker)  # even the right password, while locked
        assert refused.status_code == 429
        assert "Demasiados intentos fallidos. Espere 15 minutos" in refused.text
        assert int(refused.headers["retry-after"]) > 14 * 60
    with _client(app) as elsewhere:  # the account is locked wherever the tries come from
        assert login(elsewhere).status_code == 429
    with _client(app) as colleague:  # another account from the same office address still logs in
        assert login(colleague, username="mario").status_code == 303
    # Rate-summarized audit: one line for the series, one for the lock, not thirty.
    failed, locked = _audit(engine, "login.failed"), _audit(engine, "login.locked")
    assert [e.actor for e in failed] == ["ana"]
    assert [(e.actor, e.detail["key"], e.detail["failures"]) for e in locked] == [("ana", "user", 10)]


def test_the_lock_ends_after_15_minutes_and_a_login_forgets_the_failures(engine, app):
    with _client(app) as browser:
        for i in range(10):
            login(browser, password=f"wrong password {i}")
        assert login(browser).status_code == 429
        with make_sessionmaker(engine).begin() as session:
            earlier = utcnow() - timedelta(minutes=16)
            session.execute(update(LoginThrottle).values(last_failure_at=earlier, locked_until=earlier))
        assert login(browser).status_code == 303
        with make_sessionmaker(engine).begin() as session:
            assert session.get(LoginThrottle, "user:ana") is None
            assert _audit(engine, "login")[-1].detail["failed_before"] == 10


def test_a_wrong_name_is_throttled_like_a_wrong_password(engine, app):
    with _client(app) as browser:
        statuses = [
            login(browser, username="nadie", password="wrong password!").status_code for _ in range(6)
        ]
        assert statuses[:3] == [401, 401, 401] and statuses[4:] == [429, 429]


def test_an_address_spraying_many_names_waits_then_locks(engine, app):
    with _client(app) as sprayer:
        for n in range(9):  # nine wrong guesses on nine names: no wait yet
            assert login(sprayer, username=f"guess{n}", password="wrong password!").status_code == 401
        too_soon = login(sprayer, username="mario")  # the tenth must wait, whoever it is for
        assert too_soon.status_code == 429 and "Espere 1 segundo" in too_soon.text
    # Waiting out each delay, 30 failures from one address lock it for every account.
    limits = staff_sessions.Limits()
    now = utcnow()
    with make_sessionmaker(engine).begin() as session:
        for n in range(9, 30):
            now += timedelta(seconds=61)
            check = staff_sessions.read_login(
                session, username=f"guess{n}", address="testclient", now=now, limits=limits
            )
            assert check.wait is None
            staff_sessions.record_failure(session, check=check, address="testclient", now=now, limits=limits)
        check = staff_sessions.read_login(
            session, username="mario", address="testclient", now=now, limits=limits
        )
        assert check.wait is not None and check.wait.locked and check.wait.key == "addr:testclient"
        elsewhere = staff_sessions.read_login(
            session, username="mario", address="10.0.0.9", now=now, limits=limits
        )
        assert elsewhere.wait is None
    assert [e.detail["key"] for e in _audit(engine, "login.locked")] == ["addr"]


def test_english_browsers_read_the_lock_in_english(engine, app):
    with _client(app, **{"Accept-Language": "en"}) as browser:
        for i in range(10):
            login(browser, password=f"wrong password {i}")
        assert "Too many failed attempts. Wait 15 minutes" in login(browser).text


def test_an_over_long_login_form_is_a_4xx(engine, app):
    with _client(app) as browser:
        token = csrf_of(browser.get("/login").text)
        response = browser.post("/login", data={"username": "a" * 5000, "password": "x", "csrf_token": token})
        assert response.status_code == 422
        assert PASSWORD not in response.text


def test_the_password_is_hashed_with_no_database_write_lock_held(engine, app, monkeypatch):
    """A login storm must not queue webhooks behind argon2 (benchmarks/login_storm.py measures it)."""
    from campaign.web import routes_auth

    real = routes_auth.verify_password
    seen: list[bool] = []

    def watching(password_hash: str, password: str) -> bool:
        state = app.state.web
        lock = state.write_lock
        free = lock is None or lock.acquire(blocking=False)
        if lock is not None and free:
            lock.release()
        seen.append(free)
        return real(password_hash, password)

    monkeypatch.setattr(routes_auth, "verify_password", watching)
    with _client(app) as browser:
        assert login(browser, password="wrong password!").status_code == 401
        assert login(browser).status_code == 303
    assert seen == [True, True]
