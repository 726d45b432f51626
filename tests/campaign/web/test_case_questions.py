"""The inbox in the web app: help requests between urgent and normal, cues shown, and staff
answering a case's unclear opt-out (the contact stays muted until they do)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from audiences.models import ConsentEvent, Contact, ContactStatus
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.models import Case, CasePriority, CaseQuestion
from tests.campaign.web.test_app import app, client, csrf_of, login, receive, seed_users  # noqa: F401


def test_inbox_orders_urgent_then_help_then_normal(engine, client):  # noqa: F811
    seed_users(engine)
    now = utcnow()
    receive(engine, "una pregunta", phone="+50230000501", now=now - timedelta(hours=5))
    receive(engine, "nesesito ayuda", phone="+50230000502", now=now - timedelta(hours=2))
    receive(engine, "me estan pegando", phone="+50230000503", now=now - timedelta(hours=1))
    login(client)
    html = client.get("/inbox").text
    with make_sessionmaker(engine)() as session:
        by_priority = {
            c.priority: str(c.id) for c in session.scalars(select(Case))
        }
    assert re.findall(r'data-case="(\d+)"', html) == [
        by_priority[CasePriority.URGENT], by_priority[CasePriority.HIGH], by_priority[CasePriority.NORMAL]
    ]
    assert 'class="high-marker"' in html
    page = client.get(f"/cases/{by_priority[CasePriority.URGENT]}").text
    assert "danger:me estan pegando" in page  # the cues, for staff


def test_staff_confirm_an_unclear_opt_out_from_the_case_page(engine, client):  # noqa: F811
    seed_users(engine)
    receive(engine, "STOP mi marido me pega si ve esto", phone="+50230000601")
    login(client)
    with make_sessionmaker(engine)() as session:
        case = session.scalar(select(Case))
        assert case.question == CaseQuestion.OPT_OUT
    page = client.get(f"/cases/{case.id}").text
    assert f'action="/cases/{case.id}/opt-out-question"' in page
    token = csrf_of(page)
    client.post(
        f"/cases/{case.id}/status", data={"status": "resolved", "outcome": "information", "csrf_token": token}
    )
    assert "opt-out-question" in client.get(f"/cases/{case.id}").text  # resolved, still asking
    refused = client.post(f"/cases/{case.id}/opt-out-question", data={"answer": "maybe", "csrf_token": token})
    assert refused.status_code == 422
    done = client.post(f"/cases/{case.id}/opt-out-question", data={"answer": "opt_out", "csrf_token": token})
    assert done.status_code == 303
    assert "opt-out-question" not in client.get(f"/cases/{case.id}").text
    with make_sessionmaker(engine)() as session:
        contact = session.scalar(select(Contact).where(Contact.phone_is("+50230000601")))
        assert contact.status == ContactStatus.OPTED_OUT
        event = session.scalar(select(ConsentEvent))
        assert (event.channel, event.recorded_by) == ("web", "ana")
