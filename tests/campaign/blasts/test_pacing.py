"""Deployment rules through the real paths: quiet hours, recurrence limits, outages without bursts.

Campaign files go through `campaign create` in a subprocess; the scheduler through `tick(now=...)`
with the sandbox provider; every test runs on SQLite and PostgreSQL. All data is synthetic.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import yaml
from sqlalchemy import func, select

from campaign.blasts.campaign_files import parse_campaign
from campaign.blasts.campaigns import save_campaign
from campaign.blasts.lifecycle import launch
from campaign.blasts.models import Campaign, Occurrence, OccurrenceStatus, Outbound, OutboundStatus
from campaign.blasts.rules import DeploymentRules
from campaign.blasts.scheduling import tick
from campaign.core.config import get_settings
from campaign.providers.sandbox import SandboxProvider
from tests.factories import make_contact, make_sms_campaign, make_sms_message
from tests.subprocess_cli import run_cli

LAUNCH = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)  # Sunday 09:00 in Guatemala
MONDAY_10 = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)  # Monday 10:00 in Guatemala


class RecordingProvider(SandboxProvider):
    """The sandbox without its simulated callbacks and replies: it only records what was sent."""

    def _simulate(self, message, url):  # noqa: ARG002 - nothing happens after a send
        return None


def _document(**overrides):
    document = {
        "slug": "noche",
        "name": "Campaña sintética",
        "steps": [{"id": "uno", "message": "m", "query": "age > 1", "at": "2027-01-11 10:00"}],
    }
    document.update(overrides)
    return document


def _sent_per_contact(session, provider):
    """Messages the provider received, per contact id."""
    session.expire_all()
    ids = [m.outbound_id for m in provider.sent]
    query = select(Outbound.id, Outbound.contact_id).where(Outbound.id.in_(ids))
    contacts = dict(session.execute(query).all())
    return Counter(contacts[i] for i in ids)


# --- quiet hours and recurrence limits, at `campaign create` -------------------------------------


def test_create_refuses_a_window_into_the_night_and_too_frequent_steps(db_url, session, tmp_path):
    make_sms_message(session, slug="m")
    session.commit()
    cases = [
        (_document(send_window={"start": "00:00", "end": "23:59"}), "error: send_window: 00:00-23:59"),
        (
            _document(send_window={"start": "08:00", "end": "20:00", "weekend": {"sat": ["06:00", "12:00"]}}),
            "error: send_window.weekend.sat: 06:00-12:00",
        ),
        (
            _document(steps=[{"id": "uno", "message": "m", "query": "age > 1",
                              "rrule": "FREQ=MINUTELY;COUNT=30", "starts": "2027-01-11"}]),
            "error: steps[0].rrule: fires every 1 min",
        ),
        (
            _document(steps=[{"id": "uno", "message": "m", "query": "age > 1",
                              "rrule": "FREQ=SECONDLY", "starts": "2027-01-11"}]),
            "error: steps[0].rrule: fires every 1 s",
        ),
    ]
    for document, expected in cases:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(document))
        result = run_cli("create", str(path))
        assert result.returncode == 1, result.stdout
        assert result.stderr.startswith(expected), result.stderr
    assert "quiet hours (20:00-08:00)" in result.stderr or "CAMPAIGN_MIN_RECURRENCE_HOURS" in result.stderr
    session.expire_all()
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_a_deployment_may_allow_wider_windows_and_more_frequent_steps(db_url, session, tmp_path):
    make_sms_message(session, slug="m")
    session.commit()
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            _document(
                send_window={"start": "06:00", "end": "22:00"},
                steps=[{"id": "uno", "message": "m", "query": "age > 1",
                        "rrule": "FREQ=HOURLY;INTERVAL=2;COUNT=3", "starts": "2027-01-11 08:00"}],
            )
        )
    )
    env = {"CAMPAIGN_ALLOW_NIGHT_WINDOWS": "true", "CAMPAIGN_MIN_RECURRENCE_HOURS": "2"}
    result = run_cli("create", str(path), env=env)
    assert result.returncode == 0, result.stderr
    refused = run_cli("create", str(path))  # the same file under the default rules
    assert refused.returncode == 1 and refused.stderr.startswith("error: send_window: 06:00-22:00")


def test_a_stored_all_day_window_still_sends_nothing_at_night(session, engine):
    """A campaign saved before the rule (00:00-23:59): planning clamps it to the deployment's day."""
    message = make_sms_message(session)
    contact = make_contact(session)
    document = _document(
        slug="vieja",
        send_window={"start": "00:00", "end": "23:59"},
        steps=[{"id": "uno", "message": message.slug, "query": "age > 1", "at": "2027-01-11 02:00"}],
    )
    campaign, _ = save_campaign(
        session, parse_campaign(document, rules=DeploymentRules(allow_night_windows=True)), now=LAUNCH
    )
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    provider = RecordingProvider(settings)
    night = datetime(2027, 1, 11, 8, 5, tzinfo=UTC)  # 02:05 in Guatemala
    tick(engine, provider, now=night, settings=settings)
    assert provider.sent == []
    row = session.scalars(select(Outbound).where(Outbound.contact_id == contact.id)).one()
    assert row.status == OutboundStatus.QUEUED
    assert row.send_after == datetime(2027, 1, 11, 14, 0, tzinfo=UTC)  # 08:00 local
    tick(engine, provider, now=datetime(2027, 1, 11, 14, 0, tzinfo=UTC), settings=settings)
    assert [m.outbound_id for m in provider.sent] == [row.id]


# --- outages ------------------------------------------------------------------------------------


def test_a_daily_step_after_a_four_day_outage_sends_once_not_four_times(session, engine):
    message = make_sms_message(session)
    contacts = [make_contact(session) for _ in range(3)]
    campaign = make_sms_campaign(
        session,
        message=message,
        at=None,
        step={"at": None, "rrule": "FREQ=DAILY;BYHOUR=10;BYMINUTE=0;COUNT=30", "starts": "2027-01-11"},
    )
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000, contact_max_per_week=10)
    provider = RecordingProvider(settings)
    tick(engine, provider, now=MONDAY_10, settings=settings)
    assert _sent_per_contact(session, provider) == dict.fromkeys((c.id for c in contacts), 1)
    # The scheduler is down from Monday until Friday 10:30: Tuesday..Friday's firings are missed.
    back = MONDAY_10 + timedelta(days=4, minutes=30)
    result = tick(engine, provider, now=back, settings=settings)
    assert (result.occurrences_created, result.occurrences_collapsed) == (1, 3)
    assert result.queued == len(contacts)
    assert _sent_per_contact(session, provider) == dict.fromkeys((c.id for c in contacts), 2)
    statuses = Counter(session.scalars(select(Occurrence.status)))
    assert statuses == {OccurrenceStatus.PLANNED: 2, OccurrenceStatus.SKIPPED: 3}
    again = tick(engine, provider, now=back + timedelta(minutes=1), settings=settings)
    assert again.occurrences_created == 0 and len(provider.sent) == 2 * len(contacts)


def test_an_offset_step_after_an_outage_reaches_each_missed_day_once(session, engine):
    """Offset firings collapse too, but the contacts whose day was missed are not lost."""
    message = make_sms_message(session)
    by_day = {
        day: make_contact(session, custom={"enrolled_on": f"2027-01-{day:02d}"}) for day in (8, 9, 10, 11)
    }
    campaign = make_sms_campaign(
        session,
        message=message,
        step={"at": None, "offset": {"field": "enrolled_on", "days": 3, "time": "09:00"}},
    )
    launch(session, campaign.slug, now=datetime(2027, 1, 11, 16, tzinfo=UTC), settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    # Launched Monday 10:00: the 8th's contact (8 + 3 = today) is due now.
    tick(engine, None, now=datetime(2027, 1, 11, 16, tzinfo=UTC), settings=settings)
    # Down until Thursday 09:30: the 9th's (due Tue), 10th's (Wed) and 11th's (Thu) in one firing.
    result = tick(engine, None, now=datetime(2027, 1, 14, 15, 30, tzinfo=UTC), settings=settings)
    assert (result.occurrences_created, result.occurrences_collapsed) == (1, 2)
    session.expire_all()
    planned = Counter(session.scalars(select(Outbound.contact_id).where(Outbound.campaign_id == campaign.id)))
    assert planned == {contact.id: 1 for contact in by_day.values()}
