"""Shifts and history: handover with last notes, a shift's summary, the contact's history, quick replies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.core.errors import Invalid, NotFound
from campaign.hotline import inbox, locks, outcomes, quick_replies, shifts
from campaign.hotline.history import contact_history
from messages.packload import load_pack
from tests.campaign.hotline.cases import open_case, receive, staff
from tests.campaign.web.helpers import NOW, settings
from tests.factories import synthetic_phone


def test_handover_lists_open_cases_urgent_first_with_their_last_note(session):
    ana = staff(session, "ana", now=NOW)
    quiet = open_case(session, "una consulta", now=NOW - timedelta(hours=3))
    urgent = open_case(session, "auxilio", now=NOW - timedelta(minutes=5))
    closed = open_case(session, "gracias", now=NOW - timedelta(hours=4))
    inbox.add_note(session, case_id=quiet.id, user=ana, body="Llamar mañana", now=NOW - timedelta(hours=2))
    later = NOW - timedelta(hours=1)
    inbox.add_note(session, case_id=quiet.id, user=ana, body="Pidió que sea por la tarde", now=later)
    outcomes.resolve(session, case_id=closed.id, user=ana, now=NOW, outcome="not_a_case")
    rows = shifts.handover(session)
    assert [r.case.id for r in rows] == [urgent.id, quiet.id]
    assert rows[0].note is None
    assert (rows[1].note.body, rows[1].note.author) == ("Pidió que sea por la tarde", "ana")


def test_shift_summary_counts_what_the_person_did_and_what_is_still_theirs(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    first = open_case(session, now=NOW)
    second = open_case(session, now=NOW)
    third = open_case(session, now=NOW)
    start = NOW + timedelta(minutes=1)
    inbox.reply(session, case_id=first.id, user=ana, body="Hola", now=start)
    outcomes.resolve(session, case_id=first.id, user=ana, now=start, outcome="information")
    inbox.reply(session, case_id=second.id, user=ana, body="Hola", now=start)
    inbox.add_note(session, case_id=second.id, user=ana, body="Esperar respuesta", now=start)
    locks.acquire(session, case_id=third.id, user=beto, now=start)
    summary = shifts.shift_summary(session, user_id=ana.id, since=NOW)
    assert (summary.handled, summary.replies, summary.resolved, summary.notes) == (2, 2, 1, 1)
    assert [c.id for c in summary.still_open] == [second.id]
    assert shifts.shift_summary(session, user_id=ana.id, since=start + timedelta(seconds=1)).handled == 0
    assert shifts.my_case_ids(session, user_id=beto.id) == {third.id}


def test_contact_history_shows_earlier_cases_consent_and_opt_outs(session):
    ana = staff(session, "ana", now=NOW)
    phone = synthetic_phone()
    earlier = open_case(session, "una duda", now=NOW - timedelta(days=20), phone=phone)
    outcomes.resolve(session, case_id=earlier.id, user=ana, now=NOW - timedelta(days=19), outcome="referred",
                     referred_to="shelter")
    receive(session, "BAJA", now=NOW - timedelta(days=10), phone=phone)
    receive(session, "ALTA", now=NOW - timedelta(days=9), phone=phone)
    current = open_case(session, "auxilio", now=NOW, phone=phone)
    history = contact_history(session, contact_id=current.contact_id, exclude_case_id=current.id)
    assert [(c.id, c.outcome, c.referred_to, c.messages) for c in history.cases] == [
        (earlier.id, "referred", "shelter", 1)
    ]
    assert [(e.kind, e.channel, (e.keyword or "").upper()) for e in history.consent] == [
        ("opt_out", "sms", "BAJA"), ("opt_in", "sms", "ALTA"),
    ]
    assert history.opt_outs == 1 and history.status == "active"


def test_quick_replies_are_the_packs_approved_texts_then_canned_answers(session):
    manager = staff(session, "mario", now=NOW, role="manager")
    load_pack(session, now=NOW)
    cfg = settings()
    quick_replies.save_canned(
        session, user=manager, now=NOW, settings=cfg, language="es", title="Línea de la mujer",
        body="Puede llamar gratis al {{ hotline_mujer }}.", position=1,
    )
    quick_replies.save_canned(
        session, user=manager, now=NOW, settings=cfg, language="quc", title="Saludo", body="Utz awach.",
    )
    hidden = quick_replies.save_canned(
        session, user=manager, now=NOW, settings=cfg, language="es", title="Vieja", body="Ya no",
        active=False,
    )
    found = quick_replies.quick_replies(session, language="quc", settings=cfg)
    assert [q.source for q in found] == ["pack", "pack", "canned", "canned"]
    assert "1572" in found[0].body and found[0].language == "es"  # no approved K'iche' text: Spanish
    assert [(q.title, q.body) for q in found[2:]] == [
        ("Saludo", "Utz awach."), ("Línea de la mujer", "Puede llamar gratis al 1572."),
    ]
    quick_replies.delete_canned(session, canned_id=hidden.id, user=manager, now=NOW)
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "canned_reply")).all()
    assert actions == ["canned.save", "canned.save", "canned.save", "canned.delete"]
    with pytest.raises(NotFound):
        quick_replies.delete_canned(session, canned_id=hidden.id, user=manager, now=NOW)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"title": " "}, "title"),
        ({"body": ""}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({"body": "Llame al {{ numero_que_no_existe }}"}, "variable"),
    ],
)
def test_a_bad_canned_answer_is_refused_naming_the_field(session, fields, field):
    manager = staff(session, "mario", now=NOW, role="manager")
    values = {"language": "es", "title": "Título", "body": "Texto"} | fields
    with pytest.raises(Invalid) as refused:
        quick_replies.save_canned(session, user=manager, now=NOW, settings=settings(), **values)
    assert refused.value.field == field
    assert quick_replies.list_canned(session) == []
