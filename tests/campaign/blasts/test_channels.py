"""Channels: who gets WhatsApp and who SMS, the 24 h window, addresses, a step's channel list in
campaign files (errors name the field), and consent (WhatsApp needs its own opt-in; a STOP stops
both). Synthetic test data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audiences.consent import opt_in, opt_out
from campaign.blasts.campaign_export import campaign_document
from campaign.blasts.campaign_files import parse_campaign
from campaign.blasts.channels import (
    WHATSAPP_WINDOW,
    address_for,
    channel_for,
    channel_of_address,
    choose_channels,
    message_fits,
    phone_of,
    whatsapp_address,
    whatsapp_window_open,
)
from campaign.core.errors import Invalid
from campaign.hotline.models import Inbound, Intent
from tests.factories import make_contact

NOW = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("channels", "opted", "preferred", "expected"),
    [
        (("sms",), True, "whatsapp", "sms"),
        (("whatsapp",), True, None, "whatsapp"),
        (("whatsapp",), False, None, None),  # never WhatsApp without its opt-in
        (("whatsapp",), True, "sms", "whatsapp"),  # the step says WhatsApp only
        (("whatsapp", "sms"), True, None, "whatsapp"),
        (("whatsapp", "sms"), True, "whatsapp", "whatsapp"),
        (("whatsapp", "sms"), True, "sms", "sms"),
        (("whatsapp", "sms"), False, "whatsapp", "sms"),
    ],
)
def test_channel_for_each_contact(channels, opted, preferred, expected):
    assert channel_for(channels, opted_in_whatsapp=opted, preferred=preferred) == expected


def test_choose_channels_over_many_contacts():
    chosen = choose_channels(("whatsapp", "sms"), [(1, True, None), (2, False, None), (3, True, "sms")])
    assert chosen == {1: "whatsapp", 2: "sms", 3: "sms"}


def test_addresses():
    assert whatsapp_address("+50255501234") == "whatsapp:+50255501234"
    assert whatsapp_address("whatsapp:+50255501234") == "whatsapp:+50255501234"
    assert phone_of("whatsapp:+50255501234") == "+50255501234"
    assert phone_of("+50255501234") == "+50255501234"
    assert channel_of_address("whatsapp:+50255501234") == "whatsapp"
    assert channel_of_address("+50255501234") == "sms"
    assert address_for("sms", "+50255501234") == "+50255501234"
    assert address_for("whatsapp", "+50255501234") == "whatsapp:+50255501234"


def test_messages_written_for_sms_go_as_whatsapp_free_text():
    assert message_fits(["sms"], "whatsapp")
    assert message_fits(["whatsapp"], "whatsapp")
    assert not message_fits(["radio"], "whatsapp")
    assert not message_fits(["whatsapp"], "sms")


def _doc(channel, **extra):
    step = {"id": "uno", "channel": channel, "message": "m", "query": 'department = "GT-12"',
            "at": "2027-01-11 10:00", **extra}
    return {"slug": "prueba", "name": "Prueba", "steps": [step]}


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("whatsapp", ("whatsapp", None)),
        (["whatsapp", "sms"], ("whatsapp", "sms")),
        (["sms", "whatsapp"], ("whatsapp", "sms")),
        (["sms"], ("sms", None)),
    ],
)
def test_a_step_channel_may_be_whatsapp_or_a_list(channel, expected):
    step = parse_campaign(_doc(channel))["steps"][0]
    assert (step["channel"], step["channel_fallback"]) == expected


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_doc("telegram"), "steps[0].channel"),
        (_doc(["whatsapp", "radio"]), "steps[0].channel"),
        (_doc(["whatsapp", "sms", "sms"]), "steps[0].channel"),
        (_doc("sms", audio="spot-uno"), "steps[0].audio"),
        (_doc("whatsapp", audio="Spot Uno"), "steps[0].audio"),
        (_doc("whatsapp", stations=["all"]), "steps[0].stations"),
    ],
)
def test_channel_errors_name_the_field(document, field):
    with pytest.raises(Invalid) as raised:
        parse_campaign(document)
    assert raised.value.field == field, str(raised.value)


def test_a_channel_list_and_a_recording_survive_the_export():
    spec = parse_campaign(_doc(["whatsapp", "sms"], audio="spot-uno"))
    document = campaign_document(spec)
    assert document["steps"][0]["channel"] == ["whatsapp", "sms"]
    assert document["steps"][0]["audio"] == "spot-uno"
    again = parse_campaign(document)["steps"][0]
    assert (again["channel"], again["channel_fallback"], again["audio"]) == ("whatsapp", "sms", "spot-uno")


def _inbound(session, contact, *, channel, at, sid):
    session.add(Inbound(provider_sid=sid, contact_id=contact.id, body="hola", intent=Intent.REPLY,
                        channel=channel, received_at=at))
    session.flush()


def test_the_window_is_open_for_24_hours_after_a_whatsapp_message(session):
    recent = make_contact(session)
    old = make_contact(session)
    by_sms = make_contact(session)
    never = make_contact(session)
    _inbound(session, recent, channel="whatsapp", at=NOW - timedelta(hours=23), sid="SMw1")
    _inbound(session, old, channel="whatsapp", at=NOW - WHATSAPP_WINDOW - timedelta(minutes=1), sid="SMw2")
    _inbound(session, by_sms, channel="sms", at=NOW - timedelta(hours=1), sid="SMs1")
    ids = [recent.id, old.id, by_sms.id, never.id]
    assert whatsapp_window_open(session, ids, NOW) == {recent.id}
    assert whatsapp_window_open(session, [], NOW) == set()


def test_whatsapp_needs_its_own_opt_in_and_a_stop_ends_both(session):
    contact = make_contact(session)
    assert contact.whatsapp_consent_at is None  # SMS consent is not WhatsApp consent
    opt_in(session, contact, channel="sms", source="synthetic", now=NOW)
    assert contact.whatsapp_consent_at is None
    opt_in(session, contact, channel="whatsapp", source="synthetic", now=NOW)
    assert contact.whatsapp_consent_at == NOW
    opt_out(session, contact, channel="sms", keyword="BAJA", now=NOW + timedelta(hours=1))
    assert contact.status == "opted_out" and contact.whatsapp_consent_at is None


def test_the_whatsapp_sender_has_a_rate_limit_of_its_own():
    from campaign.blasts.slots import sender_key
    from campaign.core.config import get_settings

    settings = get_settings(provider="twilio", twilio_from="+15005550006",
                            twilio_whatsapp_from="whatsapp:+15005550006")
    assert sender_key(settings) == "twilio:+15005550006"
    assert sender_key(settings, "whatsapp") == "twilio:whatsapp:whatsapp:+15005550006"
