"""Deployment rules through the real paths: quiet hours, recurrence limits, outages without bursts.

Campaign files go through `campaign create` in a subprocess; the scheduler through `tick(now=...)`
with the sandbox provider; every test runs on SQLite and PostgreSQL. All data is synthetic.
"""

from __future__ import annotations

import json
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
    tick(engine, provider, now=MONDAY_10 + timedelta(minutes=1), settings=settings)  # paced seconds apart
    assert _sent_per_contact(session, provider) == dict.fromkeys((c.id for c in contacts), 1)
    # The scheduler is down from Monday until Friday 10:30: Tuesday..Friday's firings are missed.
    back = MONDAY_10 + timedelta(days=4, minutes=30)
    result = tick(engine, provider, now=back, settings=settings)
    assert (result.occurrences_created, result.occurrences_collapsed) == (1, 3)
    assert result.queued == len(contacts)
    tick(engine, provider, now=back + timedelta(seconds=30), settings=settings)
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


def test_held_messages_resume_at_the_pace_after_a_four_hour_outage(session, engine):
    """10 per hour: after four hours without a scheduler, the 40 overdue messages do not go at once."""
    message = make_sms_message(session)
    contacts = [make_contact(session) for _ in range(60)]
    campaign = make_sms_campaign(session, message=message, pacing={"max_per_hour": 10})
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000, tick_seconds=120)
    provider = RecordingProvider(settings)
    tick(engine, provider, now=MONDAY_10, settings=settings)
    assert len(provider.sent) == 1
    back = MONDAY_10 + timedelta(hours=4)  # the scheduler was down from 10:00 to 14:00
    result = tick(engine, provider, now=back, settings=settings)
    assert result.repaced.campaigns == 1 and result.repaced.rows == len(contacts) - 1
    assert len(provider.sent) == 2, "the backlog went out in a burst"
    sent_at = [back]
    now = back
    while now < back + timedelta(hours=3):
        now += timedelta(minutes=2)
        before = len(provider.sent)
        tick(engine, provider, now=now, settings=settings)
        sent_at += [now] * (len(provider.sent) - before)
    for i, moment in enumerate(sent_at):  # never more than 10 in any hour from the restart on
        assert sum(1 for m in sent_at[i:] if m < moment + timedelta(hours=1)) <= 10
    assert len(sent_at) >= 30  # and it keeps going at the pace: 10 an hour for 3 hours
    session.expire_all()
    waiting = select(Outbound.send_after).where(Outbound.status == OutboundStatus.QUEUED)
    queued = session.scalars(waiting.order_by(Outbound.send_after)).all()
    assert all(b - a >= timedelta(minutes=6) for a, b in zip(queued, queued[1:], strict=False))


def test_the_hourly_cap_holds_across_campaigns(session, engine):
    """Hotline capacity is global: two unpaced campaigns together stay under the deployment's cap."""
    message = make_sms_message(session)
    for _ in range(30):
        make_contact(session)
    first = make_sms_campaign(session, message=message)
    second = make_sms_campaign(session, message=message)
    for campaign in (first, second):
        launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    # Ticks every 5 minutes here, and the deployment says so (a row due since the last tick is on time).
    settings = get_settings(
        rate_per_second=1000, blast_max_per_hour=20, contact_max_per_week=5, tick_seconds=300
    )
    provider = RecordingProvider(settings)
    per_tick: list[int] = []
    now = MONDAY_10
    while now < MONDAY_10 + timedelta(hours=4):
        before = len(provider.sent)
        tick(engine, provider, now=now, settings=settings)
        per_tick.append(len(provider.sent) - before)
        now += timedelta(minutes=5)
    assert sum(per_tick) == 60  # everyone reached, over three hours instead of in one burst
    # Any hour of ticks carries at most the cap, plus one bucket's share straddling its edges.
    assert max(sum(per_tick[i : i + 12]) for i in range(len(per_tick))) <= 21, per_tick
    session.expire_all()
    slots = session.scalars(select(Outbound.send_after)).all()
    per_clock_hour = Counter(t.replace(minute=0, second=0, microsecond=0) for t in slots)
    assert max(per_clock_hour.values()) <= 20, per_clock_hour
    buckets = Counter(int(t.timestamp()) // 180 for t in slots)  # 20 an hour: one per 3 minutes
    assert max(buckets.values()) == 1


def test_a_contact_gets_at_most_two_blasts_a_week_and_one_discreet_message_per_fortnight(
    session, engine, db_url
):
    ordinary = make_sms_message(session)
    discreet = make_sms_message(session, bodies={"es": "Un consejo para su familia: {{ hotline_mujer }}."})
    discreet.safety_flags = ["discreet", "help"]
    person = make_contact(session)
    stranger = make_contact(session, consent=False)  # e.g. created by an inbound SMS: no consent
    campaigns = [make_sms_campaign(session, message=ordinary, at=f"2027-01-11 1{h}:00") for h in (0, 1, 2)]
    later = make_sms_campaign(session, message=discreet, at="2027-01-18 12:00")  # 7 days after 11:00
    again = make_sms_campaign(session, message=discreet, at="2027-01-25 10:00")
    allowed = make_sms_campaign(
        session, message=discreet, at="2027-01-25 13:00", pacing={"discreet_min_days": 7}
    )
    for campaign in [*campaigns, later, again, allowed]:
        launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000, tick_seconds=1800)
    provider = RecordingProvider(settings)
    for day in (11, 18, 25):  # the Mondays the campaigns fire, 10:00 to 14:00 in Guatemala
        for half_hours in range(9):
            now = datetime(2027, 1, day, 16, 0, tzinfo=UTC) + timedelta(minutes=30 * half_hours)
            tick(engine, provider, now=now, settings=settings)
            if now == datetime(2027, 1, 11, 17, 30, tzinfo=UTC):  # 11:30: two sent, the third next
                preview = run_cli("preview", campaigns[2].slug, "--json", "--now", now.isoformat())
                assert preview.returncode == 0, preview.stderr
                skipped = json.loads(preview.stdout)["steps"][0]["skipped"]
                assert skipped == {"frequency_cap": 1, "no_consent": 1}
    reasons = {
        campaign.slug: dict(
            session.execute(
                select(Outbound.contact_id, func.coalesce(Outbound.skip_reason, Outbound.status)).where(
                    Outbound.campaign_id == campaign.id
                )
            ).all()
        )
        for campaign in [*campaigns, later, again, allowed]
    }
    assert [reasons[c.slug][person.id] for c in campaigns] == ["sent", "sent", "frequency_cap"]
    assert {reasons[c.slug][stranger.id] for c in campaigns} == {"no_consent"}
    assert reasons[later.slug][person.id] == "sent"  # a new week
    assert reasons[again.slug][person.id] == "frequency_cap"  # discreet again within 14 days
    assert reasons[allowed.slug][person.id] == "sent"  # this campaign allows one a week
    assert len([m for m in provider.sent if m.to == stranger.phone]) == 0
    report = run_cli("report", campaigns[2].slug, "--json")
    assert report.returncode == 0, report.stderr
    row = json.loads(report.stdout)["rows"][0]
    assert row["skipped_by_reason"] == "frequency_cap:1 no_consent:1"
