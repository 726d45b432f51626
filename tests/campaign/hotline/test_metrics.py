"""Dashboard figures: nearest-rank percentiles, time to first answer and outcomes per week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign.hotline import inbox, metrics, outcomes
from tests.campaign.hotline.cases import open_case, staff

GUATEMALA = ZoneInfo("America/Guatemala")
MONDAY = datetime(2027, 1, 11, 15, 0, tzinfo=UTC)  # 09:00 in Guatemala, a Monday


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 90, 7.0),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4, 5], 50, 3),
        (list(range(1, 11)), 90, 9),
        (list(range(1, 12)), 90, 10),
        ([30, 10, 20], 100, 30),
    ],
)
def test_percentile_is_nearest_rank(values, q, expected):
    assert metrics.percentile(values, q) == expected


def test_weeks_start_on_monday_in_the_deployment_timezone():
    sunday_night_local = datetime(2027, 1, 18, 3, 0, tzinfo=UTC)  # Sunday 21:00 in Guatemala
    assert metrics.week_of(sunday_night_local, GUATEMALA) == date(2027, 1, 11)
    assert metrics.week_of(MONDAY, GUATEMALA) == date(2027, 1, 11)


def test_time_to_first_answer_and_outcomes_per_priority_per_week(session):
    ana = staff(session, "ana", now=MONDAY)
    minutes = [2, 4, 6, 30]
    for i, wait in enumerate(minutes):
        opened = MONDAY + timedelta(hours=i)
        case = open_case(session, "auxilio" if i < 3 else "hola", now=opened)
        answered = opened + timedelta(minutes=wait)
        inbox.reply(session, case_id=case.id, user=ana, body="Aquí estamos", now=answered)
        outcome = {"outcome": "referred", "referred_to": "pnc"} if i < 2 else {"outcome": "information"}
        outcomes.resolve(session, case_id=case.id, user=ana, now=opened + timedelta(hours=1), **outcome)
    open_case(session, "auxilio", now=MONDAY + timedelta(days=1))  # urgent, not answered yet
    open_case(session, "una pregunta", now=MONDAY - timedelta(days=7))  # the week before

    times = metrics.answer_times(session, now=MONDAY + timedelta(days=2), zone=GUATEMALA, weeks=2)
    rows = {(t.week, t.priority): t for t in times}
    urgent = rows[(date(2027, 1, 11), "urgent")]
    assert (urgent.opened, urgent.answered, urgent.median_minutes, urgent.p90_minutes) == (4, 3, 4.0, 6.0)
    normal = rows[(date(2027, 1, 11), "normal")]
    assert (normal.opened, normal.answered, normal.median_minutes) == (1, 1, 30.0)
    earlier = rows[(date(2027, 1, 4), "normal")]
    assert (earlier.opened, earlier.answered, earlier.median_minutes) == (1, 0, None)
    assert [t.week for t in times] == sorted((t.week for t in times), reverse=True)

    counted = metrics.outcomes(session, now=MONDAY + timedelta(days=2), zone=GUATEMALA, weeks=2)
    assert [(o.outcome, o.referred_to, o.cases) for o in counted] == [
        ("information", None, 2), ("referred", "pnc", 2),
    ]
    assert metrics.outcomes(session, now=MONDAY + timedelta(days=30), zone=GUATEMALA, weeks=1) == []
