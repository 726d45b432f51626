"""Pure send-window and schedule arithmetic, table-driven (DST edges for US numbers included)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from campaign.blasts.schedules import Schedule, due_occurrences, occurrence_times, parse_local_datetime
from campaign.blasts.windows import PacedSlots, is_allowed, next_allowed
from campaign.core.errors import Invalid

EIGHT, TWENTY = time(8), time(20)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        # Guatemala (UTC-6, no DST): 03:00 local -> 08:00 local the same day.
        (utc(2027, 1, 11, 9, 0), "America/Guatemala", utc(2027, 1, 11, 14, 0)),
        # Inside the window: unchanged.
        (utc(2027, 1, 11, 20, 0), "America/Guatemala", utc(2027, 1, 11, 20, 0)),
        # 20:00 local is closed (end excluded): next morning.
        (utc(2027, 1, 12, 2, 0), "America/Guatemala", utc(2027, 1, 12, 14, 0)),
        # New York, the night DST starts (14 March 2027): 08:00 EDT is 12:00 UTC, not 13:00.
        (utc(2027, 3, 14, 5, 0), "America/New_York", utc(2027, 3, 14, 12, 0)),
        # New York, the night DST ends (7 November 2027): 08:00 EST is 13:00 UTC.
        (utc(2027, 11, 7, 5, 0), "America/New_York", utc(2027, 11, 7, 13, 0)),
        # Los Angeles at 19:59 PDT is still open.
        (utc(2027, 7, 1, 2, 59), "America/Los_Angeles", utc(2027, 7, 1, 2, 59)),
        # Los Angeles at 20:00 PDT waits for 08:00 PDT.
        (utc(2027, 7, 1, 3, 0), "America/Los_Angeles", utc(2027, 7, 1, 15, 0)),
    ],
)
def test_next_allowed_is_the_next_local_morning_across_dst(instant, tz, expected):
    assert next_allowed(instant, tz=tz, start=EIGHT, end=TWENTY) == expected
    assert is_allowed(expected, tz=tz, start=EIGHT, end=TWENTY)
    assert is_allowed(instant, tz=tz, start=EIGHT, end=TWENTY) == (instant == expected)


def test_weekend_overrides_close_sunday_and_shorten_saturday():
    weekend = {"sat": ["09:00", "14:00"], "sun": None}
    saturday_late = utc(2027, 1, 9, 21, 0)  # Saturday 15:00 Guatemala: after the short window
    assert next_allowed(
        saturday_late, tz="America/Guatemala", start=EIGHT, end=TWENTY, weekend=weekend
    ) == utc(2027, 1, 11, 14, 0)  # Monday 08:00: Sunday has no window


def test_no_window_at_all_is_an_error_naming_the_window():
    closed = {d: None for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with pytest.raises(Invalid, match="send_window"):
        next_allowed(utc(2027, 1, 11, 12), tz="America/Guatemala", start=EIGHT, end=TWENTY, weekend=closed)


def test_paced_slots_fill_the_window_then_continue_next_morning():
    slots = PacedSlots(utc(2027, 1, 12, 1, 0), per_hour=1, tz="America/Guatemala", start=EIGHT, end=TWENTY)
    assert [slots.next() for _ in range(3)] == [
        utc(2027, 1, 12, 1, 0),  # 19:00 local
        utc(2027, 1, 12, 14, 0),  # 20:00 is closed: 08:00 next day
        utc(2027, 1, 12, 15, 0),
    ]


@pytest.mark.parametrize(
    ("rule", "starts", "expected_utc_hours"),
    [
        # Weekly 10:00 New York across the March DST change: 15:00 UTC then 14:00 UTC.
        ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0;COUNT=3", "2027-03-01", [15, 15, 14]),
        # Daily 10:00 in Guatemala: always 16:00 UTC.
        ("FREQ=DAILY;BYHOUR=10;BYMINUTE=0;COUNT=3", "2027-03-12", [16, 16, 16]),
    ],
)
def test_rrule_keeps_local_wall_time_across_dst(rule, starts, expected_utc_hours):
    tz = "America/New_York" if "WEEKLY" in rule else "America/Guatemala"
    schedule = Schedule(tz, rrule=rule, starts=parse_local_datetime(starts, tz, "starts"))
    assert [t.hour for t in occurrence_times(schedule)] == expected_utc_hours


def test_past_times_collapse_into_one_firing_at_launch_then_fire_on_time():
    tz = "America/Guatemala"
    schedule = Schedule(
        tz,
        rrule="FREQ=DAILY;BYHOUR=10;BYMINUTE=0;COUNT=4",
        starts=parse_local_datetime("2027-01-04", tz, "starts"),
    )
    launched = utc(2027, 1, 5, 18, 0)  # after the first two
    first = due_occurrences(schedule, launched_at=launched, after=None, now=launched)
    assert [(d.scheduled_at, d.fires_at) for d in first] == [(utc(2027, 1, 5, 16, 0), launched)]
    on_time = due_occurrences(
        schedule, launched_at=launched, after=first[-1].scheduled_at, now=utc(2027, 1, 6, 16, 0, 5)
    )
    assert [(d.fires_at, d.missed) for d in on_time] == [(utc(2027, 1, 6, 16), ())]


def test_times_missed_while_the_scheduler_was_down_collapse_into_the_latest():
    """A daily step whose scheduler was down for days fires once, not once per missed day."""
    tz = "America/Guatemala"
    starts = parse_local_datetime("2027-01-04", tz, "starts")
    schedule = Schedule(tz, rrule="FREQ=DAILY;BYHOUR=10;BYMINUTE=0;COUNT=10", starts=starts)
    launched = utc(2027, 1, 4, 15, 0)
    back = utc(2027, 1, 8, 16, 30)  # down from just after the 4th's firing until the 8th, 10:30
    due = due_occurrences(schedule, launched_at=launched, after=utc(2027, 1, 4, 16), now=back)
    assert [(d.scheduled_at, d.fires_at) for d in due] == [(utc(2027, 1, 8, 16), utc(2027, 1, 8, 16))]
    assert due[0].missed == (utc(2027, 1, 5, 16), utc(2027, 1, 6, 16), utc(2027, 1, 7, 16))


@pytest.mark.parametrize(
    ("rule", "gap"),
    [
        ("FREQ=MINUTELY;COUNT=30", "1 min"),
        ("FREQ=SECONDLY", "1 s"),
        ("FREQ=HOURLY;INTERVAL=6", "6 h"),
        ("FREQ=DAILY;BYHOUR=6,12,18;BYMINUTE=30", "6 h"),
    ],
)
def test_recurrence_more_often_than_daily_is_refused_naming_the_field(rule, gap):
    from campaign.blasts.rules import DeploymentRules, check_recurrence

    with pytest.raises(Invalid, match=rf"steps\[2\]\.rrule: fires every {gap}; .* at most once every 24 h"):
        check_recurrence(rule, datetime(2027, 1, 4), DeploymentRules(), field="steps[2].rrule")


@pytest.mark.parametrize(
    "rule",
    ["FREQ=DAILY;BYHOUR=10", "FREQ=WEEKLY;BYDAY=MO,TU;COUNT=4", "FREQ=MONTHLY", "FREQ=DAILY;COUNT=1"],
)
def test_daily_or_rarer_recurrences_are_accepted(rule):
    from campaign.blasts.rules import DeploymentRules, check_recurrence

    check_recurrence(rule, datetime(2027, 1, 4), DeploymentRules(), field="rrule")


def test_a_deployment_may_allow_more_frequent_recurrences():
    from datetime import timedelta

    from campaign.blasts.rules import DeploymentRules, check_recurrence

    hourly = DeploymentRules(min_recurrence=timedelta(hours=1))
    check_recurrence("FREQ=HOURLY;COUNT=3", datetime(2027, 1, 4), hourly, field="rrule")
    with pytest.raises(Invalid, match="1 min"):
        check_recurrence("FREQ=MINUTELY;COUNT=30", datetime(2027, 1, 4), hourly, field="rrule")


@pytest.mark.parametrize(
    ("start", "end", "weekend", "field"),
    [
        ("00:00", "23:59", None, "send_window"),
        ("07:00", "12:00", None, "send_window"),
        ("09:00", "20:30", None, "send_window"),
        ("09:00", "17:00", {"sat": ["06:00", "10:00"]}, "send_window.weekend.sat"),
    ],
)
def test_a_window_reaching_into_quiet_hours_is_refused(start, end, weekend, field):
    from campaign.blasts.rules import DeploymentRules, check_window
    from campaign.blasts.windows import parse_hhmm

    with pytest.raises(Invalid, match=rf"^{field}: .*quiet hours \(20:00-08:00\)"):
        check_window(parse_hhmm(start), parse_hhmm(end), weekend, DeploymentRules())


def test_narrower_windows_pass_and_planning_clamps_wider_stored_ones():
    from campaign.blasts.rules import DeploymentRules, check_window, clamp_window

    rules = DeploymentRules()
    check_window(time(9), time(17), {"sat": ["09:00", "14:00"], "sun": None}, rules)
    check_window(time(0), time(23, 59), None, DeploymentRules(allow_night_windows=True))
    assert clamp_window(time(0), time(23, 59), {"sat": ["06:00", "22:00"]}, rules) == (
        time(8), time(20), {"sat": ["08:00", "20:00"]}
    )
    assert clamp_window(time(21), time(23), None, rules)[2]["mon"] is None  # all night: no sends
    assert clamp_window(time(0), time(23, 59), None, DeploymentRules(allow_night_windows=True))[:2] == (
        time(0), time(23, 59)
    )


def test_local_datetime_errors_name_the_field():
    with pytest.raises(Invalid, match=r"steps\[0\]\.at"):
        parse_local_datetime("next monday", "America/Guatemala", "steps[0].at")
