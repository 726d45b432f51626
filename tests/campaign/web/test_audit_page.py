"""The audit log page: paging, filters (actor, action, dates, case), CSV export, and failed logins
that cannot push reveals off the first page. Through the web app's HTTP routes, SQLite and PostgreSQL.

Users, cases and events are synthetic test data.
"""

from __future__ import annotations

import csv
import io
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent, record_audit
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, login

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

DAY = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # 12:00 in Guatemala


@pytest.fixture
def admin(engine):
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="root", password=PASSWORD, role="admin", now=utcnow())
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=utcnow())
        for n in range(120):  # 120 events over three days, two actors, three actions, cases 1-4
            record_audit(
                session,
                actor=("ana", "luis")[n % 2],
                action=("case.reply", "case.note", "contact.reveal")[n % 3],
                now=DAY - timedelta(days=n % 3, minutes=n),
                target_type="case",
                target_id=1 + n % 4,
            )
    with TestClient(
        create_app(settings()), follow_redirects=False, headers={"Accept-Language": "es"}
    ) as client:
        assert login(client, username="root").status_code == 303
        yield client


def _rows(html: str) -> int:
    return html.count("<tr><td>")


def test_the_log_pages_through_everything_newest_first(admin):
    first = admin.get("/audit")
    assert first.status_code == 200
    assert "página 1 de 3" in first.text and _rows(first.text) == 50
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    last = admin.get("/audit?page=3")
    assert _rows(last.text) == 123 - 100  # and two user.create, one login
    assert admin.get("/audit?page=0").status_code == 422
    assert admin.get("/audit?page=99999999999").status_code == 422


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=luis", 60),
        ("actor=LUIS", 60),
        ("action=contact.reveal", 40),
        ("action=case", 80),  # the family: case.reply and case.note
        ("since=2026-03-10&until=2026-03-10", 40),  # one local day
        ("since=2026-03-09&until=2026-03-10", 80),
        ("case=2", 30),
        ("case=%232", 30),
        ("actor=ana&action=case.note&case=2", 0),
        ("actor=ana&action=case.reply&since=2026-03-10&until=2026-03-10", 20),
    ],
)
def test_filters(admin, query, expected):
    response = admin.get(f"/audit?{query}")
    assert response.status_code == 200
    assert (f"{expected} eventos" if expected != 1 else "1 evento") in response.text
    export = admin.get(f"/audit.csv?{query}")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=31/12/2026", "since"),
        ("until=9999-01-01", "until"),
        ("case=abc", "case"),
        ("case=" + "9" * 30, "case"),
    ],
)
def test_a_bad_filter_is_a_4xx_naming_it(admin, query, field):
    response = admin.get(f"/audit?{query}")
    assert response.status_code == 422 and field in response.text


def test_csv_export_is_audited_and_cannot_run_formulas(admin, engine):
    with make_sessionmaker(engine).begin() as session:
        record_audit(session, actor="=cmd|' /C calc'!A0", action="login.failed", now=DAY)
    export = admin.get("/audit.csv?action=login.failed")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["actor"] for r in rows] == ["'=cmd|' /C calc'!A0"]
    with make_sessionmaker(engine).begin() as session:
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
        assert audited.actor == "root" and audited.detail["filters"] == {"action": "login.failed"}


def test_only_admins_read_the_log(engine, admin):
    with TestClient(create_app(settings()), follow_redirects=False) as other:
        login(other, username="ana")
        assert other.get("/audit").status_code == 403
        assert other.get("/audit.csv").status_code == 403


def test_a_storm_of_failed_logins_cannot_push_a_reveal_off_the_first_page(admin, engine):
    with make_sessionmaker(engine).begin() as session:
        record_audit(
            session, actor="ana", action="contact.reveal", now=utcnow(), target_type="contact", target_id=7
        )
    with TestClient(create_app(settings()), follow_redirects=False) as attacker:
        token = csrf_of(attacker.get("/login").text)
        for n in range(60):
            attacker.post("/login", data={"username": "ana", "password": f"guess {n}", "csrf_token": token})
    table = admin.get("/audit").text.split("<tbody>")[1]
    assert table.count("login.failed") == 1 and table.count("login.locked") == 1
    assert "contact.reveal" in table.split("</tr>")[2]  # the reveal is right under those two lines
