"""Planning through the scheduler's tick: invariants 1-4 on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from campaign.blasts.lifecycle import launch
from campaign.blasts.models import Occurrence, OccurrenceStatus, Outbound, OutboundStatus
from campaign.blasts.scheduling import tick
from campaign.blasts.windows import is_allowed
from campaign.core.config import get_settings
from campaign.core.db import make_sessionmaker
from tests.factories import make_contact, make_sms_campaign, make_sms_message

LAUNCH = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)  # Sunday 09:00 in Guatemala
FIRES = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)  # Monday 10:00 in Guatemala


def _setup(session, *, n=5, message=None, **spec):
    message = message or make_sms_message(session)
    contacts = [make_contact(session) for _ in range(n)]
    campaign = make_sms_campaign(session, message=message, **spec)
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    return campaign, contacts


def _outbound(session, campaign):
    return session.scalars(
        select(Outbound).where(Outbound.campaign_id == campaign.id).order_by(Outbound.contact_id)
    ).all()


def test_nothing_planned_before_the_step_fires_then_each_contact_once(session, engine):
    campaign, contacts = _setup(session)
    settings = get_settings()
    before = tick(engine, None, now=FIRES - timedelta(minutes=1), settings=settings)
    assert before.queued == 0 and before.occurrences_created == 0
    first = tick(engine, None, now=FIRES, settings=settings)
    assert first.queued == len(contacts)
    again = tick(engine, None, now=FIRES + timedelta(minutes=1), settings=settings)
    assert again.queued == 0
    session.expire_all()
    rows = _outbound(session, campaign)
    assert [r.contact_id for r in rows] == [c.id for c in contacts]
    assert {r.status for r in rows} == {OutboundStatus.QUEUED}
    assert all("1572" in r.body and r.language == "es" and r.segments == 1 for r in rows)
    assert all(r.template_version == 1 and r.encoding == "GSM-7" for r in rows)
    occurrence = session.scalars(select(Occurrence)).one()
    assert occurrence.status == OccurrenceStatus.PLANNED and occurrence.recipients == len(contacts)


def test_replanning_an_occurrence_inserts_nothing_twice(session, engine):
    """Invariant 1 is the database's: re-opening a planned occurrence adds no row."""
    from campaign.blasts.planning import plan_occurrence

    campaign, contacts = _setup(session)
    tick(engine, None, now=FIRES, settings=get_settings())
    with make_sessionmaker(engine).begin() as other:
        occurrence = other.scalars(select(Occurrence)).one()
        occurrence.status = OccurrenceStatus.PENDING
    with make_sessionmaker(engine).begin() as other:
        result = plan_occurrence(other, occurrence.id, now=FIRES, settings=get_settings())
    assert result.queued == 0
    count = session.scalar(select(func.count(Outbound.id)).where(Outbound.campaign_id == campaign.id))
    assert count == len(contacts)


def test_opted_out_and_open_case_contacts_are_not_planned(session, engine):
    from audiences.models import ContactStatus
    from campaign.hotline.models import Case, CaseStatus

    campaign, contacts = _setup(session, n=4)
    contacts[0].status = ContactStatus.OPTED_OUT
    session.add(Case(contact_id=contacts[1].id, status=CaseStatus.OPEN))
    session.commit()
    tick(engine, None, now=FIRES, settings=get_settings())
    planned = {r.contact_id for r in _outbound(session, campaign)}
    assert planned == {contacts[2].id, contacts[3].id}


def test_language_without_approved_translation_is_skipped_by_default(session, engine):
    message = make_sms_message(
        session,
        bodies={"es": "Llama al {{ hotline_mujer }}.", "quc": "Chab'ej {{ hotline_mujer }}."},
        statuses={"quc": "needs_review"},
    )
    k_iche = make_contact(session, language="quc")
    spanish = make_contact(session, language="es")
    campaign = make_sms_campaign(session, message=message)
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    tick(engine, None, now=FIRES, settings=get_settings())
    rows = {r.contact_id: r for r in _outbound(session, campaign)}
    assert rows[k_iche.id].status == OutboundStatus.SKIPPED
    assert rows[k_iche.id].skip_reason == "no_translation" and rows[k_iche.id].body == ""
    assert rows[spanish.id].status == OutboundStatus.QUEUED


def test_fallback_chain_sends_spanish_to_contacts_without_their_language(session, engine):
    message = make_sms_message(session, bodies={"es": "Llama al {{ hotline_mujer }}."})
    k_iche = make_contact(session, language="quc")
    campaign = make_sms_campaign(session, message=message, step={"fallback": ["contact", "es"]})
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    tick(engine, None, now=FIRES, settings=get_settings())
    (row,) = _outbound(session, campaign)
    assert row.contact_id == k_iche.id and row.language == "es" and row.status == OutboundStatus.QUEUED


def test_send_times_stay_inside_each_contacts_window(session, engine):
    """A step firing at 19:30 Guatemala: US numbers (Eastern, later) and Guatemalan numbers wait
    for their own morning; nothing is planned at night anywhere."""
    message = make_sms_message(session)
    gt = make_contact(session)
    new_york = make_contact(session, phone="+12125550142", country="US")
    los_angeles = make_contact(session, phone="+13105550199", country="US")
    campaign = make_sms_campaign(session, message=message, at="2027-01-11 19:30")
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    fires = datetime(2027, 1, 12, 1, 30, tzinfo=UTC)
    tick(engine, None, now=fires, settings=get_settings())
    rows = {r.contact_id: r for r in _outbound(session, campaign)}
    zones = {
        gt.id: "America/Guatemala",
        new_york.id: "America/New_York",
        los_angeles.id: "America/Los_Angeles",
    }
    for contact_id, zone in zones.items():
        assert is_allowed(rows[contact_id].send_after, tz=zone, start=time(8), end=time(20))
    assert rows[gt.id].send_after == fires  # 19:30 in Guatemala: still inside the window
    assert rows[new_york.id].send_after == datetime(2027, 1, 12, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert rows[los_angeles.id].send_after == fires  # 17:30 in Los Angeles


def test_pacing_spreads_send_times_and_skips_the_night(session, engine):
    campaign, contacts = _setup(session, n=6, pacing={"max_per_hour": 2}, at="2027-01-11 18:30")
    fires = datetime(2027, 1, 12, 0, 30, tzinfo=UTC)
    tick(engine, None, now=fires, settings=get_settings())
    times = [r.send_after for r in _outbound(session, campaign)]
    morning = datetime(2027, 1, 12, 14, 0, tzinfo=UTC)  # Tuesday 08:00 Guatemala
    assert times == [
        fires,
        fires + timedelta(minutes=30),
        fires + timedelta(minutes=60),
        morning,
        morning + timedelta(minutes=30),
        morning + timedelta(minutes=60),
    ]


def test_past_time_at_launch_fires_once_at_launch(session, engine):
    message = make_sms_message(session)
    make_contact(session)
    campaign = make_sms_campaign(
        session,
        message=message,
        at=None,
        step={"at": None, "rrule": "FREQ=DAILY;BYHOUR=10;BYMINUTE=0;COUNT=5", "starts": "2027-01-04"},
    )
    late = datetime(2027, 1, 6, 17, 0, tzinfo=UTC)  # 11:00 on the 3rd day: 3 times already past
    launch(session, campaign.slug, now=late, settings=get_settings())
    session.commit()
    result = tick(engine, None, now=late, settings=get_settings())
    assert result.occurrences_created == 1 and result.queued == 1
    occurrence = session.scalars(select(Occurrence)).one()
    assert occurrence.fires_at == late
    assert occurrence.scheduled_at == datetime(2027, 1, 6, 16, 0, tzinfo=UTC)


def test_ab_variants_split_contacts_deterministically_by_percentage(session, engine):
    main = make_sms_message(
        session, bodies={"es": "Version A: llama al {{ hotline_mujer }}. BAJA para salir."}
    )
    other = make_sms_message(
        session, bodies={"es": "Version B: llama al {{ hotline_mujer }}. BAJA para salir."}
    )
    campaign, contacts = _setup(
        session, n=200, message=main, step={"variants": [{"message": other.slug, "split": 30}]}
    )
    tick(engine, None, now=FIRES, settings=get_settings())
    session.expire_all()
    rows = _outbound(session, campaign)
    assert len(rows) == 200
    by_variant = {r.contact_id: (r.variant, r.message_id, r.body[:9]) for r in rows}
    b_rows = [v for v in by_variant.values() if v[0] == "B"]
    assert all(v[1:] == (other.id, "Version B") for v in b_rows)
    assert all(v[1:] == (main.id, "Version A") for v in by_variant.values() if v[0] != "B")
    assert 40 <= len(b_rows) <= 80  # 30% of 200, give or take the hash
    from campaign.blasts.planning import assign_variant

    for contact_id, (_variant, message_id, _) in by_variant.items():  # same contact, same variant
        assert (
            assign_variant(contact_id, rows[0].step_id, main.id, campaign.steps[0].variants)[1] == message_id
        )


def test_offset_step_sends_once_per_contact_at_their_date(session, engine):
    """'3 days after enrolled_on at 09:00': past dates catch up at launch, later ones on their day."""
    message = make_sms_message(session)
    early = make_contact(session, custom={"enrolled_on": "2027-01-02"})
    later = make_contact(session, custom={"enrolled_on": "2027-01-10"})
    make_contact(session, custom={})  # no date: never due
    campaign = make_sms_campaign(
        session,
        message=message,
        step={"at": None, "offset": {"field": "enrolled_on", "days": 3, "time": "09:00"}},
    )
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings()
    now = LAUNCH
    while now <= LAUNCH + timedelta(days=5):
        tick(engine, None, now=now, settings=settings)
        now += timedelta(hours=1)
    session.expire_all()
    rows = {r.contact_id: r for r in _outbound(session, campaign)}
    assert set(rows) == {early.id, later.id}  # once each, the dateless contact never
    assert rows[early.id].send_after < datetime(2027, 1, 11, tzinfo=UTC)  # caught up at launch
    local = rows[later.id].send_after.astimezone(ZoneInfo("America/Guatemala"))
    assert (local.date(), local.hour) == (datetime(2027, 1, 13).date(), 9)  # 10 Jan + 3 days, 09:00


def test_chunks_written_while_the_next_is_computed_plan_each_contact_once(session, engine):
    """The insert of a chunk runs in a worker thread while the next chunk is rendered."""
    from campaign.blasts.planning import plan_occurrence
    from campaign.blasts.scheduling import create_due_occurrences

    campaign, contacts = _setup(session, n=7)
    with make_sessionmaker(engine).begin() as other:
        create_due_occurrences(other, now=FIRES)
    occurrence_id = session.scalars(select(Occurrence.id)).one()
    with make_sessionmaker(engine).begin() as other:
        result = plan_occurrence(other, occurrence_id, now=FIRES, settings=get_settings(), chunk=2)
    assert result.queued == len(contacts)
    session.expire_all()
    assert [r.contact_id for r in _outbound(session, campaign)] == [c.id for c in contacts]


def test_a_failed_insert_plans_nothing_of_the_occurrence(session, engine, monkeypatch):
    """All-or-nothing: an insert failing in the worker thread after earlier chunks were written
    fails the occurrence's unit of work, which then holds no row at all."""
    import pytest

    from campaign.blasts import planning
    from campaign.blasts.scheduling import create_due_occurrences

    campaign, _ = _setup(session, n=7)
    with make_sessionmaker(engine).begin() as other:
        create_due_occurrences(other, now=FIRES)
    occurrence_id = session.scalars(select(Occurrence.id)).one()
    calls = []
    real = planning.bulk_insert

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(planning, "bulk_insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        with make_sessionmaker(engine).begin() as other:
            planning.plan_occurrence(other, occurrence_id, now=FIRES, settings=get_settings(), chunk=2)
    assert len(calls) == 3
    session.expire_all()
    assert _outbound(session, campaign) == []
    assert session.get(Occurrence, occurrence_id).status == OccurrenceStatus.PENDING


def test_an_in_memory_sqlite_database_plans_with_inline_writes():
    """An in-memory SQLite connection cannot be used from the writer thread: writes stay inline."""
    from campaign.blasts.planning import plan_occurrence
    from campaign.blasts.scheduling import create_due_occurrences
    from campaign.core.db import make_engine
    from campaign.schema import metadata

    engine = make_engine("sqlite://")
    metadata().create_all(engine)
    with make_sessionmaker(engine)() as session:
        campaign, contacts = _setup(session, n=5)
        create_due_occurrences(session, now=FIRES)
        occurrence_id = session.scalars(select(Occurrence.id)).one()
        result = plan_occurrence(session, occurrence_id, now=FIRES, settings=get_settings(), chunk=2)
        session.commit()
        assert result.queued == len(contacts)
        assert [r.contact_id for r in _outbound(session, campaign)] == [c.id for c in contacts]
    engine.dispose()
