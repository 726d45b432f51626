"""WhatsApp through the real scheduler tick and the real signed webhooks, against the local
Twilio-speaking server: a template outside the 24 h window, free text inside it, SMS after "not a
WhatsApp user" (synchronous error and status callback) exactly once, no WhatsApp without its
opt-in, STOP on WhatsApp honoured, status callbacks and reconciliation of WhatsApp messages.
SQLite and PostgreSQL. All people and numbers are synthetic test data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from audiences.consent import opt_in
from audiences.models import ConsentEvent, Contact, ContactStatus
from campaign.blasts.lifecycle import launch
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.scheduling import tick
from campaign.core.config import get_settings
from campaign.core.db import make_sessionmaker
from campaign.hotline.models import Inbound
from campaign.hotline.webhooks import handle_status
from campaign.providers.base import OutboundRequest
from campaign.providers.twilio import TwilioProvider
from tests.campaign.web.helpers import inbound_params, post_inbound
from tests.factories import make_contact, make_sms_campaign, make_sms_message
from tests.fakes.twilio_server import Fail, FakeTwilio, twilio_settings

LAUNCH = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)  # Sunday 09:00 in Guatemala
NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)  # Monday 10:05: the step (10:00) is due
TEMPLATE = "HX" + "1" * 32  # an approved Content SID (synthetic)
WHATSAPP_FROM = "whatsapp:+15005550006"
S = OutboundStatus


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock) -> Iterator[FakeTwilio]:
    with FakeTwilio(clock=clock) as server:
        server.approved_templates.add(TEMPLATE)
        yield server


@pytest.fixture
def settings(fake):
    return twilio_settings(fake, twilio_whatsapp_from=WHATSAPP_FROM)


@pytest.fixture
def provider(settings):
    return TwilioProvider(settings, timeout=2.0)


@pytest.fixture
def templates():
    """The languages whose translation carries the approved WhatsApp template (the message
    library's Content SID, with the contact's first name as Twilio's variable 1)."""
    return {"es"}


def _campaign(session, channel, *, at="2027-01-11 10:00", query='department = "GT-12"', templates=()):
    message = make_sms_message(session)
    if templates:
        message.whatsapp_category = "utility"
    for translation in message.translations:
        if translation.language in templates:
            translation.content_sid = TEMPLATE
            translation.content_variables = {"1": "contact.first_name"}
    session.flush()
    campaign = make_sms_campaign(
        session, message=message, step={"channel": channel}, at=at, query=query, now=LAUNCH
    )
    # allow_partial: these tests hold planning and dispatch to the rules, also for contacts the
    # launch check would first ask about (no template in their language: test_preview_channels.py).
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings(), allow_empty=True, allow_partial=True)
    return campaign


def _person(session, *, whatsapp: bool, name="Ana Sintética", **extra) -> Contact:
    contact = make_contact(session, name=name, **extra)
    if whatsapp:
        opt_in(session, contact, channel="whatsapp", source="synthetic test form", now=LAUNCH)
    return contact


def _ticks(engine, provider, settings, clock, *, minutes=(0, 2, 4)):
    for m in minutes:
        clock.now = NOW + timedelta(minutes=m)
        tick(engine, provider, now=clock.now, settings=settings)


def _deliver_callbacks(engine, fake, settings, clock, *, twice=False):
    """Posts the fake's status callbacks through the real signed webhook (each twice: a retry)."""
    events = fake.take_status_events()
    for url, form in events * (2 if twice else 1):
        with make_sessionmaker(engine).begin() as session:
            handle_status(session, url=url, params=form, signature=fake.signature(url, form),
                          settings=settings, now=clock.now)
    return events


def _inbound_whatsapp(engine, fake, settings, phone, body, *, at):
    """A signed inbound WhatsApp message from `phone` through the real webhook."""
    params = inbound_params(body, phone=f"whatsapp:{phone}")
    params["To"] = WHATSAPP_FROM
    url = settings.public_url.rstrip("/") + "/twilio/inbound"
    with make_sessionmaker(engine).begin() as session:
        answer = post_inbound(session, params, url=url, signature=fake.signature(url, params), cfg=settings,
                              now=at)
    fake.whatsapp_inbound(phone, at)
    return answer


def _rows(engine, contact_id):
    with make_sessionmaker(engine)() as session:
        query = select(Outbound).where(Outbound.contact_id == contact_id).order_by(Outbound.id)
        return list(session.scalars(query))


def test_outside_the_window_the_template_goes_with_its_variables_and_no_body(
    engine, fake, settings, provider, clock, templates
):
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True, name="Ana Sintética")
        _campaign(session, "whatsapp", templates=templates)
        phone, person_id = person.phone, person.id

    _ticks(engine, provider, settings, clock)

    [sent] = fake.sent_to(f"whatsapp:{phone}")
    assert sent["content_sid"] == TEMPLATE and sent["body"] == ""
    assert json.loads(sent["content_variables"]) == {"1": "Ana"}
    assert sent["from"] == WHATSAPP_FROM and sent["media_url"] == []
    assert fake.sent_to(phone) == []  # no SMS
    _deliver_callbacks(engine, fake, settings, clock)
    [row] = _rows(engine, person_id)
    assert (row.channel, row.status, row.provider_sid) == ("whatsapp", S.DELIVERED, sent["sid"])
    assert row.content_sid == TEMPLATE


def test_inside_the_window_free_text_goes_after_a_signed_whatsapp_alta(
    engine, fake, settings, provider, clock, templates
):
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=False)
        _campaign(session, "whatsapp", templates=templates)
        phone, person_id = person.phone, person.id
    # The person writes ALTA on WhatsApp an hour before: WhatsApp opt-in, and the window opens.
    _inbound_whatsapp(engine, fake, settings, phone, "ALTA", at=NOW - timedelta(hours=1))
    with make_sessionmaker(engine)() as session:
        inbound = session.scalars(select(Inbound)).one()
        assert (inbound.channel, inbound.contact_id) == ("whatsapp", person_id)  # same contact as SMS
        assert session.get(Contact, person_id).whatsapp_consent_at is not None
        event = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert (event.kind, event.channel) == ("opt_in", "whatsapp")

    _ticks(engine, provider, settings, clock)

    [sent] = fake.sent_to(f"whatsapp:{phone}")
    assert sent["content_sid"] is None and "1572" in sent["body"]
    _deliver_callbacks(engine, fake, settings, clock)
    blast = [r for r in _rows(engine, person_id) if r.campaign_id is not None]
    assert [(r.channel, r.status) for r in blast] == [("whatsapp", S.DELIVERED)]
    # planned with the approved template (in case the window had closed), sent as free text: the
    # row keeps what went, so the report prices a session message, not a template
    assert (blast[0].content_sid, blast[0].content_variables) == (None, None)


def test_no_whatsapp_without_its_opt_in(engine, fake, settings, provider, clock, templates):
    with make_sessionmaker(engine).begin() as session:
        whatsapp_only = _person(session, whatsapp=False, department="GT-12")
        either = _person(session, whatsapp=False, department="GT-13")
        _campaign(session, "whatsapp", query='department = "GT-12"', templates=templates)
        _campaign(session, ["whatsapp", "sms"], query='department = "GT-13"', templates=templates)
        people = {
            "whatsapp_only": (whatsapp_only.id, whatsapp_only.phone), "either": (either.id, either.phone)
        }

    _ticks(engine, provider, settings, clock)

    for _, phone in people.values():
        assert fake.sent_to(f"whatsapp:{phone}") == []
    [row] = _rows(engine, people["whatsapp_only"][0])
    assert (row.channel, row.status, row.skip_reason) == ("whatsapp", S.SKIPPED, "no_whatsapp_consent")
    assert fake.sent_to(people["whatsapp_only"][1]) == []
    # on [whatsapp, sms] a contact without the WhatsApp opt-in gets the SMS
    [row] = _rows(engine, people["either"][0])
    assert (row.channel, row.status) == ("sms", S.SENT)
    assert len(fake.sent_to(people["either"][1])) == 1


@pytest.mark.parametrize("when", ["synchronous error", "status callback"])
def test_not_a_whatsapp_user_gets_exactly_one_sms(engine, fake, settings, provider, clock, templates, when):
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        _campaign(session, ["whatsapp", "sms"], templates=templates)
        phone, person_id = person.phone, person.id
    if when == "synchronous error":
        fake.script(f"whatsapp:{phone}", Fail(400, 63003))
    else:
        fake.not_on_whatsapp.add(phone)

    _ticks(engine, provider, settings, clock, minutes=(0,))
    _deliver_callbacks(engine, fake, settings, clock, twice=True)  # a retried callback queues nothing more
    _deliver_callbacks(engine, fake, settings, clock, twice=True)
    _ticks(engine, provider, settings, clock, minutes=(2, 4, 6))
    _deliver_callbacks(engine, fake, settings, clock, twice=True)

    [sms] = fake.sent_to(phone)  # exactly one SMS
    assert sms["content_sid"] is None and "1572" in sms["body"]
    whatsapp, fallback = _rows(engine, person_id)
    assert whatsapp.channel == "whatsapp" and whatsapp.status in (S.FAILED, S.UNDELIVERED)
    assert whatsapp.error_code == "63003"
    assert (fallback.channel, fallback.fallback_of, fallback.status) == ("sms", whatsapp.id, S.SENT)
    assert fallback.occurrence_id is None and fallback.campaign_id == whatsapp.campaign_id
    assert fallback.provider_sid == sms["sid"]


def test_not_a_whatsapp_user_on_a_whatsapp_only_step_fails_with_the_code(
    engine, fake, settings, provider, clock, templates
):
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        _campaign(session, "whatsapp", templates=templates)
        phone, person_id = person.phone, person.id
    fake.not_on_whatsapp.add(phone)
    _ticks(engine, provider, settings, clock, minutes=(0,))
    _deliver_callbacks(engine, fake, settings, clock)
    _ticks(engine, provider, settings, clock, minutes=(2, 4))
    assert fake.sent_to(phone) == []
    [row] = _rows(engine, person_id)
    assert (row.status, row.error_code) == (S.FAILED, "63003")


def test_no_template_outside_the_window_skips_or_falls_back_to_sms(
    engine, fake, settings, provider, clock, templates
):
    templates.clear()  # no approved template in any language
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        _campaign(session, "whatsapp", templates=templates)
        _campaign(session, ["whatsapp", "sms"], at="2027-01-11 10:01", templates=templates)
        phone, person_id = person.phone, person.id
    _ticks(engine, provider, settings, clock)
    assert fake.sent_to(f"whatsapp:{phone}") == []
    assert len(fake.sent_to(phone)) == 1
    rows = _rows(engine, person_id)
    assert sorted((r.channel, r.status, r.skip_reason) for r in rows) == [
        ("sms", S.SENT, None), ("whatsapp", S.SKIPPED, "whatsapp_template_missing"),
    ]


def test_stop_on_whatsapp_stops_whatsapp_and_sms(engine, fake, settings, provider, clock, templates):
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        _campaign(session, ["whatsapp", "sms"], at="2027-01-11 10:30", templates=templates)
        phone, person_id = person.phone, person.id
    _ticks(engine, provider, settings, clock, minutes=(0,))  # nothing due yet: 10:05
    _inbound_whatsapp(engine, fake, settings, phone, "BAJA", at=NOW + timedelta(minutes=1))
    with make_sessionmaker(engine)() as session:
        contact = session.get(Contact, person_id)
        assert contact.status == ContactStatus.OPTED_OUT and contact.whatsapp_consent_at is None
        event = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert (event.kind, event.channel, event.keyword) == ("opt_out", "whatsapp", "baja")
        # the confirmation went back as the webhook's answer, on WhatsApp
        [reply] = session.scalars(select(Outbound).where(Outbound.contact_id == person_id)).all()
        assert (reply.channel, reply.provider) == ("whatsapp", "twiml")
    _ticks(engine, provider, settings, clock, minutes=(30, 32, 60))
    assert fake.sent_to(phone) == [] and fake.sent_to(f"whatsapp:{phone}") == []


def test_reconcile_finds_a_whatsapp_message_by_its_whatsapp_address(
    engine, fake, settings, provider, clock, templates
):
    """A dispatcher died after Twilio accepted the template: the tick finds it, never re-sends."""
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        campaign = _campaign(session, "whatsapp", templates=templates)
        step = campaign.steps[0]
        from campaign.blasts.models import Occurrence

        occurrence = Occurrence(
            step_id=step.id, campaign_id=step.campaign_id, scheduled_at=NOW, fires_at=NOW, status="planned"
        )
        session.add(occurrence)
        session.flush()
        row = Outbound(
            occurrence_id=occurrence.id, campaign_id=campaign.id, step_id=step.id, contact_id=person.id,
            body="Texto sintético", channel="whatsapp", content_sid=TEMPLATE,
            content_variables='{"1": "Ana"}',
            status="sending", claimed_by="dead-worker", claimed_at=NOW - timedelta(hours=1), attempts=1,
            send_after=NOW - timedelta(hours=1),
        )
        session.add(row)
        session.flush()
        row_id, phone = row.id, person.phone
    provider.send(OutboundRequest(row_id, f"whatsapp:{phone}", "", None, channel="whatsapp",
                                  content_sid=TEMPLATE, content_variables='{"1": "Ana"}'))
    clock.now = NOW
    tick(engine, provider, now=NOW, settings=settings)
    assert len(fake.sent_to(f"whatsapp:{phone}")) == 1  # found, not sent again
    with make_sessionmaker(engine)() as session:
        stored = session.get(Outbound, row_id)
        assert stored.provider_sid == fake.sent_to(f"whatsapp:{phone}")[0]["sid"]
        assert stored.status in (S.SENT, S.DELIVERED)


def test_a_staff_reply_goes_back_on_whatsapp_inside_the_window_else_by_sms(
    engine, fake, settings, provider, clock
):
    """Someone asks for help on WhatsApp: the hotline's answer goes back on WhatsApp (free text,
    no opt-in needed for an answer); a day later, with the window closed, by SMS."""
    from campaign.blasts.dispatch import send_now
    from campaign.hotline import inbox
    from campaign.hotline.models import Case
    from tests.campaign.hotline.cases import staff
    from tests.factories import synthetic_phone

    phone = synthetic_phone()
    _inbound_whatsapp(engine, fake, settings, phone, "AYUDA por favor", at=NOW)
    with make_sessionmaker(engine).begin() as session:
        ana = staff(session, "ana", now=NOW)
        case = session.scalars(select(Case)).one()
        first = inbox.reply(session, case_id=case.id, user=ana, body="Estamos aquí. ¿Está a salvo?", now=NOW)
        later = inbox.reply(
            session, case_id=case.id, user=ana, body="¿Sigue ahí?", now=NOW + timedelta(hours=25)
        )
        first_id, later_id = first.id, later.id
        assert (first.channel, later.channel) == ("whatsapp", "sms")
    send_now(engine, provider, first_id, now=NOW, settings=settings)
    send_now(engine, provider, later_id, now=NOW + timedelta(hours=25), settings=settings)
    [answer] = fake.sent_to(f"whatsapp:{phone}")
    assert answer["body"] == "Estamos aquí. ¿Está a salvo?" and answer["content_sid"] is None
    [sms] = fake.sent_to(phone)
    assert sms["body"] == "¿Sigue ahí?"


# --- voice notes: a radio spot's recording sent with the text, at a signed, expiring URL ----------

PAST = datetime(2025, 3, 4, 16, 5, tzinfo=UTC)  # Tuesday 10:05 in Guatemala: long before this test runs


@pytest.fixture
def voice(engine, tmp_path, monkeypatch, fake):
    """A live web app serving /media/... and a spot with a Spanish recording (a SYNTHETIC tone,
    no person's voice); yields (settings pointed at the app, recording id)."""
    from campaign.core.media_urls import verify_media_url
    from campaign.radio.audio import write_synthetic_tone
    from campaign.radio.recordings import add_recording
    from campaign.web.app import create_app
    from tests.campaign.web.live_server import serve
    from tests.factories import RADIO_SCRIPT_ES, make_radio_spot

    media = tmp_path / "media"
    monkeypatch.setenv("CAMPAIGN_MEDIA_DIR", str(media))
    wav = write_synthetic_tone(tmp_path / "synthetic.wav", seconds=4.0)
    with make_sessionmaker(engine).begin() as session:
        make_radio_spot(session, slug="spot-voz", scripts={"es": RADIO_SCRIPT_ES})
        recording = add_recording(session, spot="spot-voz", language="es", source=wav, root=media,
                                  now=datetime.now(UTC)).recording.id
    app_settings = twilio_settings(fake, public_url="http://127.0.0.1:8000", media_dir=media)
    with serve(create_app(app_settings)) as base:  # media URLs are signed with the same secret key
        settings = twilio_settings(fake, twilio_whatsapp_from=WHATSAPP_FROM, public_url=base, media_dir=media)
        fake.media_verifier = lambda url: verify_media_url(url, datetime.now(UTC), settings=settings)
        yield settings, recording


def _voice_campaign(engine, fake, settings, *, base, **spec):
    """A WhatsApp step with the spot's recording, and a person who wrote ALTA on WhatsApp an hour
    before `base` (window open: free text and media may go); returns (contact id, phone)."""
    message = None
    with make_sessionmaker(engine).begin() as session:
        person = make_contact(session, name="Ana Sintética")
        message = make_sms_message(session)
        at = (base - timedelta(minutes=5)).astimezone(ZoneInfo("America/Guatemala"))
        campaign = make_sms_campaign(
            session, message=message, at=at.strftime("%Y-%m-%d %H:%M"), now=base - timedelta(days=1),
            step={"channel": "whatsapp", "audio": "spot-voz"}, **spec,
        )
        launch(session, campaign.slug, now=base - timedelta(days=1), settings=get_settings(),
               allow_empty=True)
        person_id, phone = person.id, person.phone
    clock_at = base - timedelta(hours=1)
    fake.clock = lambda: clock_at
    _inbound_whatsapp(engine, fake, settings, phone, "ALTA", at=clock_at)
    fake.clock = lambda: base
    return person_id, phone


def test_a_voice_note_goes_with_a_signed_url_the_provider_fetched_and_verified(engine, fake, voice, clock):
    settings, recording = voice
    person_id, phone = _voice_campaign(engine, fake, settings, base=NOW)
    provider = TwilioProvider(settings, timeout=5.0)
    _ticks(engine, provider, settings, clock)

    [sent] = fake.sent_to(f"whatsapp:{phone}")
    assert sent["content_sid"] is None and "1572" in sent["body"]  # the short text goes with it
    [url] = sent["media_url"]
    assert url.startswith(settings.public_url + f"/media/{recording}/") and url.endswith(".ogg")
    [fetch] = fake.media_fetches
    assert (fetch["url"], fetch["status"], fetch["content_type"]) == (url, 200, "audio/ogg")
    assert fetch["bytes"] > 1000 and fetch["verified"] == recording
    _deliver_callbacks(engine, fake, settings, clock)
    [row] = [r for r in _rows(engine, person_id) if r.campaign_id is not None]
    assert (row.channel, row.media_recording_id, row.status) == ("whatsapp", recording, S.DELIVERED)


def test_an_expired_media_url_is_refused_and_the_message_fails_as_twilio_says(engine, fake, voice):
    """Sent long ago (its URL expired two hours after that send): our app refuses the fetch (410),
    Twilio fails the message with 63019, and the row records it."""
    settings, recording = voice
    person_id, phone = _voice_campaign(engine, fake, settings, base=PAST)
    provider = TwilioProvider(settings, timeout=5.0)
    for minutes in (0, 2, 4):
        tick(engine, provider, now=PAST + timedelta(minutes=minutes), settings=settings)

    [fetch] = fake.media_fetches
    assert fetch["status"] == 410 and fetch["bytes"] == 0 and fetch["verified"] == "expired"
    for url, form in fake.take_status_events():
        with make_sessionmaker(engine).begin() as session:
            handle_status(session, url=url, params=form, signature=fake.signature(url, form),
                          settings=settings, now=PAST + timedelta(minutes=5))
    [row] = [r for r in _rows(engine, person_id) if r.campaign_id is not None]
    assert (row.status, row.error_code, row.media_recording_id) == (S.FAILED, "63019", recording)


def test_a_step_recording_must_be_a_radio_spot_of_the_library(session):
    from campaign.core.errors import Invalid

    message = make_sms_message(session)
    for audio in ("no-such-spot", message.slug):  # unknown, and an SMS message (not a spot)
        with pytest.raises(Invalid) as refused:
            make_sms_campaign(session, message=message, step={"channel": "whatsapp", "audio": audio})
        assert refused.value.field == "steps[0].audio"


def test_a_discreet_message_goes_without_a_voice_note(session):
    from campaign.core.errors import Invalid
    from tests.factories import make_radio_spot

    make_radio_spot(session, slug="spot-discreto")
    message = make_sms_message(session)
    message.safety_flags = ["discreet", "help"]
    with pytest.raises(Invalid) as refused:
        make_sms_campaign(session, message=message, step={"channel": "whatsapp", "audio": "spot-discreto"})
    assert refused.value.field == "steps[0].audio" and "discreet" in refused.value.reason


def test_the_sandbox_speaks_whatsapp():
    from campaign.providers.sandbox import SandboxProvider

    sandbox = SandboxProvider(get_settings())
    request = OutboundRequest(7, "whatsapp:+50230000007", "", "http://127.0.0.1:8000/twilio/status",
                              channel="whatsapp", content_sid=TEMPLATE, content_variables='{"1": "x"}')
    result = sandbox.send(request)
    [message] = sandbox.sent
    assert (message.to, message.content_sid, result.status) == ("whatsapp:+50230000007", TEMPLATE, "queued")
    # its status callbacks come from the WhatsApp sender
    assert sandbox._events[0].params["From"].startswith("whatsapp:")


def test_the_cli_records_a_whatsapp_opt_in_and_a_preferred_channel(db_url, engine):
    """`campaign audiences opt-in ... --whatsapp --prefer whatsapp` in its own process; a bad
    preference is one error line naming the field, and stores nothing."""
    from tests.subprocess_cli import run_cli

    done = run_cli("audiences", "opt-in", "+50255550177", "--source", "formulario sintético", "--whatsapp",
                   "--prefer", "whatsapp", "--json", db_url=db_url)
    assert done.returncode == 0, done.stderr
    bad = run_cli("audiences", "opt-in", "+50255550178", "--source", "x", "--prefer", "telegram",
                  db_url=db_url)
    assert bad.returncode == 1 and bad.stderr.startswith("error: prefer:"), bad.stderr
    with make_sessionmaker(engine)() as session:
        [contact] = session.scalars(select(Contact)).all()  # the refused one was not stored
        assert contact.whatsapp_consent_at is not None and contact.preferred_channel == "whatsapp"
        channels = sorted(e.channel for e in session.scalars(select(ConsentEvent)))
        assert channels == ["cli", "whatsapp"]


def test_retention_empties_a_whatsapp_templates_values_with_the_text(session):
    """ContentVariables may hold a person's name: they go when the message's text goes."""
    from campaign.privacy.retention import purge
    from tests.factories import make_blast, make_outbound

    row = make_outbound(session, occurrence=make_blast(session), status="delivered", channel="whatsapp",
                        content_sid=TEMPLATE, content_variables='{"1": "Ana"}',
                        created_at=NOW - timedelta(days=400))
    purge(session, now=NOW, settings=get_settings())
    session.refresh(row)
    assert (row.body, row.content_variables, row.content_sid) == ("", None, TEMPLATE)


def test_free_text_that_twilio_finds_outside_the_window_falls_back_to_one_sms(
    engine, fake, settings, provider, clock, templates
):
    """Our records say the window is open, Twilio disagrees (63016 by callback): one SMS follows."""
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=False)
        _campaign(session, ["whatsapp", "sms"], templates=templates)
        phone, person_id = person.phone, person.id
    _inbound_whatsapp(engine, fake, settings, phone, "ALTA", at=NOW - timedelta(hours=1))
    fake.last_whatsapp_inbound.clear()  # Twilio saw no recent message from this person

    _ticks(engine, provider, settings, clock, minutes=(0,))
    _deliver_callbacks(engine, fake, settings, clock, twice=True)
    _ticks(engine, provider, settings, clock, minutes=(2, 4))

    [whatsapp] = fake.sent_to(f"whatsapp:{phone}")
    assert whatsapp["content_sid"] is None  # free text, refused by Twilio
    assert len(fake.sent_to(phone)) == 1
    blast = [r for r in _rows(engine, person_id) if r.campaign_id is not None]
    assert [(r.channel, r.status, r.error_code) for r in blast] == [
        ("whatsapp", S.FAILED, "63016"), ("sms", S.SENT, None),
    ]


def test_a_content_sid_twilio_does_not_know_fails_the_row_with_21655(
    engine, fake, settings, provider, clock, templates
):
    fake.approved_templates.clear()
    with make_sessionmaker(engine).begin() as session:
        person = _person(session, whatsapp=True)
        _campaign(session, ["whatsapp", "sms"], templates=templates)
        phone, person_id = person.phone, person.id
    _ticks(engine, provider, settings, clock)
    assert fake.sent_to(f"whatsapp:{phone}") == [] and fake.sent_to(phone) == []  # no SMS: our mistake
    [row] = _rows(engine, person_id)
    assert (row.channel, row.status, row.error_code) == ("whatsapp", S.FAILED, "21655")


def test_a_recording_removed_after_planning_leaves_the_text_alone(engine, fake, voice, clock):
    from campaign.radio.models import Recording

    settings, recording = voice
    # The window opens at 10:30: planned at 10:05, sent at 10:30.
    person_id, phone = _voice_campaign(engine, fake, settings, base=NOW,
                                       send_window={"start": "10:30", "end": "20:00"})
    provider = TwilioProvider(settings, timeout=5.0)
    _ticks(engine, provider, settings, clock, minutes=(0,))
    assert fake.sent_to(f"whatsapp:{phone}") == []
    with make_sessionmaker(engine).begin() as session:
        session.delete(session.get(Recording, recording))  # the producer removed it meanwhile
    _ticks(engine, provider, settings, clock, minutes=(26, 28))
    [sent] = fake.sent_to(f"whatsapp:{phone}")
    assert sent["media_url"] == [] and "1572" in sent["body"] and fake.media_fetches == []
