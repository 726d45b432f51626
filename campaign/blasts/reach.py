"""Warnings about whom a campaign reaches and when, shown by `create`, `preview` and `launch`.

A step that reaches nobody, or skips more than SKIP_SHARE of its segment (contacts without an
approved translation in their language, open cases, ...), and a step time outside the send
window (its messages are held until the window opens) are warnings: the campaign may still be
what the manager wants, but they must see it before money is spent. `launch` refuses a step that
reaches nobody unless told `allow_empty` (a misspelled query or a language without content must
not launch silently to no one).

Figures come from the preview (the planning code path). Offset steps reach the contacts of their
segment that have the date field; their next firing reaching nobody is normal. Services read
only; times are aware UTC; local times are in the campaign's timezone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from audiences.custom_sql import custom_value
from audiences.models import Contact, FieldType
from campaign.blasts.channels import is_messaging
from campaign.blasts.eligibility import blast_eligible
from campaign.blasts.models import Campaign, Step
from campaign.blasts.rules import clamp_window, rules_from
from campaign.blasts.schedules import Schedule, next_times, occurrence_times
from campaign.blasts.windows import is_allowed, next_allowed, zone
from campaign.core.config import Settings
from campaign.core.i18n import _

SKIP_SHARE = 0.10
TIMES_CHECKED = 14  # scheduled times looked at for the window warning (two weeks of a daily rule)
EMPTY, SKIPPED, WINDOW = "empty", "skipped", "window"


@dataclass(frozen=True)
class StepWarning:
    """One warning about a step: `code` is empty, skipped or window (stable, for scripts)."""

    step: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _schedule(step: Step) -> Schedule:
    campaign = step.campaign
    return Schedule(campaign.timezone, at=step.at, rrule=step.rrule, starts=step.starts, offset=step.offset)


def offset_reach(session: Session, step: Step, *, now: datetime) -> int:
    """Contacts an offset step can ever reach: in its segment, eligible, with the date field set."""
    from audiences.segments import segment_condition

    offset = step.offset or {}
    target = step.segment_slug or step.query
    parts = [blast_eligible(), custom_value(str(offset.get("field", "")), FieldType.DATE).is_not(None)]
    if target:
        parts.append(segment_condition(session, target, today=now.date()))
    return int(session.scalar(select(func.count()).select_from(Contact).where(and_(*parts))) or 0)


def reach_warnings(
    session: Session, step: Step, preview: Mapping[str, Any], *, now: datetime
) -> list[StepWarning]:
    """Reaches nobody / skips too many, from the step's preview."""
    key = step.key
    if step.channel == "radio":
        if not preview.get("airings"):
            return [StepWarning(key, EMPTY, _(
                "step %(step)s plans no airing: no station broadcasts in a language with an approved "
                "translation of its spot", step=key))]
        return []
    recipients, skipped = int(preview.get("recipients") or 0), dict(preview.get("skipped") or {})
    total_skipped = sum(skipped.values())
    out: list[StepWarning] = []
    if recipients == 0:
        if step.offset and offset_reach(session, step, now=now):
            return out  # its contacts' dates are simply not due yet
        why = _skip_list(skipped) if total_skipped else _("the segment has no contact who may receive it")
        out.append(StepWarning(key, EMPTY, _("step %(step)s reaches nobody (%(why)s)", step=key, why=why)))
        return out
    whole = recipients + total_skipped
    if total_skipped > SKIP_SHARE * whole:
        out.append(StepWarning(key, SKIPPED, _(
            "step %(step)s skips %(skipped)d of %(whole)d contacts of its segment (%(share)d%%): %(why)s",
            step=key, skipped=total_skipped, whole=whole, share=round(100 * total_skipped / whole),
            why=_skip_list(skipped))))
    return out


def _skip_list(skipped: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]))


def window_warning(
    step: Step, campaign: Campaign, *, settings: Settings, now: datetime
) -> StepWarning | None:
    """The first scheduled time of an SMS step outside the campaign's (effective) send window."""
    if not is_messaging(step.channel):
        return None
    start, end, weekend = clamp_window(
        campaign.window_start, campaign.window_end, campaign.weekend_window, rules_from(settings)
    )
    schedule = _schedule(step)
    if schedule.kind == "offset":
        times = next_times(schedule, after=now - timedelta(microseconds=1), count=7)
    else:
        times = occurrence_times(schedule, limit=TIMES_CHECKED)
    tz = zone(campaign.timezone)
    for moment in times:
        if is_allowed(moment, tz=tz, start=start, end=end, weekend=weekend):
            continue
        held = next_allowed(moment, tz=tz, start=start, end=end, weekend=weekend).astimezone(tz)
        local = moment.astimezone(tz)
        held_text = f"{held:%H:%M}" if held.date() == local.date() else f"{held:%Y-%m-%d %H:%M}"
        at, opens, closes = f"{local:%Y-%m-%d %H:%M}", f"{start:%H:%M}", f"{end:%H:%M}"
        return StepWarning(step.key, WINDOW, _(
            "step %(step)s: %(time)s is outside the send window (%(start)s-%(end)s): messages are held "
            "until %(held)s", step=step.key, time=at, start=opens, end=closes, held=held_text))
    return None


def campaign_warnings(
    session: Session,
    campaign: Campaign,
    previews: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    now: datetime,
) -> list[StepWarning]:
    """Every warning for the campaign's steps (`previews` in step order, from the preview)."""
    out: list[StepWarning] = []
    for step, preview in zip(campaign.steps, previews, strict=True):
        out.extend(reach_warnings(session, step, preview, now=now))
        held = window_warning(step, campaign, settings=settings, now=now)
        if held is not None:
            out.append(held)
    return out


def empty_step_reasons(warnings: list[StepWarning]) -> list[str]:
    """The launch refusals: every step that would reach nobody (the CLI adds how to launch anyway:
    `--allow-empty`; the web page offers its own button)."""
    return [
        _("%(warning)s; it is launched only if you choose to launch it anyway", warning=w.message)
        for w in warnings
        if w.code == EMPTY
    ]
