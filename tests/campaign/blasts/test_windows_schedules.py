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
    later = due_occurrences(
        schedule, launched_at=launched, after=first[-1].scheduled_at, now=utc(2027, 1, 7, 17)
    )
    assert [d.fires_at for d in later] == [utc(2027, 1, 6, 16), utc(2027, 1, 7, 16)]


def test_local_datetime_errors_name_the_field():
    with pytest.raises(Invalid, match=r"steps\[0\]\.at"):
        parse_local_datetime("next monday", "America/Guatemala", "steps[0].at")
