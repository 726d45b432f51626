"""The scheduler tick ties the stages together: reconcile after a crash, open-ended radio, SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from audiences.models import Contact
from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.blasts.scheduling import run_forever, tick
from campaign.core.config import get_settings
from campaign.core.db import make_sessionmaker
from campaign.providers.base import OutboundRequest
from campaign.providers.sandbox import SandboxProvider
from campaign.radio.models import Airing
from tests.factories import make_blast, make_outbound, make_radio_spot, make_radio_step, make_station

NOW = datetime(2027, 1, 11, 16, 30, tzinfo=UTC)  # 10:30 in Guatemala


def test_tick_settles_rows_a_crashed_dispatcher_left_sending(engine):
    """One row the provider accepted before the crash, one it never saw: sent once each, none lost."""
    settings = get_settings()
    provider = SandboxProvider(settings)
    with make_sessionmaker(engine).begin() as session:
        occurrence = make_blast(session)
        claimed = NOW - timedelta(hours=1)
        accepted = make_outbound(
            session,
            occurrence=occurrence,
            status="sending",
            claimed_at=claimed,
            claimed_by="dead-worker",
            attempts=1,
        )
        lost = make_outbound(
            session,
            occurrence=occurrence,
            status="sending",
            claimed_at=claimed,
            claimed_by="dead-worker",
            attempts=1,
        )
        accepted_to = session.get(Contact, accepted.contact_id).phone
    # The provider accepted the first message just before the dispatcher died.
    provider.send(
        OutboundRequest(
            outbound_id=accepted.id,
            to=accepted_to,
            body=accepted.body,
            status_callback_url="http://127.0.0.1:8000/twilio/status",
        )
    )

    result = tick(engine, provider, now=NOW, settings=settings)

    assert result.reconciled.found == 1 and result.reconciled.requeued == 1
    with make_sessionmaker(engine)() as session:
        rows = {r.id: r for r in session.scalars(select(Outbound))}
        assert rows[accepted.id].status != OutboundStatus.SENDING
        assert rows[accepted.id].provider_sid == provider.sent[0].sid
        assert rows[lost.id].status in {OutboundStatus.SENT, OutboundStatus.DELIVERED}
    sent_to = [m.outbound_id for m in provider.sent]
    assert sorted(sent_to) == sorted([accepted.id, lost.id])  # each exactly once


def test_tick_extends_open_ended_radio_schedules(engine):
    with make_sessionmaker(engine).begin() as session:
        spot = make_radio_spot(session)
        make_station(session, languages=["es"])
        step = make_radio_step(
            session, message=spot, rrule="FREQ=DAILY;BYHOUR=7;BYMINUTE=0", starts="2027-01-01"
        )
        campaign = session.get(Campaign, step.campaign_id)
        campaign.status = "running"
        campaign.launched_at = datetime(2027, 1, 1, tzinfo=UTC)
        step_id = step.id

    def last_airing() -> datetime:
        with make_sessionmaker(engine)() as session:
            return session.scalar(select(func.max(Airing.scheduled_at)).where(Airing.step_id == step_id))

    first = tick(engine, None, now=NOW, settings=get_settings())
    assert first.airings_added > 80  # ~90 days ahead, once a day
    again = tick(engine, None, now=NOW + timedelta(minutes=1), settings=get_settings())
    assert again.airings_added == 0  # still far ahead: nothing re-planned each tick
    later = NOW + timedelta(days=70)
    assert last_airing().replace(tzinfo=UTC) < later + timedelta(days=30)
    extended = tick(engine, None, now=later, settings=get_settings())
    assert extended.airings_added > 0
    assert last_airing().replace(tzinfo=UTC) >= later + timedelta(days=89)


def test_sigterm_finishes_the_running_tick_then_exits(db_url, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_TICK_SECONDS", "0.05")
    settings = get_settings()
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM)).start()
    ticks = run_forever(settings, max_ticks=10_000)  # returns instead of being killed
    assert 1 <= ticks < 10_000
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handler is restored
