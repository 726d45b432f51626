"""Dispatch against the local Twilio-speaking server: claims, re-checks, error codes, retries, order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from audiences.models import Contact, ContactStatus
from campaign.blasts.dispatch import dispatch_due, reconcile, send_now
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.ratelimit import backoff_seconds
from campaign.hotline.models import Case
from campaign.providers.twilio import TwilioProvider
from tests.factories import make_blast, make_contact, make_outbound
from tests.fakes.twilio_server import DROP, DROP_AFTER_ACCEPT, HANG, Fail, FakeTwilio, twilio_settings

NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)  # 10:05 in Guatemala
S = OutboundStatus


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(hang_seconds=3.0, clock=lambda: NOW) as server:
        yield server


@pytest.fixture
def settings(fake):
    return twilio_settings(fake)


@pytest.fixture
def provider(settings):
    return TwilioProvider(settings, timeout=2.0)


def _rows(session, *ids):
    session.expire_all()
    return [session.get(Outbound, i) for i in ids]


def test_sends_due_rows_once_and_records_sid_and_callback(engine, session, fake, settings, provider):
    occurrence = make_blast(session)
    rows = [make_outbound(session, occurrence=occurrence) for _ in range(5)]
    later = make_outbound(session, occurrence=occurrence, send_after=NOW + timedelta(hours=1))
    session.commit()

    result = dispatch_due(engine, provider, now=NOW, settings=settings)

    assert (result.claimed, result.sent) == (5, 5)
    assert len(fake.messages) == 5
    stored = _rows(session, *(r.id for r in rows))
    by_sid = {m["sid"]: m for m in fake.messages}
    for row in stored:
        assert row.status == S.SENT and row.attempts == 1 and row.sent_at == NOW
        message = by_sid[row.provider_sid]
        assert message["to"] == session.get(Contact, row.contact_id).phone
        assert message["body"] == row.body and message["from"] == "+15005550006"
        callback = urlsplit(message["status_callback"])
        assert callback.path == "/twilio/status" and parse_qs(callback.query) == {"outbound": [str(row.id)]}
    assert _rows(session, later.id)[0].status == S.QUEUED
    assert dispatch_due(engine, provider, now=NOW, settings=settings).claimed == 0
    assert len(fake.messages) == 5


def test_messaging_service_sid_replaces_from(engine, session, fake):
    settings = twilio_settings(fake, twilio_from="", twilio_messaging_service_sid="MG" + "a" * 32)
    make_outbound(session)
    session.commit()
    dispatch_due(engine, TwilioProvider(settings, timeout=2.0), now=NOW, settings=settings)
    assert fake.messages[0]["messaging_service_sid"] == "MG" + "a" * 32
    assert fake.messages[0]["from"] is None


@pytest.mark.parametrize(("status", "code"), [(400, 21211), (400, 21614)])
def test_permanent_errors_fail_the_row_with_the_code(engine, session, fake, settings, provider, status, code):
    row = make_outbound(session)
    session.commit()
    fake.always(session.get(Contact, row.contact_id).phone, Fail(status, code))
    result = dispatch_due(engine, provider, now=NOW, settings=settings)
    (stored,) = _rows(session, row.id)
    assert (result.failed, stored.status, stored.error_code, stored.attempts) == (1, S.FAILED, str(code), 1)
    assert fake.messages == []
    phone = session.get(Contact, row.contact_id).phone
    assert phone[-8:] not in (stored.error_message or "")  # the provider quoted it; we store it redacted


def test_21610_fails_the_row_and_opts_the_contact_out(engine, session, fake, settings, provider):
    contact = make_contact(session)
    first = make_outbound(session, contact=contact, body="primero")
    later = NOW + timedelta(hours=2)
    blast = make_outbound(session, contact=contact, occurrence=make_blast(session), send_after=later)
    session.commit()
    fake.always(contact.phone, Fail(400, 21610))
    dispatch_due(engine, provider, now=NOW, settings=settings)
    first_row, blast_row = _rows(session, first.id, blast.id)
    assert (first_row.status, first_row.error_code) == (S.FAILED, "21610")
    assert session.get(Contact, contact.id).status == ContactStatus.OPTED_OUT
    assert (blast_row.status, blast_row.skip_reason) == (S.CANCELLED, "opted_out")
    dispatch_due(engine, provider, now=NOW + timedelta(hours=3), settings=settings)
    assert fake.messages == []


@pytest.mark.parametrize("failure", [Fail(429, 20429), Fail(500), Fail(503), Fail(400, 63018)])
def test_transient_errors_retry_with_backoff_then_fail(engine, session, fake, provider, failure):
    settings = twilio_settings(fake, max_attempts=3)
    row = make_outbound(session)
    session.commit()
    phone = session.get(Contact, row.contact_id).phone
    fake.always(phone, failure)
    now = NOW
    for attempt in (1, 2):
        result = dispatch_due(engine, provider, now=now, settings=settings)
        (stored,) = _rows(session, row.id)
        assert result.retried == 1 and stored.status == S.QUEUED and stored.attempts == attempt
        assert stored.error_code == str(failure.code or 20500)  # Twilio's code for a bare 5xx
        delay = (stored.send_after - now).total_seconds()
        full = backoff_seconds(attempt, rand=0.999999)
        assert full / 2 <= delay <= full  # exponential with jitter
        assert dispatch_due(engine, provider, now=now, settings=settings).claimed == 0  # not before its time
        now = stored.send_after
    result = dispatch_due(engine, provider, now=now, settings=settings)
    (stored,) = _rows(session, row.id)
    assert (result.failed, stored.status, stored.attempts) == (1, S.FAILED, 3)
    assert fake.messages == []


def test_a_transient_error_then_success_sends_once(engine, session, fake, settings, provider):
    row = make_outbound(session)
    session.commit()
    fake.script(session.get(Contact, row.contact_id).phone, Fail(429, 20429))
    dispatch_due(engine, provider, now=NOW, settings=settings)
    (stored,) = _rows(session, row.id)
    dispatch_due(engine, provider, now=stored.send_after, settings=settings)
    (stored,) = _rows(session, row.id)
    assert (stored.status, stored.attempts, len(fake.messages)) == (S.SENT, 2, 1)


@pytest.mark.parametrize("fault", [HANG, DROP_AFTER_ACCEPT])
def test_unknown_outcome_is_reconciled_not_resent(engine, session, fake, settings, provider, fault):
    row = make_outbound(session)
    session.commit()
    fake.script(session.get(Contact, row.contact_id).phone, fault)
    result = dispatch_due(engine, provider, now=NOW, settings=settings)
    (stored,) = _rows(session, row.id)
    assert (result.unknown, stored.status, stored.provider_sid) == (1, S.UNKNOWN, None)
    assert dispatch_due(engine, provider, now=NOW + timedelta(hours=1), settings=settings).claimed == 0
    outcome = reconcile(engine, provider, now=NOW + timedelta(minutes=1))
    (stored,) = _rows(session, row.id)
    assert (outcome.found, outcome.requeued) == (1, 0)
    assert stored.status == S.SENT and stored.provider_sid == fake.messages[0]["sid"]
    assert len(fake.messages) == 1


def test_dropped_before_accept_is_requeued_and_sent_once(engine, session, fake, settings, provider):
    row = make_outbound(session)
    session.commit()
    fake.script(session.get(Contact, row.contact_id).phone, DROP)
    dispatch_due(engine, provider, now=NOW, settings=settings)
    assert _rows(session, row.id)[0].status == S.UNKNOWN and fake.messages == []
    outcome = reconcile(engine, provider, now=NOW + timedelta(minutes=1))
    assert (outcome.found, outcome.requeued) == (0, 1)
    dispatch_due(engine, provider, now=NOW + timedelta(minutes=1), settings=settings)
    (stored,) = _rows(session, row.id)
    assert (stored.status, stored.attempts, len(fake.messages)) == (S.SENT, 2, 1)


def test_recheck_skips_contacts_opted_out_or_with_an_open_case_but_not_hotline_replies(
    engine, session, fake, settings, provider
):
    occurrence = make_blast(session)
    opted_out = make_contact(session)
    in_case = make_contact(session)
    fine = make_contact(session)
    rows = [make_outbound(session, contact=c, occurrence=occurrence) for c in (opted_out, in_case, fine)]
    reply = make_outbound(session, contact=in_case, body="Respuesta de la línea de ayuda")
    session.add(Case(contact_id=in_case.id, status="open"))
    session.commit()
    # Planned while eligible; the opt-out arrives after planning, before dispatch (mid-blast).
    session.get(Contact, opted_out.id).status = ContactStatus.OPTED_OUT
    session.commit()
    result = dispatch_due(engine, provider, now=NOW, settings=settings)
    stored = _rows(session, *(r.id for r in rows), reply.id)
    assert [(r.status, r.skip_reason) for r in stored] == [
        (S.SKIPPED, "opted_out"), (S.SKIPPED, "open_case"), (S.SENT, None), (S.SENT, None)
    ]
    assert result.skipped == 2
    assert sorted(m["to"] for m in fake.messages) == sorted([fine.phone, in_case.phone])


def test_opt_out_mid_blast_stops_the_rest(engine, session, fake, provider):
    settings = twilio_settings(fake, batch_size=2, concurrency=1)
    occurrence = make_blast(session)
    contacts = [make_contact(session) for _ in range(6)]
    for minute, contact in enumerate(contacts):
        due = NOW - timedelta(minutes=10 - minute)
        make_outbound(session, contact=contact, occurrence=occurrence, send_after=due)
    session.commit()
    quitter = contacts[-1]

    def opt_out_meanwhile(message):  # an inbound STOP processed by the web app after the first send
        with engine.begin() as connection:
            connection.execute(
                Contact.__table__.update().where(Contact.id == quitter.id).values(status="opted_out")
            )

    fake.on_accept = opt_out_meanwhile
    result = dispatch_due(engine, TwilioProvider(settings, timeout=2.0), now=NOW, settings=settings)
    assert result.batches == 3 and result.skipped == 1
    assert quitter.phone not in {m["to"] for m in fake.messages}
    assert len(fake.messages) == 5


def test_paused_and_cancelled_campaigns_are_not_sent(engine, session, fake, settings, provider):
    paused = make_outbound(session, occurrence=make_blast(session, status="paused"))
    draft = make_outbound(session, occurrence=make_blast(session, status="cancelled"))
    session.commit()
    assert dispatch_due(engine, provider, now=NOW, settings=settings).claimed == 0
    assert fake.messages == []
    campaign = session.get(Outbound, paused.id).campaign_id
    from campaign.blasts.models import Campaign

    session.get(Campaign, campaign).status = "running"  # resumed
    session.commit()
    assert dispatch_due(engine, provider, now=NOW, settings=settings).sent == 1
    assert [r.status for r in _rows(session, paused.id, draft.id)] == [S.SENT, S.QUEUED]


def test_outside_the_window_waits_for_the_next_window(engine, session, fake, settings, provider):
    occurrence = make_blast(session, window=("08:00", "20:00"))
    contact = make_contact(session, timezone="America/Guatemala")
    row = make_outbound(session, occurrence=occurrence, contact=contact)
    session.commit()
    night = datetime(2027, 1, 12, 4, 30, tzinfo=UTC)  # 22:30 in Guatemala
    result = dispatch_due(engine, provider, now=night, settings=settings)
    (stored,) = _rows(session, row.id)
    assert (result.held, stored.status, stored.attempts) == (1, S.QUEUED, 0)
    assert stored.send_after == datetime(2027, 1, 12, 14, 0, tzinfo=UTC)  # 08:00 next morning
    assert fake.messages == []
    dispatch_due(engine, provider, now=stored.send_after, settings=settings)
    assert _rows(session, row.id)[0].status == S.SENT


def test_expired_rows_are_never_sent(engine, session, fake, settings, provider):
    row = make_outbound(session, occurrence=make_blast(session), expires_at=NOW - timedelta(minutes=1))
    session.commit()
    result = dispatch_due(engine, provider, now=NOW, settings=settings)
    assert result.expired == 1 and _rows(session, row.id)[0].status == S.EXPIRED and fake.messages == []


def test_hotline_replies_go_first_and_send_now_ignores_send_after(engine, session, fake, settings, provider):
    occurrence = make_blast(session)
    blast = make_outbound(session, occurrence=occurrence, send_after=NOW - timedelta(hours=1))
    reply = make_outbound(session, body="Te llamamos hoy", send_after=NOW - timedelta(minutes=1))
    session.commit()
    dispatch_due(engine, provider, now=NOW, settings=settings, limit=1)
    assert [r.status for r in _rows(session, reply.id, blast.id)] == [S.SENT, S.QUEUED]

    urgent = make_outbound(session, body="Ya vamos", send_after=NOW + timedelta(hours=5))
    session.commit()
    assert send_now(engine, provider, urgent.id, now=NOW, settings=settings) == S.SENT
    assert fake.messages[-1]["body"] == "Ya vamos"
    assert send_now(engine, provider, urgent.id, now=NOW, settings=settings) == S.SENT  # not twice
    assert len(fake.messages) == 2


def test_callback_before_our_record_is_not_overwritten(engine, session, fake, settings, provider):
    """The provider's `delivered` callback can land while the dispatcher is still recording `sent`."""
    from campaign.blasts.delivery import apply_status_update
    from campaign.core.db import unit_of_work

    row = make_outbound(session)
    session.commit()

    def deliver_at_once(message):  # the callback lands before the provider's answer
        with unit_of_work(engine) as s:
            apply_status_update(s, s.get(Outbound, row.id), S.DELIVERED, now=NOW)

    fake.on_accept = deliver_at_once
    dispatch_due(engine, TwilioProvider(settings, timeout=2.0), now=NOW, settings=settings)
    (stored,) = _rows(session, row.id)
    assert stored.status == S.DELIVERED and stored.provider_sid == fake.messages[0]["sid"]


def test_sandbox_loop_delivers_callbacks_and_replies(engine, session):
    from campaign.core.config import get_settings
    from campaign.hotline.models import Inbound
    from campaign.providers.sandbox import SandboxProvider

    settings = get_settings(rate_per_second=10_000.0, concurrency=4)
    sandbox = SandboxProvider(settings)
    occurrence = make_blast(session)
    rows = [make_outbound(session, occurrence=occurrence) for _ in range(300)]
    session.commit()
    dispatch_due(engine, sandbox, now=NOW, settings=settings)
    assert len(sandbox.sent) == 300
    assert sandbox.deliver_due_events(engine, now=NOW, settings=settings) == 0  # anchored, not yet due
    total = 0
    for hours in (1, 2):
        total += sandbox.deliver_due_events(engine, now=NOW + timedelta(hours=hours), settings=settings)
    assert sandbox.pending_events() == 0 and total >= 600
    statuses = [r.status for r in _rows(session, *(r.id for r in rows))]
    assert statuses.count(S.DELIVERED) > 250
    assert {S.UNDELIVERED, S.FAILED} & set(statuses)
    inbound = session.scalars(select(Inbound)).all()
    assert len(inbound) >= 5
    assert all(i.provider_sid.startswith("SM") and len(i.provider_sid) == 34 for i in inbound)
