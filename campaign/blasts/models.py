"""Campaigns, their steps, each firing of a step (occurrence) and each message to a contact (outbound).

State machines (enforced by `transition()` helpers in campaign/lifecycle.py and
campaign/delivery.py, never by ad-hoc assignments):

Campaign:  draft > scheduled > running > completed
                      |  ^         |  ^
                      v  |         v  |
                    paused <-------+  |   (pause/resume from scheduled or running)
           draft|scheduled|running|paused > cancelled

Outbound:  queued > sending > sent > delivered
                       |        |  > undelivered
                       |        |  > failed
                       |        > (read) ...
           queued > skipped | cancelled | expired
           sending > queued (transient error, retry later) | failed | unknown (crash: reconcile)
           unknown > sent | failed | queued (reconciled) | skipped | cancelled (not at the
                     provider, and the contact is muted since: never re-sent)
Delivery status only moves forward: a late `sent` never overwrites `delivered`.
"""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from audiences.models import SEGMENT_USERS
from campaign.core.crypto import EncryptedText
from campaign.core.db import Base, utcnow


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED}),
    CampaignStatus.SCHEDULED: frozenset(
        {CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.RUNNING: frozenset(
        {CampaignStatus.PAUSED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.PAUSED: frozenset(
        {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.COMPLETED: frozenset(),
    CampaignStatus.CANCELLED: frozenset(),
}


def transition_hint(slug: str, current: str, target: str) -> str:
    """What to tell a person who asked a campaign for a move it cannot make: its state, and what
    to do instead (`target` is a status, or "edited" for saving its file again)."""
    from campaign.core.i18n import _

    ended = current in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
    if ended:
        return _(
            "campaign %(slug)s is %(status)s and cannot change any more: create a new campaign "
            "(another slug) instead",
            slug=slug,
            status=current,
        )
    if target == "edited":
        return _(
            "campaign %(slug)s is running: pause the campaign first (`campaign pause %(slug)s`), "
            "then save it again, then resume it",
            slug=slug,
        )
    if target == CampaignStatus.PAUSED:
        if current == CampaignStatus.PAUSED:
            return _("campaign %(slug)s is already paused", slug=slug)
        return _("campaign %(slug)s is a draft: there is nothing to pause until it is launched", slug=slug)
    if target in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED) and current != CampaignStatus.PAUSED:
        return _(
            "campaign %(slug)s is %(status)s, not paused: only a paused campaign can be resumed "
            "(a draft is launched with `campaign launch %(slug)s`)",
            slug=slug,
            status=current,
        )
    return _("campaign %(slug)s cannot move from %(status)s to %(target)s", slug=slug, status=current,
             target=target)


class Campaign(Base):
    """A campaign: steps sharing a timezone, send window, variables and pacing.

    `window_start`/`window_end` are local times in the contact's timezone; `weekend_window`
    optionally overrides them per weekday name ({"sat": ["09:00", "14:00"], "sun": null} where
    null means no sends that day). `spec` keeps the validated campaign file as loaded.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[CampaignStatus] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    timezone: Mapped[str] = mapped_column(String(64), default="America/Guatemala")
    window_start: Mapped[time] = mapped_column(Time(), default=time(8, 0))
    window_end: Mapped[time] = mapped_column(Time(), default=time(20, 0))
    weekend_window: Mapped[dict[str, Any]] = mapped_column(default=dict)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_per_hour: Mapped[int | None] = mapped_column()
    # Days between two discreet messages to one contact; None = the deployment's default.
    discreet_min_days: Mapped[int | None] = mapped_column()
    price_per_segment: Mapped[float | None] = mapped_column()
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column()

    steps: Mapped[list[Step]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="Step.position"
    )


class Step(Base):
    """One scheduled action of a campaign: an SMS blast or a radio spot, for a segment.

    Schedule (exactly one kind): `at` (one-off, UTC), `rrule` + `starts` (RFC 5545 recurrence,
    written in the campaign timezone), or `offset` ({"field": "enrolled_on", "days": 3,
    "time": "09:00"}: relative to a contact date field). `fallback` is the language chain
    (["contact"] = no fallback; ["contact", "es"]). `version` is bumped on every edit so work
    planned under an older version is discarded (RapidPro's fire_version).
    """

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key"),
        # The target of occurrences' (step, campaign) foreign key: they agree with their step.
        UniqueConstraint("id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    channel: Mapped[str] = mapped_column(String(8))  # sms | whatsapp | radio
    # "sms" for a step `channel: [whatsapp, sms]`: SMS where WhatsApp cannot go (no WhatsApp
    # opt-in, prefers SMS, no template outside the 24 h window, not a WhatsApp user).
    channel_fallback: Mapped[str | None] = mapped_column(String(8))
    # A WhatsApp step's voice note: the radio spot (message slug) whose recording is sent.
    audio: Mapped[str | None] = mapped_column(String(80))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    segment_slug: Mapped[str | None] = mapped_column(String(80))
    query: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime | None] = mapped_column()
    rrule: Mapped[str | None] = mapped_column(Text)
    starts: Mapped[datetime | None] = mapped_column()
    offset: Mapped[dict[str, Any] | None] = mapped_column()
    fallback: Mapped[list[str]] = mapped_column(default=lambda: ["contact"])
    # exact | smart | fold; None = the language's default policy
    encoding: Mapped[str | None] = mapped_column(String(8))
    deadline_hours: Mapped[int | None] = mapped_column()
    variants: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stations: Mapped[list[str]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)

    campaign: Mapped[Campaign] = relationship(back_populates="steps")
    occurrences: Mapped[list[Occurrence]] = relationship(
        back_populates="step", cascade="all, delete-orphan"
    )


class OccurrenceStatus(enum.StrEnum):
    PENDING = "pending"
    PLANNING = "planning"
    PLANNED = "planned"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Occurrence(Base):
    """One firing of a step at one time (UTC). Unique per (step, scheduled_at).

    pending > planning > planned | skipped (older step version);  pending > failed
    A firing that cannot be planned (a query the database refuses, a value out of range) is
    `failed` with `failure` saying why, in words safe to show and log (no contact data); it keeps
    its campaign from completing until a manager edits the step, which drops it so that the
    scheduler plans that time again under the new version.
    """

    __tablename__ = "occurrences"
    __table_args__ = (
        UniqueConstraint("step_id", "scheduled_at"),
        Index("ix_occurrences_status_scheduled", "status", "scheduled_at"),
        ForeignKeyConstraint(
            ["step_id", "campaign_id"], ["steps.id", "steps.campaign_id"], ondelete="CASCADE"
        ),
        # The target of outbound's (occurrence, step, campaign) foreign key (see Outbound).
        UniqueConstraint("id", "step_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column()
    campaign_id: Mapped[int] = mapped_column()  # the step's campaign (the foreign key says so)
    scheduled_at: Mapped[datetime] = mapped_column()
    fires_at: Mapped[datetime] = mapped_column()  # = scheduled_at, or launch time if it was past
    status: Mapped[OccurrenceStatus] = mapped_column(
        String(16), default=OccurrenceStatus.PENDING
    )
    step_version: Mapped[int] = mapped_column(default=1)
    planned_at: Mapped[datetime | None] = mapped_column()
    recipients: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None] = mapped_column()

    step: Mapped[Step] = relationship(back_populates="occurrences")


class OutboundStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


OUTBOUND_TRANSITIONS: dict[OutboundStatus, frozenset[OutboundStatus]] = {
    OutboundStatus.QUEUED: frozenset(
        {
            OutboundStatus.SENDING,
            OutboundStatus.SKIPPED,
            OutboundStatus.CANCELLED,
            OutboundStatus.EXPIRED,
        }
    ),
    OutboundStatus.SENDING: frozenset(
        {
            OutboundStatus.SENT,
            OutboundStatus.DELIVERED,
            OutboundStatus.UNDELIVERED,
            OutboundStatus.FAILED,
            OutboundStatus.QUEUED,
            OutboundStatus.UNKNOWN,
            OutboundStatus.SKIPPED,
            OutboundStatus.CANCELLED,
        }
    ),
    OutboundStatus.SENT: frozenset(
        {OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, OutboundStatus.FAILED}
    ),
    OutboundStatus.UNKNOWN: frozenset(
        {
            OutboundStatus.SENT,
            OutboundStatus.DELIVERED,
            OutboundStatus.UNDELIVERED,
            OutboundStatus.FAILED,
            OutboundStatus.QUEUED,
            OutboundStatus.SKIPPED,  # not at the provider, and the contact is muted since the claim
            # an opt-out: never re-sent; if the provider did send it, its late callback is ignored
            OutboundStatus.CANCELLED,
        }
    ),
    OutboundStatus.DELIVERED: frozenset(),
    OutboundStatus.UNDELIVERED: frozenset(),
    OutboundStatus.FAILED: frozenset(),
    OutboundStatus.SKIPPED: frozenset(),
    OutboundStatus.CANCELLED: frozenset(),
    OutboundStatus.EXPIRED: frozenset(),
}


class Outbound(Base):
    """One message to one contact: planned by a step occurrence, or a hotline reply (no occurrence).

    Unique per (occurrence, contact) in the database (invariant 1). `send_after` is the earliest
    UTC time it may go (inside the contact's send window, paced); `expires_at` the step deadline.
    `priority` 10 = hotline reply (goes first), 0 = blast. `skip_reason` says why a planned row
    was skipped (no_translation, missing_field, opted_out, open_case, render_error, over_budget, ...).

    `channel` is sms or whatsapp. A WhatsApp row keeps its free text in `body` and, when the
    message library has an approved template for its language, `content_sid` and
    `content_variables` (Twilio's JSON, encrypted: it may hold personal data); dispatch sends the
    free text inside the contact's 24 h window and the template outside it. `media_recording_id`
    is the recording sent as a voice note. `fallback_channel` ("sms") says the row may be replaced
    by an SMS when WhatsApp cannot deliver it; that SMS is a new row with `fallback_of` = this row
    (unique: at most one fallback per row) and no occurrence, so (occurrence, contact) stays unique
    for planned rows and each contact gets at most one message per occurrence per channel attempt.

    A planned row's occurrence, step and campaign are one foreign key to the occurrence, which in
    turn agrees with its step: one check per row where three separate keys cost three (planning a
    million rows on PostgreSQL: 7 s of the server's 27 s). Rows without an occurrence are not
    checked by it: a fallback SMS copies the three from its WhatsApp row (checked) in the same
    statement (campaign/blasts/fallback.py), a hotline reply has none; steps with messages are never
    removed (campaign/blasts/campaigns.py) and campaigns never deleted.
    """

    __tablename__ = "outbound"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "contact_id"),
        Index("ix_outbound_due", "status", "priority", "send_after"),
        Index("ix_outbound_contact_created", "contact_id", "created_at"),
        ForeignKeyConstraint(
            ["occurrence_id", "step_id", "campaign_id"],
            ["occurrences.id", "occurrences.step_id", "occurrences.campaign_id"],
            ondelete="CASCADE",
        ),
        # A key with a NULL part is not checked: a planned row names its step and campaign too.
        CheckConstraint(
            "occurrence_id IS NULL OR (step_id IS NOT NULL AND campaign_id IS NOT NULL)",
            name="occurrence_keys",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int | None] = mapped_column()
    campaign_id: Mapped[int | None] = mapped_column()
    step_id: Mapped[int | None] = mapped_column()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    language: Mapped[str | None] = mapped_column(String(16))
    variant: Mapped[str | None] = mapped_column(String(16))
    template_version: Mapped[int | None] = mapped_column()
    body: Mapped[str] = mapped_column(EncryptedText(), default="")  # "" once retention purged it
    encoding: Mapped[str | None] = mapped_column(String(8))  # GSM-7 | UCS-2
    segments: Mapped[int] = mapped_column(default=0)
    priority: Mapped[int] = mapped_column(default=0)
    status: Mapped[OutboundStatus] = mapped_column(String(12), default=OutboundStatus.QUEUED)
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None] = mapped_column()
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    status_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(10), default="sms", server_default="sms")
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[str | None] = mapped_column(EncryptedText())
    media_recording_id: Mapped[int | None] = mapped_column()
    fallback_channel: Mapped[str | None] = mapped_column(String(10))
    fallback_of: Mapped[int | None] = mapped_column(
        ForeignKey("outbound.id", ondelete="SET NULL"), unique=True
    )


def steps_using_segment(session: Any, slug: str) -> list[str]:
    """The steps of campaigns not yet ended that name segment `slug` ("campaign x, step y")."""
    from sqlalchemy import select

    ended = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
    rows = session.execute(
        select(Campaign.slug, Step.key)
        .join(Step, Step.campaign_id == Campaign.id)
        .where(Step.segment_slug == slug, Campaign.status.not_in(ended))
        .order_by(Campaign.slug, Step.key)
    )
    return [f"campaign {campaign}, step {step}" for campaign, step in rows]


SEGMENT_USERS.append(steps_using_segment)


class SenderRate(Base):
    """The deployment's send schedule for one sender (campaign.blasts.slots, PostgreSQL store):
    `next_at` is the first send slot nobody has leased, in seconds since the epoch on the database
    server's clock. Rewritten by every lease; losing it only restarts the schedule at "now"."""

    __tablename__ = "sender_rates"

    sender: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)
