"""Airings planned from a radio step's RRULE: stations x languages x times, idempotent, local time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from campaign.core.errors import Invalid
from campaign.radio.airings import plan_airings, schedule_rows, status_counts
from campaign.radio.models import Airing, Station
from tests.factories import (
    RADIO_SCRIPT_ES,
    RADIO_SCRIPT_MAM,
    make_radio_spot,
    make_radio_step,
    make_station,
)

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
GT = ZoneInfo("America/Guatemala")


def test_plan_three_times_a_day_monday_to_saturday_for_four_weeks(session):
    spot = make_radio_spot(session, scripts={"es": RADIO_SCRIPT_ES})
    make_station(session, slug="radio-sur", languages=["es"])
    step = make_radio_step(
        session,
        message=spot,
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA;BYHOUR=6,12,18;BYMINUTE=30;COUNT=72",
        starts="2027-01-11",
    )
    assert plan_airings(session, step, now=NOW) == 72
    times = sorted(session.scalars(select(Airing.scheduled_at)))
    local = [t.astimezone(GT) for t in times]
    assert {(t.hour, t.minute) for t in local} == {(6, 30), (12, 30), (18, 30)}
    assert all(t.weekday() != 6 for t in local), "nothing on Sundays"
    assert local[0] == datetime(2027, 1, 11, 6, 30, tzinfo=GT)
    assert local[-1].date().isoformat() == "2027-02-06"  # the Saturday of the fourth week
    assert times[0] == datetime(2027, 1, 11, 12, 30, tzinfo=UTC)  # Guatemala is UTC-6


def test_one_airing_per_station_language_with_approved_translation(session):
    spot = make_radio_spot(session, scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
    make_station(session, slug="radio-bilingue", languages=["es", "mam"])
    make_station(session, slug="radio-kiche", languages=["quc"])  # no quc translation at all
    step = make_radio_step(session, message=spot, rrule="FREQ=DAILY;BYHOUR=6;BYMINUTE=30;COUNT=3")
    # es + mam on the bilingual station, and the K'iche' station gets the Spanish version rather
    # than nothing (its pack says so), 3 days
    assert plan_airings(session, step, now=NOW) == 9
    assert plan_airings(session, step, now=NOW) == 0  # idempotent
    assert session.scalar(select(func.count()).select_from(Airing)) == 9
    by_station = session.execute(
        select(Station.slug, Airing.language).join(Station, Station.id == Airing.station_id).distinct()
    ).all()
    assert sorted(by_station) == [("radio-bilingue", "es"), ("radio-bilingue", "mam"), ("radio-kiche", "es")]

    # A translation not approved is not aired.
    other = make_radio_spot(session, scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
    for translation in other.translations:
        if translation.language == "mam":
            translation.status = "needs_review"
    session.flush()
    step2 = make_radio_step(session, message=other, campaign=step.campaign,
                            rrule="FREQ=DAILY;BYHOUR=12;BYMINUTE=0;COUNT=2")
    assert plan_airings(session, step2, now=NOW) == 4  # es on both stations, 2 days
    assert set(session.scalars(select(Airing.language).where(Airing.step_id == step2.id))) == {"es"}


def test_station_list_restricts_and_unknown_station_is_named(session):
    spot = make_radio_spot(session)
    make_station(session, slug="radio-norte", languages=["es"])
    make_station(session, slug="radio-costa", languages=["es"])
    step = make_radio_step(session, message=spot, stations=["radio-costa"],
                           rrule="FREQ=DAILY;BYHOUR=18;BYMINUTE=30;COUNT=4")
    assert plan_airings(session, step, now=NOW) == 4
    rows = schedule_rows(session, step.campaign.slug)
    assert {r.station for r in rows} == {"radio-costa"}
    assert [r.local_time.strftime("%H:%M") for r in rows] == ["18:30"] * 4
    assert status_counts(rows) == {"planned": 4, "aired": 0, "missed": 0}
    assert rows[0].duration_seconds and 10 < rows[0].duration_seconds < 30

    bad = make_radio_step(session, message=spot, stations=["radio-nadie"], campaign=step.campaign)
    with pytest.raises(Invalid, match="radio-nadie"):
        plan_airings(session, bad, now=NOW)
    assert session.scalar(select(func.count()).select_from(Airing)) == 4


def test_unbounded_rule_is_planned_to_a_horizon_and_extends_later(session):
    spot = make_radio_spot(session)
    make_station(session, languages=["es"])
    step = make_radio_step(session, message=spot, rrule="FREQ=DAILY;BYHOUR=6;BYMINUTE=0", starts="2027-01-01")
    first = plan_airings(session, step, now=NOW)
    assert 88 <= first <= 92
    later = plan_airings(session, step, now=datetime(2027, 1, 11, 12, 0, tzinfo=UTC))
    assert later == 10


def test_sms_step_is_refused(session):
    spot = make_radio_spot(session)
    step = make_radio_step(session, message=spot)
    step.channel = "sms"
    with pytest.raises(Invalid, match="not a radio step"):
        plan_airings(session, step, now=NOW)


def test_preview_announces_the_airings_launch_will_plan(session):
    from campaign.blasts.preview import preview_step
    from campaign.core.config import get_settings

    spot = make_radio_spot(session, scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
    make_station(session, slug="radio-bilingue", languages=["es", "mam"])
    make_station(session, slug="radio-sur", languages=["es"])
    step = make_radio_step(session, message=spot, rrule="FREQ=DAILY;BYHOUR=6;BYMINUTE=30;COUNT=4")
    preview = preview_step(session, step, now=NOW, settings=get_settings())
    assert (preview["airings"], preview["stations"]) == (12, 2)
    assert preview["languages"] == {"es": 8, "mam": 4}
    assert session.scalar(select(func.count()).select_from(Airing)) == 0  # a preview writes nothing
    assert plan_airings(session, step, now=NOW) == preview["airings"]
