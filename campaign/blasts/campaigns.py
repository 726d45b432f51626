"""Campaigns in the database: save a validated campaign file, look campaigns up.

Files are read and validated by campaign/campaign_files.py (pure); `save_campaign(session, spec,
now=...)` resolves message slugs and segments against the database, then creates the campaign or
updates it in place. Editing a step bumps its `version`: pending occurrences of the old version
are dropped (the scheduler recreates them) and queued messages planned from it are cancelled.
Times in the file are in the campaign's timezone; they are stored in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from campaign.blasts.campaign_files import parse_campaign, read_campaign_document
from campaign.blasts.channels import message_fits
from campaign.blasts.models import (
    Campaign,
    CampaignStatus,
    Occurrence,
    OccurrenceStatus,
    Outbound,
    OutboundStatus,
    Step,
    transition_hint,
)
from campaign.blasts.rules import DeploymentRules
from campaign.core.errors import AppError, Invalid, InvalidTransition, NotFound
from campaign.core.i18n import _

EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
# Step columns whose change makes work planned under the old version stale.
VERSIONED_FIELDS = (
    "channel",
    "channel_fallback",
    "audio",
    "message_id",
    "segment_slug",
    "query",
    "at",
    "rrule",
    "starts",
    "offset",
    "fallback",
    "encoding",
    "deadline_hours",
    "variants",
    "variables",
    "stations",
)



# --- database ---------------------------------------------------------------------------------


def _resolve_step(session: Session, step: dict[str, Any], index: int, *, today: date) -> dict[str, Any]:
    from messages.library import get_message

    p = f"steps[{index}]."
    try:
        message = get_message(session, step["message"])
    except NotFound:
        raise Invalid(p + "message", _("no message %(slug)r in the library", slug=step["message"])) from None
    if not message_fits(message.channels, step["channel"]):
        raise Invalid(
            p + "message",
            _("%(slug)r is not written for %(channel)s", slug=message.slug, channel=step["channel"]),
        )
    if step.get("audio"):
        try:
            spot = get_message(session, step["audio"])
        except NotFound:
            spot = None
        if spot is None or "radio" not in (spot.channels or []):
            raise Invalid(p + "audio", _("no radio spot %(slug)r in the library", slug=step["audio"]))
        if "discreet" in (message.safety_flags or []):
            # A voice note played aloud tells whoever is near what the message is about.
            raise Invalid(
                p + "audio",
                _("%(slug)r is a discreet message: it goes without a voice note (a recording played "
                  "aloud can be heard by anyone near the phone)", slug=message.slug),
            )
    for i, variant in enumerate(step["variants"]):
        try:
            variant["message_id"] = get_message(session, variant["message"]).id
        except NotFound:
            raise Invalid(
                f"{p}variants[{i}].message", _("no message %(slug)r", slug=variant["message"])
            ) from None
    target = step["segment_slug"] or step["query"]
    if target:
        is_slug = bool(step["segment_slug"])
        _check_segment(session, target, p + ("segment" if is_slug else "query"), today=today, slug=is_slug)
    if step["offset"]:
        _check_offset_field(session, step["offset"]["field"], p + "offset.field")
    resolved = {k: v for k, v in step.items() if k != "message"}
    resolved["message_id"] = message.id
    return resolved


def _check_segment(session: Session, target: str, field: str, *, today: date, slug: bool) -> None:
    """A step's segment must exist (a misspelled slug reaches nobody) and its query compile."""
    from audiences.segments import segment_condition

    try:
        segment_condition(session, target, today=today, segment_only=slug)
    except Invalid as exc:
        raise Invalid(field, exc.reason) from None
    except AppError as exc:
        raise Invalid(field, str(exc)) from None


def _check_offset_field(session: Session, name: str, field: str) -> None:
    """An offset schedule counts from a contact date: a known custom field of type date."""
    from audiences.fields import known_fields, type_label
    from audiences.models import FieldType
    from audiences.query import unknown_name_reason

    fields = known_fields(session)
    if name not in fields:
        dates = [k for k, kind in fields.items() if kind == FieldType.DATE]
        raise Invalid(field, unknown_name_reason(_("date field"), name, dates))
    if fields[name] != FieldType.DATE:
        kind = type_label(fields[name])
        raise Invalid(field, _("%(name)s is a field of type %(kind)s, not a date", name=name, kind=kind))


def save_campaign(session: Session, spec: dict[str, Any], *, now: datetime) -> tuple[Campaign, bool]:
    """Creates the campaign of a parsed spec, or updates the one with its slug.

    Returns (campaign, created). Flushes. Raises Invalid (field named) for unknown messages or
    segments, InvalidTransition when the campaign is running, completed or cancelled.
    """
    steps = [_resolve_step(session, s, i, today=now.date()) for i, s in enumerate(spec["steps"])]
    campaign = session.scalars(
        select(Campaign).where(Campaign.slug == spec["slug"]).options(selectinload(Campaign.steps))
    ).one_or_none()
    created = campaign is None
    if campaign is None:
        campaign = Campaign(slug=spec["slug"], status=CampaignStatus.DRAFT, created_at=now)
        session.add(campaign)
    elif campaign.status not in EDITABLE_STATUSES:
        raise InvalidTransition(
            _("campaign %(slug)s", slug=campaign.slug),
            campaign.status,
            "edited",
            hint=transition_hint(campaign.slug, campaign.status, "edited"),
        )
    for field in (
        "name",
        "timezone",
        "window_start",
        "window_end",
        "weekend_window",
        "variables",
        "max_per_hour",
        "discreet_min_days",
        "price_per_segment",
    ):
        setattr(campaign, field, spec[field])
    campaign.spec = _jsonable(spec)
    campaign.updated_at = now
    session.flush()
    existing = {s.key: s for s in campaign.steps}
    for values in steps:
        step = existing.pop(values["key"], None)
        if step is None:
            campaign.steps.append(Step(campaign_id=campaign.id, version=1, **values))
            continue
        changed = [f for f in VERSIONED_FIELDS if getattr(step, f) != values[f]]
        for name, value in values.items():
            setattr(step, name, value)
        if changed:
            _bump_version(session, step, now=now)
    for step in existing.values():
        if session.scalar(select(Outbound.id).where(Outbound.step_id == step.id).limit(1)):
            raise Invalid(
                "steps", _("step %(step)r has planned messages and cannot be removed", step=step.key)
            )
        campaign.steps.remove(step)
    session.flush()
    return campaign, created


def _bump_version(session: Session, step: Step, *, now: datetime) -> None:
    """New version: drop unplanned occurrences, cancel messages still queued from older ones.

    The step's latest firing, when it failed, is armed again under the new version (pending), so
    fixing a step makes the scheduler plan that time once more; earlier failures stay as they
    were, under their older version (history that no longer holds the campaign open).
    """
    step.version += 1
    session.execute(
        delete(Occurrence).where(Occurrence.step_id == step.id, Occurrence.status == OccurrenceStatus.PENDING)
    )
    latest = session.scalars(
        select(Occurrence)
        .where(Occurrence.step_id == step.id)
        .order_by(Occurrence.scheduled_at.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.status == OccurrenceStatus.FAILED:
        latest.status = OccurrenceStatus.PENDING
        latest.step_version = step.version
        latest.failure = None
        latest.failed_at = None
    session.execute(
        update(Outbound)
        .where(Outbound.step_id == step.id, Outbound.status == OutboundStatus.QUEUED)
        .values(status=OutboundStatus.CANCELLED, skip_reason="step_edited", status_at=now)
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | time | date):
        return value.isoformat()
    return value


def get_campaign(session: Session, slug: str) -> Campaign:
    """The campaign with this slug, steps loaded; raises NotFound."""
    campaign = session.scalars(
        select(Campaign).where(Campaign.slug == slug).options(selectinload(Campaign.steps))
    ).one_or_none()
    if campaign is None:
        raise NotFound(_("campaign %(slug)r not found", slug=slug))
    return campaign


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def create_from_file(
    session: Session,
    path: str | Path,
    *,
    now: datetime,
    default_timezone: str = "America/Guatemala",
    rules: DeploymentRules | None = None,
) -> tuple[Campaign, bool]:
    """Loads, validates and saves a campaign file (create or update) under the deployment's
    `rules` (quiet hours, recurrence; default: the shipped ones). Flushes."""
    data = read_campaign_document(path)
    spec = parse_campaign(data, default_timezone=default_timezone, rules=rules)
    return save_campaign(session, spec, now=now)


def failed_firings(session: Session, campaign_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per campaign, the firings that failed under their step's current version (the ones that
    hold the campaign open), oldest first: step, scheduled_at and failed_at (UTC), reason."""
    out: dict[int, list[dict[str, Any]]] = {campaign_id: [] for campaign_id in campaign_ids}
    if not campaign_ids:
        return out
    rows = session.execute(
        select(Step.campaign_id, Step.key, Occurrence.scheduled_at, Occurrence.failed_at, Occurrence.failure)
        .join(Occurrence, Occurrence.step_id == Step.id)
        .where(
            Step.campaign_id.in_(campaign_ids),
            Occurrence.status == OccurrenceStatus.FAILED,
            Occurrence.step_version == Step.version,
        )
        .order_by(Occurrence.scheduled_at, Occurrence.id)
    )
    for row in rows:
        out[row.campaign_id].append(
            {
                "step": row.key,
                "scheduled_at": row.scheduled_at,
                "failed_at": row.failed_at,
                "reason": row.failure,
            }
        )
    return out
