"""Deployment rules every campaign obeys: quiet hours, how often a step may recur, hourly and contact caps.

Pure: plain values built once from Settings (`rules_from(settings)`); campaign files, planning and
the tick take a `DeploymentRules` and never read the environment. What wins:
- Night is the deployment's: a campaign's send window (and each weekday override) must lie inside
  the day the quiet hours leave (default 08:00-20:00 local); narrower is fine, wider is refused
  unless `allow_night_windows`. Planning also clamps to it, for campaigns stored before the rule.
- An SMS step recurs at most once every `min_recurrence` (default daily): a rule whose firings
  come closer is refused at `create`, naming the step's field.
- The hourly cap and the per-contact caps are applied by planning (campaign/blasts/pacing.py).
Times of day are local to the contact; durations are plain timedeltas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import islice
from typing import Any

from campaign.core.errors import Invalid
from campaign.core.i18n import _

RECURRENCE_SAMPLE = 50  # firings looked at to find the shortest gap of a rule


@dataclass(frozen=True)
class DeploymentRules:
    """The deployment's limits (defaults = the shipped settings)."""

    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    allow_night_windows: bool = False
    default_window: tuple[time, time] = (time(8, 0), time(20, 0))
    min_recurrence: timedelta = timedelta(hours=24)
    blast_max_per_hour: int = 2000
    contact_max_per_week: int = 2
    discreet_min_days: int = 14

    @property
    def day_window(self) -> tuple[time, time]:
        """The local (start, end) the quiet hours leave for sending."""
        return self.quiet_end, self.quiet_start

    def quiet_text(self) -> str:
        return f"{self.quiet_start:%H:%M}-{self.quiet_end:%H:%M}"


def rules_from(settings: Any) -> DeploymentRules:
    """The rules of a Settings object; raises Invalid naming the setting when they contradict."""
    if not settings.quiet_hours_end < settings.quiet_hours_start:
        raise Invalid(
            "CAMPAIGN_QUIET_HOURS_START",
            _("quiet hours must cover the night, across midnight (for example 20:00 to 08:00)"),
        )
    rules = DeploymentRules(
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
        allow_night_windows=settings.allow_night_windows,
        default_window=(settings.send_window_start, settings.send_window_end),
        min_recurrence=timedelta(hours=settings.min_recurrence_hours),
        blast_max_per_hour=settings.blast_max_per_hour,
        contact_max_per_week=settings.contact_max_per_week,
        discreet_min_days=settings.discreet_min_days,
    )
    start, end = rules.default_window
    try:
        check_window(start, end, None, rules, field="CAMPAIGN_SEND_WINDOW_START")
    except Invalid as exc:
        raise Invalid("CAMPAIGN_SEND_WINDOW_START", exc.reason) from None
    return rules


# --- quiet hours ------------------------------------------------------------------------------


def _outside(start: time, end: time, rules: DeploymentRules) -> bool:
    day_start, day_end = rules.day_window
    return start < day_start or end > day_end


def _window_reason(start: time, end: time, rules: DeploymentRules) -> str:
    day_start, day_end = (t.strftime("%H:%M") for t in rules.day_window)
    return _(
        "%(start)s-%(end)s reaches into the deployment's quiet hours (%(quiet)s): a campaign's "
        "window may be narrower, not wider (use a window inside %(day_start)s-%(day_end)s)",
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M"),
        quiet=rules.quiet_text(),
        day_start=day_start,
        day_end=day_end,
    )


def check_window(
    start: time,
    end: time,
    weekend: Mapping[str, Any] | None,
    rules: DeploymentRules,
    *,
    field: str = "send_window",
) -> None:
    """Raises Invalid(field, ...) when the window or a weekday override reaches into quiet hours."""
    if rules.allow_night_windows:
        return
    if _outside(start, end, rules):
        raise Invalid(field, _window_reason(start, end, rules))
    for day, value in (weekend or {}).items():
        if not value:
            continue
        day_start, day_end = (_as_time(v) for v in value)
        if _outside(day_start, day_end, rules):
            raise Invalid(f"{field}.weekend.{day}", _window_reason(day_start, day_end, rules))


def clamp_window(
    start: time, end: time, weekend: Mapping[str, Any] | None, rules: DeploymentRules
) -> tuple[time, time, dict[str, Any]]:
    """The window actually used: the campaign's, cut to the day the quiet hours leave.

    A window (or weekday override) entirely inside the quiet hours becomes a day without sends.
    """
    weekend = dict(weekend or {})
    if rules.allow_night_windows:
        return start, end, weekend
    day_start, day_end = rules.day_window
    cut_start, cut_end = max(start, day_start), min(end, day_end)
    out: dict[str, Any] = {}
    if not cut_start < cut_end:  # the whole default window is night: only overrides may send
        out = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
        cut_start, cut_end = day_start, day_end
    for day, value in weekend.items():
        if not value:
            out[day] = None
            continue
        s, e = (max(_as_time(value[0]), day_start), min(_as_time(value[1]), day_end))
        out[day] = [f"{s:%H:%M}", f"{e:%H:%M}"] if s < e else None
    return cut_start, cut_end, out


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


# --- recurrence -------------------------------------------------------------------------------


def shortest_gap(rule: str, starts_local: datetime) -> timedelta | None:
    """The shortest time between two successive firings among the first few (local wall time)."""
    from dateutil.rrule import rrulestr

    times = list(islice(rrulestr(rule, dtstart=starts_local), RECURRENCE_SAMPLE))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return min(gaps) if gaps else None


def describe_gap(gap: timedelta) -> str:
    """`0:01:00` -> "1 min", `8:00:00` -> "8 h", `2 days` -> "48 h"."""
    seconds = int(gap.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    hours = seconds / 3600
    return f"{hours:g} h"


def check_recurrence(rule: str, starts_local: datetime, rules: DeploymentRules, *, field: str) -> None:
    """Raises Invalid(field, ...) when the rule fires more often than the deployment allows."""
    gap = shortest_gap(rule, starts_local)
    if gap is None or gap >= rules.min_recurrence:
        return
    raise Invalid(
        field,
        _(
            "fires every %(gap)s; an SMS step may fire at most once every %(limit)s in this "
            "deployment (setting CAMPAIGN_MIN_RECURRENCE_HOURS)",
            gap=describe_gap(gap),
            limit=describe_gap(rules.min_recurrence),
        ),
    )
