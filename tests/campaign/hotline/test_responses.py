"""Responses to inbound messages, through the real signed webhook, on SQLite and PostgreSQL:
triage into the inbox, STOP as people write it, opt-outs that survive a broken confirmation,
auto-replies in the language's encoding, unknown senders, the "sí" rule, unclear opt-outs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from audiences.models import ConsentEvent, Contact, ContactStatus
from campaign.blasts.eligibility import blast_eligible
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.db import make_sessionmaker
from campaign.core.errors import Invalid
from campaign.hotline import inbox, outcomes
from campaign.hotline.models import Case, CasePriority, CaseQuestion, CaseStatus, Inbound, Intent, Role, User
from campaign.hotline.responses import RESUBSCRIBE_QUESTION_HOURS
from tests.campaign.web.helpers import NOW, count, inbound_params, post_inbound
from tests.factories import approve_translation, make_contact, make_outbound, synthetic_phone


def _send(session, body, phone, *, now=NOW):
    return post_inbound(session, inbound_params(body, phone=phone), now=now)


def _eligible(session, contact) -> bool:
    return session.scalar(select(Contact.id).where(Contact.id == contact.id, blast_eligible())) is not None


def _staff(session) -> User:
    user = User(username="ana", password_hash="x", role=Role.HOTLINE)
    session.add(user)
    session.flush()
    return user


STOPS = [
    "STOP STOP", "Baja baja", "por favor, STOP", "Por favor baja", "STOP ALL", "ok stop", "No más mensajes",
    "ya no quiero mensajes", "no quiero recibir mensajes", "darme de baja", "alto, no me manden más",
    "S T O P", "ST\u200bOP",
]


@pytest.mark.parametrize("body", STOPS)
def test_stop_as_people_write_it_opts_out_and_cancels_queued_held_and_unknown_rows(session, body):
    contact = make_contact(session)
    rows = [
        make_outbound(session, contact=contact),
        make_outbound(session, contact=contact, send_after=NOW + timedelta(hours=14)),  # held for the window
        make_outbound(session, contact=contact, status=OutboundStatus.UNKNOWN),
    ]
    xml = _send(session, body, contact.phone)
    session.commit()
    assert "ALTA" in xml  # the confirmation says how to come back
    session.expire_all()
    assert session.get(Contact, contact.id).status == ContactStatus.OPTED_OUT
    assert {session.get(Outbound, r.id).status for r in rows} == {OutboundStatus.CANCELLED}
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
    assert (event.kind, event.channel) == ("opt_out", "sms") and event.keyword
    assert session.scalar(select(Inbound.intent)) == Intent.OPT_OUT


def test_stop_with_a_danger_cue_is_urgent_keeps_the_question_and_mutes_until_staff_confirm(session):
    contact = make_contact(session)
    queued = make_outbound(session, contact=contact)
    xml = _send(session, "STOP mi esposo me pega si ve estos mensajes", contact.phone)
    assert "110" in xml and "1572" in xml  # emergency numbers at once
    inbound = session.scalar(select(Inbound))
    assert inbound.intent == Intent.URGENT and "danger:me pega" in inbound.cues
    case = session.get(Case, inbound.case_id)
    assert (case.priority, case.question) == (CasePriority.URGENT, CaseQuestion.OPT_OUT)
    session.refresh(contact)
    assert contact.status == ContactStatus.ACTIVE  # never an opt-out: a person decides
    assert session.get(Outbound, queued.id).status == OutboundStatus.QUEUED
    assert not _eligible(session, contact)

    user = _staff(session)
    outcomes.resolve(session, case_id=case.id, user=user, now=NOW + timedelta(hours=1), outcome="information")
    assert not _eligible(session, contact), "resolving must not unmute an unclear opt-out"

    later = NOW + timedelta(hours=2)
    inbox.answer_opt_out_question(session, case_id=case.id, user=user, opted_out=True, now=later)
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT
    assert session.get(Outbound, queued.id).status == OutboundStatus.CANCELLED
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
    assert (event.kind, event.channel, event.recorded_by) == ("opt_out", "web", "ana")
    assert session.get(Case, case.id).question is None
    with pytest.raises(Invalid):  # answered: nothing left to confirm
        inbox.answer_opt_out_question(session, case_id=case.id, user=user, opted_out=False, now=NOW)


def test_an_unclear_opt_out_confirmed_as_not_one_unmutes_once_the_case_is_resolved(session):
    contact = make_contact(session)
    _send(session, "no me interesa, quién les dio mi número?", contact.phone)
    case = session.scalar(select(Case))
    assert case.question == CaseQuestion.OPT_OUT and case.priority == CasePriority.NORMAL
    user = _staff(session)
    outcomes.resolve(session, case_id=case.id, user=user, now=NOW, outcome="information")
    assert not _eligible(session, contact)
    inbox.answer_opt_out_question(session, case_id=case.id, user=user, opted_out=False, now=NOW)
    session.refresh(contact)
    assert contact.status == ContactStatus.ACTIVE and _eligible(session, contact)
    assert count(session, ConsentEvent) == 0


def test_a_clear_stop_from_the_contact_answers_the_open_question(session):
    contact = make_contact(session)
    _send(session, "gracias pero STOP con eso del trabajo", contact.phone)
    assert session.scalar(select(Case.question)) == CaseQuestion.OPT_OUT
    _send(session, "STOP", contact.phone, now=NOW + timedelta(minutes=5))
    assert session.scalar(select(Case.question)) is None
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT


def test_the_opt_out_is_stored_even_when_every_confirmation_text_fails(session, monkeypatch):
    import messages.rendering

    def broken(*args, **kwargs):
        raise RuntimeError("template engine down")

    approve_translation(
        session, slug="respuesta-baja", language="es",
        body="{{ organizacion }}: listo")
    monkeypatch.setattr(messages.rendering, "render", broken)
    contact = make_contact(session)
    queued = make_outbound(session, contact=contact)
    xml = _send(session, "BAJA", contact.phone)
    session.commit()
    assert "ALTA" in xml  # the fixed last-resort line still confirms
    session.expire_all()
    assert session.get(Contact, contact.id).status == ContactStatus.OPTED_OUT
    assert session.get(Outbound, queued.id).status == OutboundStatus.CANCELLED
    assert count(session, ConsentEvent) == 1


def test_a_template_error_in_the_pack_falls_back_to_the_built_in_text(session):
    approve_translation(
        session, slug="respuesta-baja", language="es",
        body="{{ organizacion }} {{ 1 // 0 }}")
    contact = make_contact(session)
    xml = _send(session, "BAJA", contact.phone)
    assert "Para volver a recibirlos, responda ALTA" in xml
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT


@pytest.mark.parametrize(
    ("body", "priority", "numbers"),
    [
        ("me están pegando", CasePriority.URGENT, ("110", "1572")),
        ("necesito ayuda", CasePriority.HIGH, ("1572",)),
        ("hola, gracias", CasePriority.NORMAL, ()),
    ],
)
def test_inbound_reaches_the_inbox_at_its_priority_with_its_cues(session, body, priority, numbers):
    contact = make_contact(session)
    xml = _send(session, body, contact.phone)
    case = session.scalar(select(Case))
    assert case.priority == priority and case.status == CaseStatus.NEW
    for number in numbers:
        assert number in xml
    if not numbers:
        assert "<Message>" not in xml  # a plain reply waits for a person
    assert [c.id for c in inbox.list_cases(session)] == [case.id]


def test_priority_only_rises_while_the_case_is_open(session):
    contact = make_contact(session)
    _send(session, "hola", contact.phone)
    _send(session, "necesito ayuda", contact.phone, now=NOW + timedelta(minutes=1))
    assert session.scalar(select(Case.priority)) == CasePriority.HIGH
    _send(session, "me quiere matar", contact.phone, now=NOW + timedelta(minutes=2))
    assert session.scalar(select(Case.priority)) == CasePriority.URGENT
    _send(session, "info", contact.phone, now=NOW + timedelta(minutes=3))
    _send(session, "gracias", contact.phone, now=NOW + timedelta(minutes=4))
    assert session.scalar(select(Case.priority)) == CasePriority.URGENT
    assert count(session, Case) == 1


def test_auto_replies_use_the_language_encoding_policy_and_record_their_segments(session):
    approve_translation(
        session, slug="respuesta-ayuda", language="es",
        body="{{ organizacion }}: Recibimos su mensaje y una persona le responderá. Línea de la mujer "
             "{{ hotline_mujer }}, idiomas mayas {{ linea_maya }}, emergencias {{ policia }}.")
    contact = make_contact(session)
    xml = _send(session, "AYUDA", contact.phone)
    auto = session.scalar(select(Outbound).where(Outbound.provider == "twiml"))
    assert (auto.encoding, auto.segments) == ("GSM-7", 1)  # folded: "Linea", "respondera"
    assert "Linea de la mujer 1572" in auto.body and "Línea" not in auto.body
    assert auto.body in xml


def test_urgent_reply_in_the_contact_language_where_approved_else_spanish(session):
    approve_translation(
        session, slug="respuesta-urgente", language="quc",
        body="Kinto'b'ej: {{ policia }}, {{ hotline_mujer }}")
    quc = make_contact(session, language="quc")
    kek = make_contact(session, language="kek")
    assert "Kinto'b'ej: 110, 1572" in _send(session, "auxilio", quc.phone)
    spanish = _send(session, "auxilio", kek.phone)
    assert "110" in spanish and "1572" in spanish and "Kinto" not in spanish


def test_an_unknown_sender_becomes_a_contact_without_consent_the_hotline_can_answer(session):
    phone = synthetic_phone()
    _send(session, "hola, quién es?", phone)
    contact = session.scalar(select(Contact).where(Contact.phone_is(phone)))
    assert contact.status == ContactStatus.ACTIVE
    assert (contact.consent_source, contact.consent_at) == (None, None)
    assert count(session, ConsentEvent) == 0
    case = session.scalar(select(Case).where(Case.contact_id == contact.id))
    reply = inbox.reply(session, case_id=case.id, user=_staff(session), body="Hola, somos la red.", now=NOW)
    assert reply.status == OutboundStatus.QUEUED

    _send(session, "ALTA", phone, now=NOW + timedelta(hours=1))  # explicit keywords always work
    session.refresh(contact)
    assert contact.consent_at == NOW + timedelta(hours=1) and contact.consent_source
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)).all()
    assert [(e.kind, e.keyword) for e in events] == [("opt_in", "alta")]


def test_a_bare_si_resubscribes_only_as_the_answer_to_our_question(session):
    contact = make_contact(session)
    _send(session, "SI", contact.phone)  # an answer to someone, not a subscription
    assert session.scalar(select(Inbound.intent)) == Intent.REPLY and count(session, ConsentEvent) == 0

    _send(session, "BAJA", contact.phone, now=NOW + timedelta(minutes=1))
    asked = _send(session, "Sí", contact.phone, now=NOW + timedelta(minutes=2))
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT  # not yet: we ask first
    assert "Responda SI" in asked
    case = session.scalar(select(Case).where(Case.contact_id == contact.id))
    assert case.question == CaseQuestion.OPT_IN

    confirmed = _send(session, "si", contact.phone, now=NOW + timedelta(minutes=3))
    session.refresh(contact)
    assert contact.status == ContactStatus.ACTIVE and "BAJA" in confirmed
    kinds = session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
    assert kinds == ["opt_out", "opt_in"]
    session.refresh(case)
    assert case.question is None


def test_the_resubscribe_question_expires(session):
    contact = make_contact(session)
    _send(session, "BAJA", contact.phone)
    _send(session, "si", contact.phone, now=NOW + timedelta(minutes=1))
    later = NOW + timedelta(hours=RESUBSCRIBE_QUESTION_HOURS, minutes=2)
    again = _send(session, "si", contact.phone, now=later)
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT and "Responda SI" in again  # asked anew


@pytest.mark.parametrize("keyword", ["ALTA", "INICIO", "START"])
def test_explicit_opt_in_keywords_always_work_and_are_recorded(session, keyword):
    contact = make_contact(session)
    _send(session, "STOP", contact.phone)
    _send(session, keyword, contact.phone, now=NOW + timedelta(minutes=1))
    _send(session, keyword, contact.phone, now=NOW + timedelta(minutes=2))  # again: recorded again
    session.refresh(contact)
    assert contact.status == ContactStatus.ACTIVE
    kinds = session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
    assert kinds == ["opt_out", "opt_in", "opt_in"]


def test_a_blocked_contact_writing_alta_stays_blocked_and_reaches_a_person(session):
    contact = make_contact(session)
    contact.status = ContactStatus.BLOCKED
    session.flush()
    _send(session, "ALTA", contact.phone)
    session.refresh(contact)
    assert contact.status == ContactStatus.BLOCKED and count(session, ConsentEvent) == 0
    assert session.scalar(select(Inbound.intent)) == Intent.REPLY and count(session, Case) == 1


def test_the_opt_out_survives_the_commit_at_the_edge(engine):
    with make_sessionmaker(engine).begin() as session:
        contact = make_contact(session)
        phone = contact.phone
    with make_sessionmaker(engine).begin() as session:
        _send(session, "ya no quiero mensajes", phone)
    with make_sessionmaker(engine)() as session:
        stored = session.scalar(select(Contact).where(Contact.phone_is(phone)))
        assert stored.status == ContactStatus.OPTED_OUT


def test_a_pack_whose_keywords_do_not_load_still_stores_and_triages_inbound(session, monkeypatch):
    import campaign.hotline.responses as responses

    def broken(pack_dir=None):
        raise ValueError("cannot read pattern '(golpe-'")

    monkeypatch.setattr(responses, "pack_lexicon", broken)
    contact = make_contact(session)
    assert "110" in _send(session, "auxilio", contact.phone)  # the built-in minimum still finds it
    _send(session, "STOP", contact.phone, now=NOW + timedelta(minutes=1))
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT and count(session, Inbound) == 2


def test_stop_from_a_blocked_contact_with_whatsapp_consent_is_recorded_and_withdraws_whatsapp(session):
    contact = make_contact(session)
    contact.status, contact.whatsapp_consent_at = ContactStatus.BLOCKED, NOW - timedelta(days=3)
    session.flush()
    _send(session, "STOP", contact.phone)
    _send(session, "STOP", contact.phone, now=NOW + timedelta(minutes=1))  # again: recorded again
    session.expire_all()
    stored = session.get(Contact, contact.id)
    assert stored.status == ContactStatus.BLOCKED and stored.whatsapp_consent_at is None
    events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(e.kind, e.keyword, e.at) for e in events] == [
        ("opt_out", "stop", NOW), ("opt_out", "stop", NOW + timedelta(minutes=1))
    ]
    assert all(e.source and e.channel == "sms" and e.recorded_by is None for e in events)
