"""A batch of inbound webhooks stored set-based (campaign/hotline/intake.py): same outcome as one by one."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audiences.models import ConsentEvent, Contact, ContactStatus
from campaign.blasts.models import Outbound
from campaign.core.crypto import blind_index
from campaign.core.db import make_sessionmaker
from campaign.hotline.models import Case, CasePriority, CaseQuestion, Inbound, Intent
from campaign.hotline.webhooks import InboundWebhook, MalformedWebhook, store_inbound
from tests.campaign.web.helpers import NOW, count, settings
from tests.factories import make_contact, synthetic_phone


def webhook(body: str, *, phone: str, sid: str, at: int = 0) -> InboundWebhook:
    return InboundWebhook(sid, phone, body, "+50220000000", NOW + timedelta(seconds=at))


def test_two_messages_from_one_new_sender_in_one_batch_share_one_contact_and_case(session):
    phone = synthetic_phone()
    replies = store_inbound(
        session,
        [
            webhook("hola, ¿es real?", phone=phone, sid="SMb1"),
            webhook("AYUDA", phone=phone, sid="SMb2", at=1),
        ],
        settings=settings(),
    )
    assert "<Message>" not in replies[0] and "<Message>" in replies[1]  # only AYUDA is answered
    assert count(session, Contact) == 1
    contact = session.scalar(select(Contact))
    assert contact.phone_index == blind_index(phone)
    case = session.scalar(select(Case))
    assert case.priority == CasePriority.HIGH and case.waiting_since == NOW  # raised, oldest kept
    rows = session.execute(select(Inbound.provider_sid, Inbound.case_id, Inbound.intent)).all()
    assert sorted(rows) == [("SMb1", case.id, Intent.REPLY), ("SMb2", case.id, Intent.HELP)]


def test_a_sid_twice_in_one_batch_and_a_retry_in_the_next_are_stored_once(session):
    phone = synthetic_phone()
    first = store_inbound(
        session, [webhook("AYUDA", phone=phone, sid="SMdup"), webhook("AYUDA", phone=phone, sid="SMdup")],
        settings=settings(),
    )
    assert "<Message>" in first[0] and first[1] == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />"
    again = store_inbound(session, [webhook("AYUDA", phone=phone, sid="SMdup")], settings=settings())
    assert again == [first[1]]
    assert count(session, Inbound) == 1 and count(session, Outbound) == 1  # one auto-reply


def test_two_bare_si_answering_the_question_in_one_batch_opt_in_once(session):
    phone = synthetic_phone()
    contact = make_contact(session, phone=phone)
    session.flush()
    store_inbound(session, [webhook("STOP", phone=phone, sid="SMq1")], settings=settings())
    store_inbound(session, [webhook("sí", phone=phone, sid="SMq2", at=1)], settings=settings())  # asked
    store_inbound(
        session, [webhook("sí", phone=phone, sid="SMq3", at=2), webhook("sí", phone=phone, sid="SMq4", at=3)],
        settings=settings(),
    )
    session.refresh(contact)
    assert contact.status == ContactStatus.ACTIVE
    intents = dict(session.execute(select(Inbound.provider_sid, Inbound.intent)).all())
    assert intents == {
        "SMq1": Intent.OPT_OUT, "SMq2": Intent.REPLY, "SMq3": Intent.OPT_IN, "SMq4": Intent.REPLY
    }
    assert count(session, ConsentEvent) == 2


def test_stop_then_reply_in_one_batch_opts_out_and_keeps_the_reply_order(session):
    phone = synthetic_phone()
    contact = make_contact(session, phone=phone)
    session.flush()
    replies = store_inbound(
        session,
        [
            webhook("STOP", phone=phone, sid="SMs1"),
            webhook("sí", phone=phone, sid="SMs2", at=1),  # a bare "sí" after a STOP: asked once
            webhook("hola", phone=synthetic_phone(), sid="SMs3", at=2),
        ],
        settings=settings(),
    )
    assert "<Message>" in replies[0] and "<Message>" in replies[1] and "<Message>" not in replies[2]
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT
    assert count(session, ConsentEvent) == 1
    case = session.scalar(select(Case).where(Case.contact_id == contact.id))
    assert case.question == CaseQuestion.OPT_IN


def test_an_unreadable_number_in_a_batch_is_a_malformed_webhook(session):
    with pytest.raises(MalformedWebhook) as raised:
        store_inbound(
            session,
            [webhook("hola", phone=synthetic_phone(), sid="SMok"), webhook("hola", phone="abc", sid="SMbad")],
            settings=settings(),
        )
    assert raised.value.field == "From"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one write lock at the web edge
def test_concurrent_batches_with_the_same_sids_and_new_senders_store_each_once(engine):
    """Two transactions store overlapping batches (retries of each other, new numbers) at once:
    the second waits for the first and stores only what the first did not. (On SQLite one write
    lock at the web edge serializes batches.)"""
    phones = [synthetic_phone() for _ in range(6)]
    batch = [
        webhook("AYUDA" if n % 2 else "hola", phone=phones[n % 6], sid=f"SMc{n:03d}", at=n) for n in range(24)
    ]
    halves = [batch[:16], list(reversed(batch[8:]))]
    sessions = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    replies: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            with sessions.begin() as session:
                session.execute(select(1))
                barrier.wait(timeout=30)
                replies[k] = store_inbound(session, halves[k], settings=settings())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    answered = sum("<Message>" in reply for reply in replies[0] + replies[1])
    with sessions() as session:
        assert sorted(session.scalars(select(Inbound.provider_sid))) == sorted(w.sid for w in batch)
        assert count(session, Contact) == 6
        assert answered == 12 == session.scalar(select(func.count()).select_from(Outbound))
        open_cases = session.scalars(select(func.count()).select_from(Case).group_by(Case.contact_id)).all()
        assert open_cases == [1] * 6


def test_remembered_triage_is_the_triage_of_the_same_table():
    from campaign.hotline.intake import TRIAGE_MEMO_CHARS, _triage
    from campaign.hotline.intents import compile_catalogue, triage
    from campaign.hotline.responses import keyword_table

    table, minimum = keyword_table(), compile_catalogue(None, include_base=True)
    for text in ["STOP", "AYUDA", "sí", "hola, ¿es real?", "x" * (TRIAGE_MEMO_CHARS + 1)]:
        assert _triage(text, "es", table) == triage(text, "es", table)
        assert _triage(text, "es", table) == triage(text, "es", table)  # remembered
        assert _triage(text, "es", minimum) == triage(text, "es", minimum)  # not another table's
