"""Staff replies: the opt-out rule (enforced in the service), the encoding policy, the first answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from audiences.models import Contact, ContactStatus
from campaign.blasts.models import Outbound
from campaign.core.errors import Invalid
from campaign.hotline import inbox
from tests.campaign.hotline.cases import open_case, receive, staff
from tests.campaign.web.helpers import NOW
from tests.factories import make_contact, synthetic_phone


def _contact(session, case):
    return session.get(Contact, case.contact_id)


def test_an_opted_out_contact_gets_a_reply_only_to_their_own_later_message_within_24_hours(session):
    ana = staff(session, "ana", now=NOW)
    phone = synthetic_phone()
    case = open_case(session, "me pueden ayudar con algo?", now=NOW, phone=phone)
    receive(session, "BAJA", now=NOW + timedelta(minutes=5), phone=phone)  # opts out
    contact = _contact(session, case)
    assert contact.status == ContactStatus.OPTED_OUT
    # Their message came before the STOP: the STOP wins.
    with pytest.raises(Invalid) as refused:
        inbox.reply(session, case_id=case.id, user=ana, body="Hola", now=NOW + timedelta(minutes=10))
    assert refused.value.field == "contact" and "24" in refused.value.reason
    # They write again after opting out: a reply to that is allowed for 24 hours.
    open_case(session, "perdón, sí necesito ayuda", now=NOW + timedelta(hours=1), phone=phone)
    later = NOW + timedelta(hours=24, minutes=59)
    reply = inbox.reply(session, case_id=case.id, user=ana, body="Con gusto le ayudamos.", now=later)
    assert reply.body == "Con gusto le ayudamos."
    with pytest.raises(Invalid):
        too_late = NOW + timedelta(hours=25, minutes=1)
        inbox.reply(session, case_id=case.id, user=ana, body="¿Sigue ahí?", now=too_late)
    assert "¿Sigue ahí?" not in session.scalars(select(Outbound.body)).all()  # encrypted: read, then compare


def test_a_blocked_contact_never_gets_a_reply(session):
    ana = staff(session, "ana", now=NOW)
    phone = synthetic_phone()
    make_contact(session, phone=phone, status=ContactStatus.BLOCKED)
    case = open_case(session, "hola", now=NOW, phone=phone)
    with pytest.raises(Invalid) as refused:
        inbox.reply(session, case_id=case.id, user=ana, body="Hola", now=NOW)
    assert refused.value.field == "contact"


def test_the_reply_is_sent_as_the_language_policy_makes_it(session):
    ana = staff(session, "ana", now=NOW)
    case = open_case(session, now=NOW)
    body = "Su “jefe” no puede quitarle sus documentos… llame al 1572"
    exact = inbox.reply(session, case_id=case.id, user=ana, body=body, now=NOW)
    assert exact.encoding == "UCS-2" and exact.body == body
    smart = inbox.reply(session, case_id=case.id, user=ana, body=body, now=NOW, policy="smart")
    assert smart.encoding == "GSM-7"
    assert smart.body == 'Su "jefe" no puede quitarle sus documentos... llame al 1572'
    mayan_text = "Utz awach, kʼo jun tzij"
    mayan = inbox.reply(session, case_id=case.id, user=ana, body=mayan_text, now=NOW, policy="fold")
    assert mayan.body == "Utz awach, k'o jun tzij" and mayan.encoding == "GSM-7"


def test_the_first_answer_time_is_kept(session):
    ana = staff(session, "ana", now=NOW)
    case = open_case(session, now=NOW)
    assert case.first_answer_at is None
    inbox.reply(session, case_id=case.id, user=ana, body="Hola", now=NOW + timedelta(minutes=7))
    inbox.reply(session, case_id=case.id, user=ana, body="¿Sigue ahí?", now=NOW + timedelta(minutes=30))
    assert case.first_answer_at == NOW + timedelta(minutes=7)


def test_the_allowed_reply_to_an_opted_out_contact_goes_out_and_an_earlier_one_does_not(engine):
    """The dispatcher's mute (campaign.blasts.muting) agrees with the inbox's rule: a reply written
    before the STOP is cancelled; one written after, answering the contact's later message, is sent."""
    from campaign.blasts.dispatch import send_now
    from campaign.blasts.models import OutboundStatus
    from campaign.core.db import make_sessionmaker
    from campaign.providers.sandbox import SandboxProvider
    from tests.campaign.web.helpers import settings

    phone = synthetic_phone()
    maker = make_sessionmaker(engine)
    with maker.begin() as session:
        ana = staff(session, "ana", now=NOW)
        case = open_case(session, "tengo una duda", now=NOW, phone=phone)
        before = inbox.reply(session, case_id=case.id, user=ana, body="Enseguida le escribo", now=NOW)
        receive(session, "BAJA", now=NOW + timedelta(minutes=1), phone=phone)
        receive(session, "perdón, necesito ayuda", now=NOW + timedelta(minutes=20), phone=phone)
        written = NOW + timedelta(minutes=25)
        after = inbox.reply(session, case_id=case.id, user=ana, body="Aquí estamos", now=written)
        ids = before.id, after.id
    provider = SandboxProvider(settings())
    later = NOW + timedelta(minutes=26)
    assert send_now(engine, provider, ids[0], now=later, settings=settings()) == OutboundStatus.CANCELLED
    assert send_now(engine, provider, ids[1], now=later, settings=settings()) in (
        OutboundStatus.SENT, OutboundStatus.DELIVERED,
    )
