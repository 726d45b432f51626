"""The mute before every send: a STOP, a cry for help or a case opened after the claim stops every
message not yet handed to the provider; a reply never reaches a contact who opted out since it was
written; reconcile never re-sends to a muted contact. Inbound messages arrive through the real,
signed webhook route while a slow provider is mid-batch."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from audiences.models import Contact, ContactStatus
from campaign.blasts.dispatch import dispatch_due, reconcile, send_now
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.muting import MuteWatch, find_mutes
from campaign.core.db import unit_of_work, utcnow
from campaign.hotline.models import Case, CaseStatus
from campaign.hotline.webhooks import handle_inbound
from campaign.providers.twilio import TwilioProvider
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, sign
from tests.factories import make_blast, make_contact, make_outbound
from tests.fakes.twilio_server import AUTH_TOKEN, DROP, FakeTwilio, twilio_settings

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

S = OutboundStatus
STOP, HELP, URGENT, REPLY = "STOP", "AYUDA", "auxilio me tienen encerrada", "gracias, ¿quién es?"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(latency=0.05) as server:  # a slow provider: 50 ms per request
        yield server


def _status(session, outbound_id: int) -> tuple[str, str | None]:
    session.expire_all()
    row = session.get(Outbound, outbound_id)
    return row.status, row.skip_reason


def test_stop_help_urgent_and_a_new_case_mid_batch_stop_the_rest_of_the_batch(engine, session, fake):
    """One claimed batch of 30 at 10/s; after the 5th send, four contacts write in (signed webhooks
    through the web app). Their rows, due 1.5 s or more later in the same batch, are not sent."""
    now = utcnow()
    occurrence = make_blast(session)
    contacts = [make_contact(session) for _ in range(30)]
    rows = [
        make_outbound(session, contact=c, occurrence=occurrence, send_after=now - timedelta(minutes=30 - i))
        for i, c in enumerate(contacts)
    ]
    session.commit()
    writers = {20: STOP, 23: HELP, 26: URGENT, 29: REPLY}  # positions in the batch -> what they write
    # One request at a time: the 5th is answered only once the messages are stored.
    settings = twilio_settings(fake, rate_per_second=10.0, concurrency=1, batch_size=500)
    app = create_app(settings)
    answers: list[int] = []

    def meanwhile(record: dict) -> None:
        if len(fake.messages) != 5:
            return
        for position, text in writers.items():
            params = inbound_params(text, phone=contacts[position].phone)
            signature = sign(inbound_url(settings.public_url), params, AUTH_TOKEN)
            answers.append(client.post("/twilio/inbound", data=params,
                                       headers={"X-Twilio-Signature": signature}).status_code)

    fake.on_accept = meanwhile
    with TestClient(app) as client:
        result = dispatch_due(engine, TwilioProvider(settings, timeout=5), now=now, settings=settings)

    assert answers == [200, 200, 200, 200]
    assert result.batches == 1 and result.claimed == 30  # all claimed before anyone wrote
    reached = {m["to"] for m in fake.messages}
    assert not reached & {contacts[p].phone for p in writers}
    assert len(fake.messages) == 26 and result.muted == 4
    assert _status(session, rows[20].id) == (S.SKIPPED, "opted_out")
    assert _status(session, rows[23].id) == (S.SKIPPED, "help_message")
    assert _status(session, rows[26].id) == (S.SKIPPED, "urgent_message")
    assert _status(session, rows[29].id) == (S.SKIPPED, "open_case")


def _sms_from(engine, settings, contact, text, *, now) -> None:
    """A signed inbound webhook from `contact`, through the webhook service in its own transaction."""
    params = inbound_params(text, phone=contact.phone)
    url = inbound_url(settings.public_url)
    signature = sign(url, params, AUTH_TOKEN)
    with unit_of_work(engine) as s:
        handle_inbound(s, url=url, params=params, signature=signature, settings=settings, now=now)


def _opt_out_by_sms(engine, settings, contact, *, now) -> None:
    _sms_from(engine, settings, contact, STOP, now=now)


def test_a_queued_reply_never_reaches_a_contact_who_opted_out_by_the_cli(engine, session, fake, cli):
    from campaign.cli import app as root

    settings = twilio_settings(fake)
    contact = make_contact(session)
    reply = make_outbound(session, contact=contact, body="Le llamamos hoy", send_after=utcnow())
    session.commit()
    done = cli.invoke(root, ["audiences", "opt-out", contact.phone])  # records consent only
    assert done.exit_code == 0, done.output
    assert _status(session, reply.id)[0] == S.QUEUED
    provider = TwilioProvider(settings, timeout=5)
    assert send_now(engine, provider, reply.id, now=utcnow(), settings=settings) == S.CANCELLED
    dispatch_due(engine, provider, now=utcnow(), settings=settings)
    assert _status(session, reply.id) == (S.CANCELLED, "opted_out") and fake.messages == []


def test_a_reply_claimed_before_a_stop_is_not_sent_after_it(engine, session, fake):
    """15 replies claimed at once, at 10/s; the last contact's STOP arrives after the first send."""
    settings = twilio_settings(fake, rate_per_second=10.0, concurrency=1)
    now = utcnow()
    contacts = [make_contact(session) for _ in range(15)]
    replies = [
        make_outbound(session, contact=c, body="Respuesta", send_after=now - timedelta(seconds=15 - i))
        for i, c in enumerate(contacts)
    ]
    session.commit()

    def meanwhile(record: dict) -> None:
        if len(fake.messages) == 1:
            _opt_out_by_sms(engine, settings, contacts[-1], now=utcnow())

    fake.on_accept = meanwhile
    result = dispatch_due(engine, TwilioProvider(settings, timeout=5), now=now, settings=settings)
    assert [m["to"] for m in fake.messages] == [c.phone for c in contacts[:-1]]
    assert result.muted == 1 and _status(session, replies[-1].id) == (S.CANCELLED, "opted_out")


def test_reconcile_never_resends_a_reply_to_a_contact_who_opted_out_since(engine, session, fake):
    """The field report: a reply whose outcome was unknown was re-sent 9 minutes after a STOP."""
    settings = twilio_settings(fake)
    provider = TwilioProvider(settings, timeout=2)
    now = utcnow()
    contact = make_contact(session)
    reply = make_outbound(session, contact=contact, body="Le llamamos hoy", send_after=now)
    session.commit()
    fake.script(contact.phone, DROP)  # the connection drops: the provider never got it
    dispatch_due(engine, provider, now=now, settings=settings)
    assert _status(session, reply.id)[0] == S.UNKNOWN
    _opt_out_by_sms(engine, settings, contact, now=now + timedelta(minutes=2))
    outcome = reconcile(engine, provider, now=now + timedelta(minutes=9))
    assert (outcome.found, outcome.requeued) == (0, 0)
    assert _status(session, reply.id) == (S.CANCELLED, "opted_out")
    dispatch_due(engine, provider, now=now + timedelta(minutes=10), settings=settings)
    assert fake.messages == []


def test_reconcile_cancels_a_reply_left_sending_by_a_dead_dispatcher_after_a_cli_opt_out(
    engine, session, fake, cli
):
    from campaign.cli import app as root

    settings = twilio_settings(fake)
    now = utcnow()
    contact = make_contact(session)
    reply = make_outbound(session, contact=contact, body="Le llamamos hoy", status="sending",
                          claimed_by="dead-dispatcher", claimed_at=now - timedelta(minutes=10))
    session.commit()
    assert cli.invoke(root, ["audiences", "opt-out", contact.phone]).exit_code == 0
    outcome = reconcile(engine, TwilioProvider(settings, timeout=2), now=now)
    assert (outcome.checked, outcome.requeued, outcome.muted) == (1, 0, 1)
    assert _status(session, reply.id) == (S.CANCELLED, "opted_out") and fake.messages == []


def test_reconcile_skips_a_blast_row_whose_contact_asked_for_help_since(engine, session, fake):
    settings = twilio_settings(fake)
    provider = TwilioProvider(settings, timeout=2)
    now = utcnow()
    contact = make_contact(session)
    row = make_outbound(session, contact=contact, occurrence=make_blast(session), send_after=now)
    kept = make_outbound(session, occurrence=make_blast(session), send_after=now)
    session.commit()
    fake.script(None, DROP, DROP)
    dispatch_due(engine, provider, now=now, settings=settings)
    _sms_from(engine, settings, contact, HELP, now=now)
    outcome = reconcile(engine, provider, now=now + timedelta(minutes=1))
    assert (outcome.requeued, outcome.muted) == (1, 1)
    assert _status(session, row.id)[0] == S.SKIPPED
    assert _status(session, kept.id)[0] == S.QUEUED  # not muted: re-queued and sent once
    dispatch_due(engine, provider, now=now + timedelta(minutes=1), settings=settings)
    assert [m["to"] for m in fake.messages] == [session.get(Contact, kept.contact_id).phone]


def test_find_mutes_by_cause(session):
    now = utcnow()
    contacts = [make_contact(session) for _ in range(7)]
    active, stopped, blocked, in_case, resolved, asked, asked_before = contacts
    stopped.status, blocked.status = ContactStatus.OPTED_OUT, ContactStatus.BLOCKED
    session.add_all([
        Case(contact_id=in_case.id, status=CaseStatus.OPEN),
        Case(contact_id=resolved.id, status=CaseStatus.RESOLVED),
    ])
    session.flush()
    from campaign.hotline.models import Inbound

    for n, (contact, when) in enumerate([(asked, now), (asked_before, now - timedelta(hours=1))]):
        session.add(Inbound(provider_sid=f"SMmute{n}", contact_id=contact.id, body="AYUDA", intent="help",
                            received_at=when))
    session.flush()
    ids = [c.id for c in (active, stopped, blocked, in_case, resolved, asked, asked_before)]
    found = find_mutes(session, ids, since=now - timedelta(minutes=1))
    assert {k: (v.reason, v.replies_too) for k, v in found.items()} == {
        stopped.id: ("opted_out", True),
        blocked.id: ("blocked", True),
        in_case.id: ("open_case", False),
        asked.id: ("help_message", False),
    }
    assert found[in_case.id].applies(blast=True) and not found[in_case.id].applies(blast=False)


def test_the_watch_is_never_older_than_its_interval(engine, session):
    contact = make_contact(session)
    session.commit()
    clock = [100.0]
    watch = MuteWatch(engine, since=utcnow(), interval=1.0, clock=lambda: clock[0])
    watch.watch([contact.id])
    session.get(Contact, contact.id).status = ContactStatus.OPTED_OUT
    session.commit()
    clock[0] += 0.9
    assert watch.check(contact.id, blast=True) is None  # read 0.9 s ago: still the old answer
    clock[0] += 0.1
    assert watch.check(contact.id, blast=False).reason == "opted_out"  # 1 s: refreshed first
    watch.forget([contact.id])
    assert watch.muted(contact.id, blast=True) is None and watch.refreshes == 1
    found = session.scalars(select(Outbound)).all()
    assert found == []
