"""The hotline inbox through the HTTP client: live JSON, locks and takeover, outcomes, canned
answers, shift pages, languages, and bad input as 4xx. Synthetic data only."""

from __future__ import annotations

import functools
import warnings
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.models import Case, CasePriority, CaseStatus
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, receive

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SPANISH = {"Accept-Language": "es-GT,es;q=0.9"}


@functools.cache
def _password_hash() -> str:
    """One argon2 hash for every synthetic user of this module (argon2 is slow on purpose)."""
    from campaign.hotline.users import hash_password

    return hash_password(PASSWORD)


def seed_users(engine) -> None:
    from campaign.hotline.models import User

    with make_sessionmaker(engine).begin() as session:
        for name, role in [("ana", "hotline"), ("mario", "manager")]:
            session.add(User(username=name, password_hash=_password_hash(), role=role, created_at=utcnow()))


@pytest.fixture
def app(engine):
    return create_app(settings())


def client_for(app, username: str, headers=SPANISH) -> TestClient:
    client = TestClient(app, follow_redirects=False, headers=headers)
    token = csrf_of(client.get("/login").text)
    done = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303, done.text
    return client


def _case(engine, **where) -> int:
    with make_sessionmaker(engine)() as session:
        return session.scalar(select(Case.id).filter_by(**where).order_by(Case.id))


def test_live_json_carries_the_list_counts_and_every_open_urgent_case(engine, app):
    seed_users(engine)
    receive(engine, "una pregunta", phone="+50230001001", now=utcnow() - timedelta(hours=1))
    ana = client_for(app, "ana")
    first = ana.get("/inbox/live?priority=normal")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    data = first.json()
    assert (data["open"], data["urgent"], data["urgent_ids"]) == (1, 0, [])
    assert "hace 1 h 00 min" in data["html"] and data["title"] == "Bandeja"
    same = ana.get(f"/inbox/live?priority=normal&v={data['version']}").json()
    assert same["html"] is None and same["version"] == data["version"]
    receive(engine, "auxilio me pegan", phone="+50230001002")
    urgent = _case(engine, priority=CasePriority.URGENT)
    after = ana.get(f"/inbox/live?priority=normal&v={data['version']}").json()
    assert after["urgent_ids"] == [urgent] and after["open"] == 2  # whatever the filter shows
    assert after["html"] is None  # the filtered list itself did not change


def test_opening_a_case_holds_it_others_need_an_audited_takeover(engine, app):
    seed_users(engine)
    receive(engine, "AYUDA", phone="+50230001101")
    case_id = _case(engine)
    ana, mario = client_for(app, "ana"), client_for(app, "mario")
    page = ana.get(f"/cases/{case_id}").text
    assert "Usted atiende este caso" in page
    assert "atendido por ana" in mario.get("/inbox").text
    other = mario.get(f"/cases/{case_id}").text
    assert "atendido por ana" in other and "<fieldset class=\"needs-lock\" disabled>" in other
    token = csrf_of(other)
    refused = mario.post(f"/cases/{case_id}/reply", data={"body": "Hola", "csrf_token": token})
    assert refused.status_code == 409 and "ana" in refused.text
    refused = mario.post(
        f"/cases/{case_id}/status", data={"status": "resolved", "outcome": "information", "csrf_token": token}
    )
    assert refused.status_code == 409
    assert mario.post(f"/cases/{case_id}/takeover", data={"csrf_token": token}).status_code == 303
    told = ana.get(f"/cases/{case_id}/live?n=0").json()
    assert told["mine"] is False and told["holder"] == "mario"
    assert "mario tomó este caso" in told["lock_html"] and "thread_html" in told
    assert ana.get("/inbox/live").json()["notices"] == [f"mario tomó el caso #{case_id}."]
    with make_sessionmaker(engine)() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.takeover"))
        assert (event.actor, event.detail["from"]) == ("mario", "ana")


def test_touch_keeps_the_lock_and_needs_the_csrf_header(engine, app):
    seed_users(engine)
    receive(engine, "hola", phone="+50230001201")
    case_id = _case(engine)
    ana = client_for(app, "ana")
    token = csrf_of(ana.get(f"/cases/{case_id}").text)
    assert ana.post(f"/cases/{case_id}/touch").status_code == 403
    touched = ana.post(f"/cases/{case_id}/touch", headers={"X-CSRF-Token": token})
    assert touched.status_code == 200 and touched.json()["mine"] is True
    assert ana.post(f"/cases/{case_id}/release", data={"csrf_token": token}).status_code == 303
    assert ana.get(f"/cases/{case_id}/live").json()["holder"] is None


def test_resolving_asks_for_an_outcome_and_follow_up_dates_are_local(engine, app):
    seed_users(engine)
    receive(engine, "hola", phone="+50230001301")
    case_id = _case(engine)
    ana = client_for(app, "ana")
    token = csrf_of(ana.get(f"/cases/{case_id}").text)
    bare = ana.post(f"/cases/{case_id}/status", data={"status": "resolved", "csrf_token": token})
    assert bare.status_code == 422 and "outcome" in bare.text
    bad_date = ana.post(
        f"/cases/{case_id}/status",
        data={
            "status": "resolved", "outcome": "information", "follow_up_date": "9999-99-99",
            "csrf_token": token,
        },
    )
    assert bad_date.status_code == 422 and "follow_up_at" in bad_date.text
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    done = ana.post(
        f"/cases/{case_id}/status",
        data={
            "status": "resolved", "outcome": "referred", "referred_to": "mp", "follow_up_date": tomorrow,
            "follow_up_time": "10:30", "csrf_token": token,
        },
    )
    assert done.status_code == 303
    with make_sessionmaker(engine)() as session:
        case = session.get(Case, case_id)
        assert (case.status, case.outcome, case.referred_to) == (CaseStatus.RESOLVED, "referred", "mp")
        assert case.follow_up_at.isoformat() == f"{tomorrow}T16:30:00+00:00"  # 10:30 in Guatemala
    page = ana.get(f"/cases/{case_id}").text
    assert "Ministerio Público (MP)" in page and "Reabrir" in page


def test_an_opted_out_contact_case_shows_why_no_reply_box(engine, app):
    seed_users(engine)
    receive(engine, "hola", phone="+50230001401", now=utcnow() - timedelta(hours=2))
    receive(engine, "BAJA", phone="+50230001401", now=utcnow() - timedelta(hours=1))
    case_id = _case(engine)
    page = client_for(app, "ana").get(f"/cases/{case_id}").text
    assert "se dio de baja" in page and 'id="reply-body"' not in page


def test_managers_edit_canned_answers_and_staff_see_them_as_quick_replies(engine, app):
    seed_users(engine)
    receive(engine, "hola", phone="+50230001501")
    case_id = _case(engine)
    ana, mario = client_for(app, "ana"), client_for(app, "mario")
    assert ana.get("/inbox/replies").status_code == 403
    token = csrf_of(mario.get("/inbox/replies").text)
    added = mario.post("/inbox/replies", data={
        "language": "es", "title": "Horario", "body": "Atendemos de 8 a 20 h. Policía: {{ policia }}",
        "active": "1", "csrf_token": token,
    })
    assert added.status_code == 303
    bad = mario.post("/inbox/replies", data={"language": "es", "title": "", "body": "x", "csrf_token": token})
    assert bad.status_code == 422 and "title" in bad.text
    page = ana.get(f"/cases/{case_id}").text
    assert "Horario" in page and "Atendemos de 8 a 20 h. Policía: 110" in page


PAGES = ["/inbox", "/inbox/handover", "/inbox/shift", "/inbox/dashboard", "/inbox?mine=1"]


@pytest.mark.parametrize("path", PAGES)
def test_hotline_pages_render_for_staff(engine, app, path):
    seed_users(engine)
    receive(engine, "auxilio", phone="+50230001601")
    response = client_for(app, "ana").get(path)
    assert response.status_code == 200, response.text


def test_the_interface_speaks_the_browsers_language_and_spanish_by_default(engine):
    seed_users(engine)
    english = client_for(create_app(settings()), "ana", headers={"Accept-Language": "en-US,en;q=0.9"})
    page = english.get("/inbox").text
    assert "Hotline cases" in page and "Bandeja" not in page and '<html lang="en">' in page
    spanish = client_for(create_app(settings(locale="es")), "ana", headers={})
    assert "Casos de la línea de ayuda" in spanish.get("/inbox").text


def test_bad_input_is_a_4xx(engine, app):
    seed_users(engine)
    ana = client_for(app, "ana")
    assert ana.get("/cases/99999999999999999999999").status_code == 422
    assert ana.get("/cases/424242").status_code == 404
    assert ana.get("/inbox/live?campaign=99999999999999999999").status_code == 422
    assert ana.get("/inbox/shift?hours=1000").status_code == 422
    assert ana.get("/inbox/dashboard?weeks=x").status_code == 422


def test_the_counters_rules_are_public_data(engine, app):
    with TestClient(app) as anonymous:
        rules = anonymous.get("/sms/rules.json")
    assert rules.status_code == 200 and "public" in rules.headers["cache-control"]
    data = rules.json()
    assert data["limits"] == {"gsm_single": 160, "gsm_multi": 153, "ucs2_single": 70, "ucs2_multi": 67}
    assert "€" in data["gsm_extension"] and "é" in data["gsm_basic"] and "á" not in data["gsm_basic"]
