"""Signed webhooks: forged, replayed and malformed requests store nothing; inbound effects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from audiences.models import ConsentEvent, Contact, ContactStatus
from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.core.errors import Forbidden
from campaign.hotline.models import Case, CasePriority, CaseStatus, Inbound, Intent
from campaign.hotline.webhooks import MalformedWebhook, handle_status
from tests.campaign.web.helpers import (
    NOW,
    count,
    inbound_params,
    inbound_url,
    post_inbound,
    settings,
    sign,
    status_url,
)
from tests.factories import approve_translation, make_contact, synthetic_phone


def stored(session) -> tuple[int, int, int, int]:
    return count(session, Inbound), count(session, Contact), count(session, Case), count(session, Outbound)


def test_signed_help_request_is_stored_answered_and_opens_a_case(session):
    phone = synthetic_phone()
    xml = post_inbound(session, inbound_params("AYUDA", phone=phone))
    assert "<Message>" in xml and "1572" in xml  # hotline number from the deployment defaults
    inbound = session.scalar(select(Inbound))
    assert inbound.intent == Intent.HELP and inbound.body == "AYUDA"
    contact = session.get(Contact, inbound.contact_id)
    assert contact.phone == phone and contact.status == ContactStatus.ACTIVE
    case = session.get(Case, inbound.case_id)
    assert case.status == CaseStatus.NEW and case.waiting_since == NOW
    auto = session.scalar(select(Outbound))
    assert auto.case_id == case.id and auto.status == OutboundStatus.SENT and "1572" in auto.body


@pytest.mark.parametrize(
    "forgery",
    ["missing", "wrong key", "tampered body", "other url", "other host"],
)
def test_forged_inbound_is_refused_and_stores_nothing(session, forgery):
    params = inbound_params("STOP", phone=synthetic_phone())
    url = inbound_url()
    signature = {
        "missing": "",
        "wrong key": sign(url, params, token="not-the-key"),
        "tampered body": sign(url, {**params, "Body": "hola"}),
        "other url": sign(url + "?x=1", params),
        "other host": sign("https://evil.example" + "/twilio/inbound", params),
    }[forgery]
    with pytest.raises(Forbidden):
        post_inbound(session, params, url=url, signature=signature)
    assert stored(session) == (0, 0, 0, 0)


def test_twilio_provider_uses_the_twilio_auth_token(session):
    cfg = settings(provider="twilio", twilio_auth_token="twilio-test-token-123")
    params = inbound_params("hola", phone=synthetic_phone())
    with pytest.raises(Forbidden):  # signed with the sandbox key: refused in twilio mode
        post_inbound(session, params, cfg=cfg)
    assert stored(session) == (0, 0, 0, 0)
    post_inbound(session, params, cfg=cfg, signature=sign(inbound_url(), params, "twilio-test-token-123"))
    assert count(session, Inbound) == 1


def test_public_url_behind_a_proxy_is_what_is_signed(session):
    cfg = settings(public_url="https://hotline.example.org/")
    params = inbound_params("hola", phone=synthetic_phone())
    url = "https://hotline.example.org/twilio/inbound"
    post_inbound(session, params, url=url, cfg=cfg)
    assert count(session, Inbound) == 1


@pytest.mark.parametrize("missing", ["MessageSid", "From", "Body"])
def test_malformed_signed_form_names_the_field_and_stores_nothing(session, missing):
    params = inbound_params("hola", phone=synthetic_phone())
    del params[missing]
    with pytest.raises(MalformedWebhook) as info:
        post_inbound(session, params)
    assert info.value.field == missing and info.value.http_status == 400
    assert stored(session) == (0, 0, 0, 0)


def test_unreadable_phone_is_refused_naming_from(session):
    with pytest.raises(MalformedWebhook) as info:
        post_inbound(session, inbound_params("hola", phone="not a number"))
    assert info.value.field == "From" and info.value.http_status == 400
    session.rollback()
    assert stored(session) == (0, 0, 0, 0)


def test_replayed_webhook_stores_one_message_and_answers_once(session):
    params = inbound_params("AYUDA", phone=synthetic_phone())
    first = post_inbound(session, params)
    session.commit()
    again = post_inbound(session, params)
    session.commit()
    assert "<Message>" in first
    assert again == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert count(session, Inbound) == 1
    assert count(session, Outbound) == 1  # one auto-reply only


def test_stop_opts_out_cancels_pending_rows_and_confirms_once(session):
    contact = make_contact(session)
    queued = [
        Outbound(contact_id=contact.id, body=f"mensaje {i}", status=OutboundStatus.QUEUED, send_after=NOW)
        for i in range(3)
    ]
    sent = Outbound(contact_id=contact.id, body="ya enviado", status=OutboundStatus.SENT, sent_at=NOW)
    session.add_all([*queued, sent])
    session.flush()

    xml = post_inbound(session, inbound_params("Áltoo!!", phone=contact.phone))
    assert "ALTA" in xml  # says how to opt back in
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT
    for row in queued:
        session.refresh(row)
        assert row.status == OutboundStatus.CANCELLED
    session.refresh(sent)
    assert sent.status == OutboundStatus.SENT
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)).all()
    assert [(e.kind, e.channel, e.keyword) for e in events] == [("opt_out", "sms", "alto")]

    # A second STOP is recorded but not answered again; a later message is stored for staff.
    assert "<Message>" not in post_inbound(session, inbound_params("STOP", phone=contact.phone))
    assert "<Message>" not in post_inbound(session, inbound_params("gracias por todo", phone=contact.phone))
    # bodies are encrypted: found by reading them, not by comparing in SQL
    later = next(i for i in session.scalars(select(Inbound)) if i.body == "gracias por todo")
    assert later.intent == Intent.REPLY and later.case_id is not None
    session.refresh(contact)
    assert contact.status == ContactStatus.OPTED_OUT


def test_urgent_message_makes_an_urgent_case_that_mutes_blasts(session):
    from campaign.blasts.eligibility import blast_eligible

    contact = make_contact(session)
    post_inbound(session, inbound_params("hola", phone=contact.phone))
    case = session.scalar(select(Case))
    assert case.priority == CasePriority.NORMAL
    params = inbound_params("por favor me pegan", phone=contact.phone)
    xml = post_inbound(session, params, now=NOW + timedelta(hours=1))
    assert "110" in xml
    session.refresh(case)
    assert case.priority == CasePriority.URGENT and count(session, Case) == 1
    assert case.waiting_since == NOW  # still waiting since the first unanswered message
    eligible = session.scalar(select(Contact.id).where(Contact.id == contact.id, blast_eligible()))
    assert eligible is None


def test_reply_is_attributed_to_the_last_outbound_within_the_window(session):
    campaign = Campaign(slug="c1", name="Ofertas falsas")
    session.add(campaign)
    session.flush()
    contact = make_contact(session)
    old = Outbound(contact_id=contact.id, campaign_id=campaign.id, body="viejo",
                   status=OutboundStatus.DELIVERED, sent_at=NOW - timedelta(days=3))
    newer = Outbound(contact_id=contact.id, campaign_id=campaign.id, body="nuevo", status=OutboundStatus.SENT,
                     sent_at=NOW - timedelta(days=1))
    queued = Outbound(contact_id=contact.id, body="pendiente", status=OutboundStatus.QUEUED)
    session.add_all([old, newer, queued])
    session.flush()
    post_inbound(session, inbound_params("¿es real esta oferta?", phone=contact.phone))
    inbound = session.scalar(select(Inbound))
    assert (inbound.outbound_id, inbound.campaign_id) == (newer.id, campaign.id)
    assert session.get(Case, inbound.case_id).campaign_id == campaign.id

    stale = make_contact(session)
    session.add(Outbound(contact_id=stale.id, campaign_id=campaign.id, body="x", status=OutboundStatus.SENT,
                         sent_at=NOW - timedelta(days=8)))
    session.flush()
    post_inbound(session, inbound_params("hola", phone=stale.phone))
    late = session.scalar(select(Inbound).where(Inbound.contact_id == stale.id))
    assert (late.outbound_id, late.campaign_id) == (None, None)


def test_auto_reply_in_contact_language_else_spanish(session):
    approve_translation(
        session, slug="respuesta-ayuda", language="es",
        body="{{ organizacion }}: llame al {{ hotline_mujer }}")
    approve_translation(
        session, slug="respuesta-ayuda", language="quc",
        body="Chabʼe ri {{ hotline_mujer }}")
    quc = make_contact(session, language="quc")
    kek = make_contact(session, language="kek")
    assert "Chab'e ri 1572" in post_inbound(session, inbound_params("AYUDA", phone=quc.phone))
    spanish = post_inbound(session, inbound_params("AYUDA", phone=kek.phone))
    assert "Red de Prevención: llame al 1572" in spanish


def _sending(session, sid="SMaaaa"):
    contact = make_contact(session)
    row = Outbound(contact_id=contact.id, body="hola", status=OutboundStatus.SENDING, provider_sid=sid)
    session.add(row)
    session.flush()
    return row


def post_status(session, params, url, signature=None):
    signature = sign(url, params) if signature is None else signature
    return handle_status(session, url=url, params=params, signature=signature, settings=settings(), now=NOW)


def test_status_callbacks_move_forward_only(session):
    row = _sending(session)
    url = status_url(row.id)
    assert post_status(session, {"MessageSid": "SMaaaa", "MessageStatus": "delivered"}, url) is True
    assert post_status(session, {"MessageSid": "SMaaaa", "MessageStatus": "sent"}, url) is False
    session.refresh(row)
    assert row.status == OutboundStatus.DELIVERED and row.delivered_at == NOW


def test_status_falls_back_to_the_sid_and_records_errors(session):
    row = _sending(session, sid="SMbbbb")
    params = {"MessageSid": "SMbbbb", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_status(session, params, status_url()) is True
    session.refresh(row)
    assert (row.status, row.error_code) == (OutboundStatus.UNDELIVERED, "30003")


def test_forged_or_malformed_status_changes_nothing(session):
    row = _sending(session, sid="SMcccc")
    url = status_url(row.id)
    params = {"MessageSid": "SMcccc", "MessageStatus": "failed"}
    with pytest.raises(Forbidden):
        post_status(session, params, url, signature=sign(url, params, token="forged"))
    with pytest.raises(Forbidden):
        post_status(session, params, url, signature=sign(status_url(999), params))
    with pytest.raises(MalformedWebhook) as info:
        post_status(session, {"MessageSid": "SMcccc"}, url)
    assert info.value.field == "MessageStatus"
    session.refresh(row)
    assert row.status == OutboundStatus.SENDING


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/twilio/inbound", "https://example.org/twilio/inbound",
        "https://example.org:443/twilio/status?outbound=5", "http://example.org:80/twilio/status?outbound=7&x=%20y",
        "https://example.org:8443/twilio/inbound", "https://example.org/tw\u00edlio",
    ],
)
def test_signature_check_decides_as_twilios_validator(url):
    """signature_matches is twilio's RequestValidator.validate for a form, made cheaper: same
    answer for the URL's own signature, the one with or without its port, forged and empty ones."""
    import random
    import string

    from twilio.request_validator import RequestValidator

    from campaign.hotline.webhooks import signature_matches

    rng = random.Random(url)
    for _ in range(30):
        params = {
            "".join(rng.choices(string.ascii_letters + "ñ", k=rng.randint(1, 8))):
            "".join(rng.choices(string.printable + "áé€😀", k=rng.randint(0, 30)))
            for _ in range(rng.randint(0, 8))
        }
        token = rng.choice(["twilio-test-token-123", "ñandú"])
        validator = RequestValidator(token)
        forms = [url, url.replace(":443/", "/").replace(":80/", "/"), url.replace("org/", "org:443/")]
        candidates = [
            *(validator.compute_signature(form, params) for form in forms),
            RequestValidator("forged").compute_signature(url, params), "", "x" * 28,
        ]
        for signature in candidates:
            expected = validator.validate(url, dict(params), signature)
            assert signature_matches(token, url, params, signature) == expected
