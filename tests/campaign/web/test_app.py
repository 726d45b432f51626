"""The web app through an HTTP client: login, roles, CSRF, inbox order, escaping, replies, webhooks."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.models import Case, CaseNote, CasePriority, CaseStatus, Inbound
from campaign.hotline.users import create_user
from campaign.hotline.webhooks import handle_inbound
from campaign.web import create_app
from tests.campaign.web.helpers import count, inbound_params, inbound_url, settings, sign

with warnings.catch_warnings():
    # Starlette 1.x suggests the `httpx2` fork for its test client; plain httpx (a declared
    # dependency) works the same for these tests, so only this import's notice is silenced.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


@pytest.fixture
def app(engine):
    return create_app(settings())


@pytest.fixture
def client(app):
    # The staff's browsers ask for Spanish (the product's language); English has its own test.
    with TestClient(app, follow_redirects=False, headers={"Accept-Language": "es-GT,es;q=0.9"}) as client:
        yield client


def seed_users(engine):
    with make_sessionmaker(engine).begin() as session:
        for name, role in [("ana", "hotline"), ("mario", "manager"), ("root", "admin")]:
            create_user(session, username=name, password=PASSWORD, role=role, now=utcnow())


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client, username="ana", password=PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def receive(engine, body, *, phone, now=None):
    """An inbound message arriving through the real webhook code path."""
    params = inbound_params(body, phone=phone)
    with make_sessionmaker(engine).begin() as session:
        handle_inbound(
            session, url=inbound_url(), params=params, signature=sign(inbound_url(), params),
            settings=settings(), now=now or utcnow(),
        )


def test_login_logout_and_wrong_password(engine, client):
    seed_users(engine)
    assert client.get("/inbox").headers["location"] == "/login?next=/inbox"
    bad = login(client, password="wrong password!")
    assert bad.status_code == 401 and "incorrectos" in bad.text
    ok = login(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/inbox"
    page = client.get("/inbox")
    assert page.status_code == 200 and "Bandeja" in page.text
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert client.get("/inbox").status_code == 303
    with make_sessionmaker(engine)() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("login") == 1 and "login.failed" in actions


def test_post_without_csrf_token_is_refused_and_changes_nothing(engine, client):
    seed_users(engine)
    no_token = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert no_token.status_code == 403
    assert "ana" not in str(client.cookies.get("campaign_session", ""))
    login(client)
    receive(engine, "hola", phone="+50230000101")
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    forged = client.post(f"/cases/{case_id}/note", data={"body": "x", "csrf_token": "guessed"})
    assert forged.status_code == 403
    missing = client.post(f"/cases/{case_id}/status", data={"status": "resolved"})
    assert missing.status_code == 403
    with make_sessionmaker(engine)() as session:
        assert count(session, CaseNote) == 0
        assert session.get(Case, case_id).status == CaseStatus.NEW


@pytest.mark.parametrize("path", ["/campaigns", "/audiences", "/messages", "/audit"])
def test_hotline_staff_get_403_on_manager_pages(engine, client, path):
    seed_users(engine)
    login(client)
    response = client.get(path)
    assert response.status_code == 403 and "su rol (línea de ayuda) no puede abrir" in response.text


def test_manager_sees_dashboard_pages(engine, client):
    seed_users(engine)
    login(client, "mario")
    for path in ["/campaigns", "/segments", "/messages", "/inbox"]:
        assert client.get(path).status_code == 200, path
    old = client.get("/audiences", follow_redirects=False)  # the old list of segments, as an address
    assert old.status_code == 308 and old.headers["location"] == "/segments"
    assert client.get("/audit").status_code == 403


def test_inbox_lists_urgent_first_then_oldest_waiting(engine, client):
    seed_users(engine)
    now = utcnow()
    receive(engine, "una pregunta", phone="+50230000201", now=now - timedelta(hours=5))
    receive(engine, "otra pregunta", phone="+50230000202", now=now - timedelta(hours=3))
    receive(engine, "auxilio me pegan", phone="+50230000203", now=now - timedelta(hours=1))
    login(client)
    html = client.get("/inbox").text
    order = re.findall(r'data-case="(\d+)"', html)
    with make_sessionmaker(engine)() as session:
        urgent = session.scalar(select(Case.id).where(Case.priority == CasePriority.URGENT))
        by_wait = session.scalars(
            select(Case.id).where(Case.priority == CasePriority.NORMAL).order_by(Case.waiting_since)
        ).all()
    assert order == [str(urgent), *map(str, by_wait)]
    assert "URGENTE" in html and "+502 ****-0203" in html and "+50230000203" not in html
    only_urgent = client.get("/inbox?priority=urgent").text
    assert re.findall(r'data-case="(\d+)"', only_urgent) == [str(urgent)]
    assert client.get("/inbox?status=closed").status_code == 422


def test_inbound_html_is_shown_as_text(engine, client):
    seed_users(engine)
    receive(engine, '<script>alert("x")</script><b>hola</b>', phone="+50230000301")
    login(client)
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    for html in (client.get("/inbox").text, client.get(f"/cases/{case_id}").text):
        assert "<script>alert" not in html and "<b>hola</b>" not in html
        assert "&lt;script&gt;" in html


def test_reply_note_assign_resolve_and_audited_reveal(engine, client):
    seed_users(engine)
    receive(engine, "AYUDA", phone="+50230000401")
    login(client)
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    page = client.get(f"/cases/{case_id}").text
    assert "+502 ****-0401" in page and "+50230000401" not in page
    token = csrf_of(page)
    assert client.post(f"/cases/{case_id}/reply", data={"body": "Hola, le llamamos hoy.", "csrf_token": token}
                       ).status_code == 303
    client.post(f"/cases/{case_id}/note", data={"body": "Llamar a las 5", "csrf_token": token})
    client.post(
        f"/cases/{case_id}/status",
        data={"status": "resolved", "outcome": "information", "csrf_token": token},
    )
    revealed = client.post(f"/cases/{case_id}/reveal", data={"csrf_token": token})
    assert "+50230000401" in revealed.text
    with make_sessionmaker(engine)() as session:
        reply = session.scalar(select(Outbound).where(Outbound.priority == 10, Outbound.provider != "twiml"))
        assert reply.case_id == case_id and reply.body == "Hola, le llamamos hoy."
        assert reply.status in (OutboundStatus.SENT, OutboundStatus.DELIVERED)  # sent at once (sandbox)
        case = session.get(Case, case_id)
        assert case.status == CaseStatus.RESOLVED and case.assignee_id is not None
        assert session.scalar(select(CaseNote.body)) == "Llamar a las 5"
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"case.reply", "case.note", "case.resolve", "contact.reveal"} <= actions
    final = client.get(f"/cases/{case_id}").text
    assert "Hola, le llamamos hoy." in final and "Llamar a las 5" in final and "Reabrir" in final


def test_empty_reply_is_refused_naming_the_field(engine, client):
    seed_users(engine)
    receive(engine, "hola", phone="+50230000501")
    login(client)
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    token = csrf_of(client.get(f"/cases/{case_id}").text)
    response = client.post(f"/cases/{case_id}/reply", data={"body": "   ", "csrf_token": token})
    assert response.status_code == 422 and "body" in response.text
    with make_sessionmaker(engine)() as session:
        assert count(session, Outbound) == 0


def test_webhook_routes_check_signature_then_store_once(engine, client):
    params = inbound_params("AYUDA", phone="+50230000601")
    url = inbound_url()
    unsigned = client.post("/twilio/inbound", data=params)
    forged_headers = {"X-Twilio-Signature": sign(url, params, "x")}
    forged = client.post("/twilio/inbound", data=params, headers=forged_headers)
    assert (unsigned.status_code, forged.status_code) == (403, 403)
    with make_sessionmaker(engine)() as session:
        assert count(session, Inbound) == 0
    signed = {"X-Twilio-Signature": sign(url, params)}
    first = client.post("/twilio/inbound", data=params, headers=signed)
    retry = client.post("/twilio/inbound", data=params, headers=signed)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/xml")
    assert "<Message>" in first.text and "<Message>" not in retry.text
    malformed = {k: v for k, v in params.items() if k != "From"} | {"MessageSid": "SMother"}
    bad = client.post("/twilio/inbound", data=malformed, headers={"X-Twilio-Signature": sign(url, malformed)})
    assert bad.status_code == 400 and "From" in bad.text
    with make_sessionmaker(engine)() as session:
        assert count(session, Inbound) == 1


def test_webhook_form_is_read_as_twilio_signs_it_whatever_its_encoding(engine, client):
    """Accents, '+' and '&' inside values survive the urlencoded form and match the signature; a
    multipart form is read too; a flood of fields is refused naming the form, storing nothing."""
    body = "¿Ayuda? sí + 100% & más"
    params = inbound_params(body, phone="+50230000602")
    signed = {"X-Twilio-Signature": sign(inbound_url(), params)}
    urlencoded = client.post("/twilio/inbound", data=params, headers=signed)
    assert urlencoded.status_code == 200
    again = inbound_params(body, phone="+50230000603")
    multipart = client.post(
        "/twilio/inbound", files={k: (None, v) for k, v in again.items()},
        headers={"X-Twilio-Signature": sign(inbound_url(), again)},
    )
    assert multipart.status_code == 200
    huge = inbound_params("hola", phone="+50230000605") | {"Padding": "x" * 70_000}
    huge_signed = {"X-Twilio-Signature": sign(inbound_url(), huge)}
    too_large = client.post("/twilio/inbound", data=huge, headers=huge_signed)
    assert too_large.status_code == 413  # a provider's form is a few kilobytes: not read at all
    assert "64 KB" in too_large.text  # the limit, named in the answer
    flood = inbound_params("hola", phone="+50230000604") | {f"x{i}": "1" for i in range(1001)}
    flood_signed = {"X-Twilio-Signature": sign(inbound_url(), flood)}
    refused = client.post("/twilio/inbound", data=flood, headers=flood_signed)
    assert refused.status_code == 400 and "form" in refused.text
    with make_sessionmaker(engine)() as session:
        stored = session.scalars(select(Inbound).order_by(Inbound.id)).all()
        assert [(m.body, m.provider_sid) for m in stored] == [
            (body, params["MessageSid"]), (body, again["MessageSid"]),
        ]


def test_pages_show_times_in_the_deployment_timezone():
    from datetime import UTC, datetime

    from campaign.web import create_app
    from campaign.web.templating import templates
    from tests.campaign.web.helpers import settings as make_settings

    at = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
    create_app(make_settings(timezone="America/New_York"))
    assert templates.env.filters["local"](at) == "2027-01-11 11:00"
    create_app(make_settings())  # back to the default, America/Guatemala
    assert templates.env.filters["local"](at) == "2027-01-11 10:00"
