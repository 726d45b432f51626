"""The campaign state machine: launch (with its checks), pause, resume, cancel, completion.

    draft > scheduled > running > completed
    scheduled|running <-> paused;  draft|scheduled|running|paused > cancelled

One `transition()` enforces CAMPAIGN_TRANSITIONS (campaign.blasts.models) and every status change
is audited. Pausing stops planning here and dispatch (which only sends rows of scheduled/running
campaigns); cancelling also cancels every message still queued. Services flush, never commit;
times are aware UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.blasts.channels import is_messaging
from campaign.blasts.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignStatus,
    Occurrence,
    OccurrenceStatus,
    Outbound,
    OutboundStatus,
    Step,
    transition_hint,
)
from campaign.blasts.schedules import Schedule, occurrence_times
from campaign.core.audit import record_audit
from campaign.core.config import Settings
from campaign.core.db import rowcount
from campaign.core.errors import AppError, InvalidTransition, safe_reason
from campaign.core.i18n import _

log = logging.getLogger(__name__)

PENDING_OUTBOUND = (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNKNOWN)
ACTIVE_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


class LaunchRefused(AppError):
    """The campaign cannot be launched; `reasons` lists every problem found."""

    http_status = 409

    def __init__(self, slug: str, reasons: list[str], *, cli_hint: str | None = None) -> None:
        super().__init__(_("campaign %(slug)r cannot be launched: ", slug=slug) + "; ".join(reasons))
        self.reasons = reasons
        self.cli_hint = cli_hint


def transition(
    session: Session, campaign: Campaign, target: CampaignStatus, *, now: datetime, actor: str
) -> None:
    """Moves the campaign to `target` (raises InvalidTransition) and audits it. Flushes."""
    current = CampaignStatus(campaign.status)
    if target not in CAMPAIGN_TRANSITIONS[current]:
        raise InvalidTransition(
            _("campaign %(slug)s", slug=campaign.slug),
            current.value,
            target.value,
            hint=transition_hint(campaign.slug, current.value, target.value),
        )
    campaign.status = target
    campaign.updated_at = now
    record_audit(
        session,
        actor=actor,
        action=f"campaign.{target.value}",
        now=now,
        target_type="campaign",
        target_id=campaign.id,
        detail={"from": current.value, "to": target.value, "slug": campaign.slug},
    )


def step_schedule(step: Step) -> Schedule:
    """The pure schedule of a step, in its campaign's timezone."""
    return Schedule(
        step.campaign.timezone, at=step.at, rrule=step.rrule, starts=step.starts, offset=step.offset
    )


def message_ids(step: Step) -> list[int]:
    """The messages a step may send: its own and its A/B variants'."""
    return [step.message_id, *[int(v["message_id"]) for v in step.variants or []]]


def launch_problems(
    session: Session,
    campaign: Campaign,
    *,
    settings: Settings,
    now: datetime | None = None,
    allow_empty: bool = True,
    allow_partial: bool = True,
) -> list[str]:
    """Every reason the campaign must not launch (empty list: it may).

    A message in use lacks an approved translation for a language its fallback chain will send
    (an explicit language of the chain, or any language at all), or content lint has errors for
    a language that will be sent; and, given `now` and not `allow_empty`, a step would reach
    nobody (campaign.blasts.reach, from the preview at `now`); and, given `now` and not
    `allow_partial`, a WhatsApp-only step has contacts outside the 24 h window with no approved
    template in their language (they would be skipped: `whatsapp_gaps`).
    """
    from messages.library import approved_translations
    from messages.models import Message

    problems: list[str] = []
    ids = sorted({i for step in campaign.steps for i in message_ids(step)})
    approved = approved_translations(session, ids)
    slugs = {
        row[0]: row[1] for row in session.execute(select(Message.id, Message.slug).where(Message.id.in_(ids)))
    }
    languages_in_use: dict[int, set[str]] = {}
    stale = _stale_languages(session, ids)
    for step in campaign.steps:
        chain = step.fallback or ["contact"]
        for message_id in message_ids(step):
            have = {lang for (mid, lang) in approved if mid == message_id}
            languages_in_use.setdefault(message_id, set()).update(have)
            if not have:
                problems.append(
                    _(
                        "step %(step)r: message %(slug)r has no approved translation",
                        step=step.key,
                        slug=slugs[message_id],
                    )
                )
                continue
            if not is_messaging(step.channel):
                continue
            for code in chain:
                if code != "contact" and code not in have:
                    problems.append(
                        _(
                            "step %(step)r: message %(slug)r has no approved %(language)r translation "
                            "(it is in the fallback chain)",
                            step=step.key,
                            slug=slugs[message_id],
                            language=code,
                        )
                        + (_stale_note() if code in stale.get(message_id, ()) else "")
                    )
    problems.extend(_unknown_contact_fields(session, ids, languages_in_use, slugs))
    problems.extend(_lint_errors(session, campaign, ids, languages_in_use, settings=settings))
    if campaign.status != CampaignStatus.DRAFT:
        problems.append(
            _("campaign is %(status)s, only a draft can be launched", status=str(campaign.status))
        )
    elif now is not None and (not allow_empty or not allow_partial):
        data = _preview(session, campaign, settings=settings, now=now)
        if not allow_empty:
            problems.extend(_empty_steps(session, campaign, settings=settings, now=now, data=data))
        if not allow_partial:
            problems.extend(whatsapp_gaps(data))
    return problems


def check_launch(
    session: Session, campaign: Campaign, *, settings: Settings, now: datetime, allow_empty: bool,
    allow_partial: bool = False,
) -> None:
    """Raises LaunchRefused with every reason of `launch_problems`; when a step would reach nobody,
    or a WhatsApp-only step would skip contacts for want of a template, the refusal carries the
    command line's way past it (`--allow-empty`, `--allow-partial`) as its CLI hint."""
    problems = launch_problems(session, campaign, settings=settings, now=now, allow_empty=True)
    draft = campaign.status == CampaignStatus.DRAFT
    empty: list[str] = []
    gaps: list[str] = []
    if draft and not (allow_empty and allow_partial):
        data = _preview(session, campaign, settings=settings, now=now)
        empty = [] if allow_empty else _empty_steps(session, campaign, settings=settings, now=now, data=data)
        gaps = [] if allow_partial else whatsapp_gaps(data)
    if problems or empty or gaps:
        hints = [_("to launch the steps that reach nobody anyway: --allow-empty")] if empty else []
        if gaps:
            hints.append(_("to send to everyone else and skip those contacts: --allow-partial"))
        raise LaunchRefused(campaign.slug, problems + empty + gaps, cli_hint="; ".join(hints) or None)


def whatsapp_gaps(preview: dict[str, Any]) -> list[str]:
    """The reasons a preview's WhatsApp-only steps would send partially: contacts outside the 24 h
    window whose language has no approved WhatsApp template (naming the step and languages)."""
    reasons = []
    for step in preview["steps"]:
        figures = step.get("whatsapp") or {}
        missing = figures.get("missing_template_languages") or {}
        skipped = int((figures.get("skipped") or {}).get("whatsapp_template_missing", 0))
        if skipped and missing:
            reasons.append(
                _(
                    "step %(step)r: %(num)d contact(s) outside WhatsApp's 24-hour window have no approved "
                    "WhatsApp template in their language (%(languages)s): they would get nothing. Add a "
                    "template (Content SID) for those languages, use channel [whatsapp, sms], or confirm "
                    "a partial send",
                    step=step["step"],
                    num=skipped,
                    languages=", ".join(f"{lang}: {n}" for lang, n in missing.items()),
                )
            )
    return reasons


def _unknown_contact_fields(
    session: Session, ids: Iterable[int], languages: dict[int, set[str]], slugs: dict[int, str]
) -> list[str]:
    """A template reading a contact field that is neither a contact's own (name, language, ...)
    nor a custom field some import brought: a typo that would skip everyone as missing_field."""
    from audiences.fields import known_fields
    from audiences.query import unknown_name_reason
    from campaign.blasts.planning import CONTACT_FIELDS
    from messages.models import Translation, TranslationStatus
    from messages.rendering import contact_fields

    known = [*CONTACT_FIELDS, *known_fields(session)]
    rows = session.execute(
        select(Translation.message_id, Translation.language, Translation.body).where(
            Translation.message_id.in_(list(ids)), Translation.status == TranslationStatus.APPROVED
        )
    )
    problems = []
    for message_id, language, body in rows:
        if language not in languages.get(message_id, set()):
            continue
        for name in sorted(set(contact_fields(body)) - set(known)):
            reason = unknown_name_reason(_("contact field"), name, known)
            problems.append(
                _(
                    "message %(slug)r (%(language)s): %(reason)s; a field is known once an "
                    "import brings a column of that name",
                    slug=slugs[message_id],
                    language=language,
                    reason=reason,
                )
            )
    return problems


def _stale_note() -> str:
    return ": " + _("it needs review, the Spanish source changed")


def _stale_languages(session: Session, ids: Iterable[int]) -> dict[int, list[str]]:
    """Message id -> languages whose translation was made from an older Spanish source."""
    from sqlalchemy.orm import selectinload

    from messages.library import stale_languages
    from messages.models import Message

    messages = session.scalars(
        select(Message).where(Message.id.in_(list(ids))).options(selectinload(Message.translations))
    )
    return {m.id: langs for m in messages if (langs := stale_languages(m))}


def launch_warnings(session: Session, campaign: Campaign) -> list[str]:
    """What a launch goes ahead with but a manager must know: a translation of a message in use
    needs review because its Spanish source changed, so that language's contacts are skipped
    (`no_translation`) or get the fallback until a reviewer approves it again."""
    from messages.models import Message

    ids = sorted({i for step in campaign.steps for i in message_ids(step)})
    stale = _stale_languages(session, ids)
    rows = session.execute(select(Message.id, Message.slug).where(Message.id.in_(ids)))
    slugs = {mid: slug for mid, slug in rows}
    return [
        _(
            "message %(slug)r: the %(language)s translation needs review (the Spanish source changed); "
            "it is not sent until a reviewer approves it again",
            slug=slugs[mid],
            language=lang,
        )
        for mid in ids
        for lang in stale.get(mid, [])
    ]


def _preview(session: Session, campaign: Campaign, *, settings: Settings, now: datetime) -> dict[str, Any]:
    from campaign.blasts.preview import preview_campaign

    return preview_campaign(session, campaign.slug, now=now, settings=settings)


def _empty_steps(
    session: Session, campaign: Campaign, *, settings: Settings, now: datetime,
    data: dict[str, Any] | None = None,
) -> list[str]:
    from campaign.blasts.reach import StepWarning, empty_step_reasons

    data = data if data is not None else _preview(session, campaign, settings=settings, now=now)
    return empty_step_reasons([StepWarning(**w) for w in data["warnings"]])


def _lint_errors(
    session: Session,
    campaign: Campaign,
    ids: Iterable[int],
    languages: dict[int, set[str]],
    *,
    settings: Settings,
) -> list[str]:
    from sqlalchemy.orm import selectinload

    from campaign.core.languages import build_registry
    from messages.keywords import load_catalogue
    from messages.lint import lint_specs
    from messages.models import Message
    from messages.packload import message_to_spec

    messages = list(
        session.scalars(
            select(Message).where(Message.id.in_(list(ids))).options(selectinload(Message.translations))
        )
    )
    by_slug = {m.slug: m.id for m in messages}
    findings = lint_specs(
        [message_to_spec(m) for m in messages],
        catalogue=load_catalogue(),
        defaults={**settings.hotline_defaults, **{k: str(v) for k, v in campaign.variables.items()}},
        sensitive_words=settings.sensitive_words,
        registry=build_registry(settings.extra_languages),
    )
    return [
        _(
            "lint error in %(slug)s/%(language)s: %(message)s",
            slug=f.slug,
            language=f.language,
            message=f.message,
        )
        for f in findings
        if f.level == "error"
        and f.slug in by_slug
        and (not f.language or f.language in languages.get(by_slug[f.slug], set()))
    ]


def launch(
    session: Session,
    slug: str,
    *,
    now: datetime,
    settings: Settings,
    actor: str = "cli",
    allow_empty: bool = False,
    allow_partial: bool = False,
) -> Campaign:
    """Draft -> scheduled, after every check passes (raises LaunchRefused listing the reasons).

    A step that would reach nobody is refused unless `allow_empty`; a WhatsApp-only step that
    would skip contacts for want of a template in their language, unless `allow_partial`.
    Scheduled times already past fire once, at `now` (the scheduler creates those occurrences on
    its next tick). Radio steps have their airings planned now. Flushes.
    """
    campaign = get_campaign(session, slug)
    check_launch(session, campaign, settings=settings, now=now, allow_empty=allow_empty,
                 allow_partial=allow_partial)
    campaign.launched_at = now
    transition(session, campaign, CampaignStatus.SCHEDULED, now=now, actor=actor)
    plan_radio_steps(session, campaign, now=now)
    session.flush()
    return campaign


def plan_radio_steps(session: Session, campaign: Campaign, *, now: datetime) -> int:
    """Plans the airings of the campaign's radio steps; returns the new rows. Flushes."""
    from campaign.radio.airings import plan_airings

    return sum(plan_airings(session, step, now=now) for step in campaign.steps if step.channel == "radio")


def pause(session: Session, slug: str, *, now: datetime, actor: str = "cli") -> Campaign:
    """Scheduled/running -> paused: nothing more is planned or sent until resumed. Flushes."""
    campaign = get_campaign(session, slug)
    transition(session, campaign, CampaignStatus.PAUSED, now=now, actor=actor)
    session.flush()
    return campaign


def resume(session: Session, slug: str, *, now: datetime, actor: str = "cli") -> Campaign:
    """Paused -> running (or scheduled when nothing has fired yet). Flushes.

    Firings that fell due during the pause are planned on the next tick, inside send windows.
    """
    campaign = get_campaign(session, slug)
    fired = session.scalar(select(exists().where(Occurrence.step_id.in_([s.id for s in campaign.steps]))))
    target = CampaignStatus.RUNNING if fired else CampaignStatus.SCHEDULED
    transition(session, campaign, target, now=now, actor=actor)
    session.flush()
    return campaign


def cancel(session: Session, slug: str, *, now: datetime, actor: str = "cli") -> tuple[Campaign, int]:
    """Cancels the campaign and every message still queued; returns (campaign, rows cancelled)."""
    campaign = get_campaign(session, slug)
    transition(session, campaign, CampaignStatus.CANCELLED, now=now, actor=actor)
    cancelled = rowcount(
        session.execute(
            update(Outbound)
            .where(Outbound.campaign_id == campaign.id, Outbound.status == OutboundStatus.QUEUED)
            .values(status=OutboundStatus.CANCELLED, skip_reason="campaign_cancelled", status_at=now)
        )
    )
    session.execute(
        update(Occurrence)
        .where(
            Occurrence.step_id.in_([s.id for s in campaign.steps]),
            Occurrence.status == OccurrenceStatus.PENDING,
        )
        .values(status=OccurrenceStatus.CANCELLED)
    )
    session.flush()
    return campaign, int(cancelled or 0)


def is_finished(session: Session, campaign: Campaign, *, now: datetime) -> bool:
    """Every scheduled time has passed and been planned, and no message is still pending."""
    for step in campaign.steps:
        schedule = step_schedule(step)
        if schedule.kind == "offset":
            return False
        times = occurrence_times(schedule)
        if not times or times[-1] > now:
            return False
        if not is_messaging(step.channel):
            continue
        latest = session.scalar(
            select(func.max(Occurrence.scheduled_at)).where(Occurrence.step_id == step.id)
        )
        if latest is None:
            return False
    step_ids = [s.id for s in campaign.steps]
    unplanned = session.scalar(
        select(
            exists().where(
                Occurrence.step_id.in_(step_ids),
                Occurrence.status.in_((OccurrenceStatus.PENDING, OccurrenceStatus.PLANNING)),
            )
        )
    )
    # A firing that failed under the step's current version keeps the campaign open (and in
    # view) until a manager edits the step; failures of older versions are history.
    failed = session.scalar(
        select(
            exists().where(
                Occurrence.step_id == Step.id,
                Step.campaign_id == campaign.id,
                Occurrence.status == OccurrenceStatus.FAILED,
                Occurrence.step_version == Step.version,
            )
        )
    )
    pending = session.scalar(
        select(exists().where(Outbound.campaign_id == campaign.id, Outbound.status.in_(PENDING_OUTBOUND)))
    )
    return not unplanned and not failed and not pending


def complete_finished(session: Session, *, now: datetime, actor: str = "scheduler") -> list[str]:
    """Running campaigns that are finished -> completed; returns their slugs. Flushes.

    Each campaign is checked inside a savepoint: one whose steps cannot be read is logged and
    left running, and the others are still completed.
    """
    done: list[str] = []
    for campaign in session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING)).all():
        try:
            with session.begin_nested():
                if is_finished(session, campaign, now=now):
                    transition(session, campaign, CampaignStatus.COMPLETED, now=now, actor=actor)
                    done.append(campaign.slug)
        except Exception as exc:  # noqa: BLE001 - one campaign must not stop the others
            log.warning("campaign %s: completion not checked: %s", campaign.slug, safe_reason(exc))
    session.flush()
    return done
