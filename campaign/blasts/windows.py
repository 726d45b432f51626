"""Send-window arithmetic in the contact's timezone (invariant 4): pure, no session, no clock.

A send window is a local start and end time (start < end, so never across midnight: nothing is
sent at night) with optional per-weekday overrides, e.g. {"sat": ["09:00", "14:00"], "sun": None}
where None means no sends that day. All instants in and out are aware UTC datetimes; the
contact's ZoneInfo is used only to find the local day and its window, so DST changes are handled
by the zone database (a window starting 08:00 local is 08:00 local on both sides of a change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign.core.errors import Invalid
from campaign.core.i18n import _

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 9  # a week plus slack for DST days: any valid window set opens within it

Weekend = Mapping[str, Sequence[Any] | None] | None


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; raises Invalid("timezone", ...) for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid("timezone", _("unknown timezone %(name)r", name=name)) from exc


def parse_hhmm(value: Any, field: str = "time") -> time:
    """`"08:00"`, `"8:00"` or a `time` -> time; raises Invalid naming `field` otherwise."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and 0 <= value < 24 * 60:  # YAML reads 08:00 unquoted as minutes
        return time(value // 60, value % 60)
    text = str(value).strip()
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise Invalid(field, _("%(value)r is not a time of day HH:MM", value=value)) from None


def normalize_weekend(weekend: Weekend, field: str = "weekend") -> dict[str, list[str] | None]:
    """Validates per-weekday overrides and returns them as {"sat": ["09:00", "14:00"], "sun": None}."""
    out: dict[str, list[str] | None] = {}
    for key, value in (weekend or {}).items():
        day = str(key).strip().lower()[:3]
        if day not in WEEKDAYS:
            raise Invalid(
                f"{field}.{key}", _("not a weekday (use one of %(days)s)", days=", ".join(WEEKDAYS))
            )
        if value is None or value is False or value == "closed":
            out[day] = None
            continue
        if isinstance(value, Mapping):
            value = [value.get("start"), value.get("end")]
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise Invalid(f"{field}.{key}", _("give [start, end] times, or null for no sends that day"))
        start = parse_hhmm(value[0], f"{field}.{key}.start")
        end = parse_hhmm(value[1], f"{field}.{key}.end")
        if not start < end:
            raise Invalid(f"{field}.{key}", _("start must be before end (no sends at night)"))
        out[day] = [start.strftime("%H:%M"), end.strftime("%H:%M")]
    return out


def window_for_day(day: date, *, start: time, end: time, weekend: Weekend = None) -> tuple[time, time] | None:
    """The (start, end) local window of a calendar day, or None when nothing may be sent that day."""
    if weekend:
        name = WEEKDAYS[day.weekday()]
        if name in weekend:
            override = weekend[name]
            if override is None:
                return None
            return parse_hhmm(override[0]), parse_hhmm(override[1])
    return start, end


def _tz(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else zone(tz)


def _local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A wall time inside a DST gap resolves with the pre-change offset (i.e. later in real time);
    # windows start well after the 02:00 changes, so this only matters for odd windows.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def window_bounds(
    instant_utc: datetime,
    *,
    tz: str | ZoneInfo,
    start: time,
    end: time,
    weekend: Weekend = None,
) -> tuple[datetime, datetime]:
    """The UTC (open, close) of the window containing `instant_utc`, or of the next one after it.

    Raises Invalid("send_window", ...) when no day of the week has a window.
    """
    _require_aware(instant_utc)
    zone_info = _tz(tz)
    local_day = instant_utc.astimezone(zone_info).date()
    for offset in range(-1, _SEARCH_DAYS):
        day = local_day + timedelta(days=offset)
        window = window_for_day(day, start=start, end=end, weekend=weekend)
        if window is None:
            continue
        opens = _local_to_utc(day, window[0], zone_info)
        closes = _local_to_utc(day, window[1], zone_info)
        if instant_utc < closes:
            return opens, closes
    raise Invalid("send_window", _("no day of the week has a send window"))


def next_allowed(
    instant_utc: datetime,
    *,
    tz: str | ZoneInfo,
    start: time,
    end: time,
    weekend: Weekend = None,
) -> datetime:
    """The earliest UTC instant at or after `instant_utc` inside the local send window of `tz`."""
    opens, _closes = window_bounds(instant_utc, tz=tz, start=start, end=end, weekend=weekend)
    return max(instant_utc, opens)


def is_allowed(
    instant_utc: datetime,
    *,
    tz: str | ZoneInfo,
    start: time,
    end: time,
    weekend: Weekend = None,
) -> bool:
    """True when `instant_utc` falls inside the local send window of `tz` (start <= t < end)."""
    opens, closes = window_bounds(instant_utc, tz=tz, start=start, end=end, weekend=weekend)
    return opens <= instant_utc < closes


def contact_timezone(
    contact_tz: str | None, phone: str | None, campaign_tz: str, *, phone_timezone: Any = None
) -> str:
    """Timezone of a contact: its own, else its phone number's (audiences.phones.timezone_for),
    else the campaign's. `phone_timezone` may be given to inject a cached lookup."""
    if contact_tz:
        return contact_tz
    if phone:
        lookup = phone_timezone or _phone_timezone
        found = lookup(phone)
        if found:
            return found
    return campaign_tz


def _phone_timezone(phone: str) -> str | None:
    try:
        from audiences.phones import timezone_for
    except ImportError:  # the audiences package not yet providing it: fall back to the campaign's
        return None
    try:
        return timezone_for(phone) or None
    except Exception:  # noqa: BLE001 - an unparsable stored number falls back to the campaign zone
        return None


class PacedSlots:
    """Successive send times `interval` apart that stay inside the window of one timezone.

    Used by planning to spread a blast (pacing: max messages per hour). Each call of `next()`
    costs one comparison except when a window closes. Pure: the start instant is given.
    """

    def __init__(
        self,
        start_utc: datetime,
        *,
        per_hour: int | None,
        tz: str | ZoneInfo,
        start: time,
        end: time,
        weekend: Weekend = None,
    ) -> None:
        self._window = dict(tz=_tz(tz), start=start, end=end, weekend=weekend)
        self._interval = timedelta(seconds=3600 / per_hour) if per_hour else timedelta(0)
        self._cursor = start_utc
        self._opens, self._closes = window_bounds(start_utc, **self._window)  # type: ignore[arg-type]

    def skip_to(self, instant_utc: datetime) -> None:
        """No slot before `instant_utc` (an hour already full, for instance)."""
        self._cursor = max(self._cursor, instant_utc)

    def next(self) -> datetime:
        """The next paced send time (aware UTC)."""
        if self._cursor >= self._closes:
            self._opens, self._closes = window_bounds(self._cursor, **self._window)  # type: ignore[arg-type]
        slot = max(self._cursor, self._opens)
        self._cursor = slot + self._interval
        return slot


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given where an aware UTC one is required")
