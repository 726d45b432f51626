"""Inbound replies, hotline cases and notes, canned replies, and staff users.

Case:  new > open > resolved;  new > resolved;  resolved > open (reopen). A case is "open" (mutes the contact
from blasts) while its status is new or open. Resolving records an outcome (CaseOutcome, with the
referral target when referred); a follow-up date reopens the case itself (campaign/hotline/outcomes.py,
run by the scheduler tick). A staff member holds a case (lock) while answering it
(campaign/hotline/locks.py).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.core.crypto import EncryptedText
from campaign.core.db import Base, utcnow


class Intent(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    URGENT = "urgent"
    REPLY = "reply"


class Inbound(Base):
    """One message received from a contact; stored exactly once per provider SID (invariant 6)."""

    __tablename__ = "inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    to_number: Mapped[str | None] = mapped_column(String(32))
    # sms | whatsapp: the channel it came by (a WhatsApp inbound opens that contact's 24 h window).
    channel: Mapped[str] = mapped_column(String(10), default="sms", server_default="sms")
    body: Mapped[str] = mapped_column(EncryptedText(), default="")  # "" once retention purged it
    intent: Mapped[Intent] = mapped_column(String(10))
    # What the triage found (campaign/hotline/intents.py), so staff see why it was classed so.
    cues: Mapped[list[str] | None] = mapped_column()
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_inbound_contact_received", "contact_id", "received_at"),
        Index("ix_inbound_contact_channel_received", "contact_id", "channel", "received_at"),
    )


class MediaStatus(enum.StrEnum):
    """pending > fetched;  pending > failed;  pending | fetched | failed > purged.

    A failed download that may succeed later stays pending with its error and next attempt
    (campaign/hotline/media.py); refused (type, size, URL) or out of attempts is failed.
    """

    PENDING = "pending"
    FETCHED = "fetched"
    FAILED = "failed"
    PURGED = "purged"


class InboundMedia(Base):
    """One voice note or image attached to an inbound message (Twilio's MediaUrl{N}).

    The row is stored with its inbound message (same transaction); the file is downloaded later by
    the scheduler tick (or when staff open the case) and kept encrypted under `Settings.media_dir`
    as `<id>.media` (campaign/hotline/media_files.py). `url` is the provider's media resource, not
    personal data; the content is.
    """

    __tablename__ = "inbound_media"
    __table_args__ = (
        UniqueConstraint("inbound_id", "position"),
        Index("ix_inbound_media_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()  # N of MediaUrl{N}
    url: Mapped[str] = mapped_column(String(1000))
    declared_type: Mapped[str] = mapped_column(String(100))  # MediaContentType{N} of the webhook
    content_type: Mapped[str | None] = mapped_column(String(100))  # as downloaded
    size: Mapped[int | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MediaStatus] = mapped_column(String(10), default=MediaStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(200))  # why the last download failed (no content)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column()
    purged_at: Mapped[datetime | None] = mapped_column()


class CaseStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    RESOLVED = "resolved"


CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED}),
    CaseStatus.OPEN: frozenset({CaseStatus.RESOLVED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN}),
}


class CasePriority(enum.StrEnum):
    """Inbox order: urgent (someone in danger), then high (asks for help), then normal."""

    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# Higher rank = earlier in the inbox; a case's priority only ever rises while it is open.
PRIORITY_RANK: dict[CasePriority, int] = {
    CasePriority.NORMAL: 0, CasePriority.HIGH: 1, CasePriority.URGENT: 2,
}


class CaseQuestion(enum.StrEnum):
    """A question a case keeps until it is answered.

    opt_out: the contact's message read like a wish to stop messages but was not a clear opt-out
      (or came with a danger cue). The contact is muted from blasts until staff confirm, even after
      the case is resolved.
    opt_in: we asked the contact whether they want our messages again; a bare "sí" answers it.
    """

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


# A case is open while new or open; the partial unique index below keeps one per contact.
OPEN_CASE_WHERE = "status IN ('new', 'open')"


class CaseOutcome(enum.StrEnum):
    """How a case ended (asked when resolving; feeds the hotline dashboard)."""

    REFERRED = "referred"
    INFORMATION = "information"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    NOT_A_CASE = "not_a_case"


class Referral(enum.StrEnum):
    """Where a referred case was sent: Ministerio Público, Policía Nacional Civil, Procuraduría
    General de la Nación, Secretaría de Obras Sociales de la Esposa del Presidente, a shelter, a
    health centre, or another institution."""

    MP = "mp"
    PNC = "pnc"
    PGN = "pgn"
    SOSEP = "sosep"
    SHELTER = "shelter"
    HEALTH_CENTRE = "health_centre"
    OTHER = "other"


class Case(Base):
    """A hotline case for one contact; urgent ones come first in the inbox.

    At most one open (new or open) case per contact, held by the partial unique index
    `uq_cases_open_contact`: messages arriving at once from one number all land on one case.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_priority", "status", "priority", "waiting_since"),
        # eligibility (invariant 2) asks "has this contact an open case?" once per contact planned
        Index("ix_cases_contact_status", "contact_id", "status"),
        Index(
            "uq_cases_open_contact", "contact_id", unique=True,
            postgresql_where=text(OPEN_CASE_WHERE), sqlite_where=text(OPEN_CASE_WHERE),
        ),
        # the tick asks "which resolved cases are due for their follow-up?"
        Index("ix_cases_follow_up_at", "follow_up_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[CaseStatus] = mapped_column(String(10), default=CaseStatus.NEW)
    priority: Mapped[CasePriority] = mapped_column(String(10), default=CasePriority.NORMAL)
    reason: Mapped[str | None] = mapped_column(String(20))  # help | urgent | reply
    language: Mapped[str | None] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The lock (campaign/hotline/locks.py): who is answering (a user id), and their last activity.
    # No foreign key: adding one on SQLite rebuilds `cases`, which would null every thread's case_id
    # (see migration 0007); users are disabled, never deleted, and a lock of a missing user is no lock.
    locked_by_id: Mapped[int | None] = mapped_column()
    locked_at: Mapped[datetime | None] = mapped_column()
    first_answer_at: Mapped[datetime | None] = mapped_column()  # first reply by staff (not automatic)
    outcome: Mapped[CaseOutcome | None] = mapped_column(String(20))
    referred_to: Mapped[Referral | None] = mapped_column(String(20))
    attempts: Mapped[int | None] = mapped_column()  # outcome no_answer: after how many attempts
    follow_up_at: Mapped[datetime | None] = mapped_column()  # a resolved case reopens itself then
    waiting_since: Mapped[datetime | None] = mapped_column()  # oldest unanswered inbound
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    question: Mapped[CaseQuestion | None] = mapped_column(String(10))  # open question, see CaseQuestion
    question_at: Mapped[datetime | None] = mapped_column()
    anonymized_at: Mapped[datetime | None] = mapped_column()  # retention: notes and texts deleted

    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseNote.created_at"
    )


class CaseNote(Base):
    """An internal note by staff on a case (never sent to the contact)."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="notes")


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    PRODUCER = "producer"
    HOTLINE = "hotline"
    TRANSLATOR = "translator"  # edits translations and submits them for review (message pages only)
    REVIEWER = "reviewer"  # a translator who may also approve translations


class User(Base):
    """A staff member who logs into the web app; password stored as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class StaffSession(Base):
    """One login of a staff member (campaign/hotline/staff_sessions.py).

    The browser's signed cookie carries a random token; the server keeps only its SHA-256, so this
    table holds nothing a browser could replay. `ended_at` set = over (logout, disable, password
    change, role change); otherwise it ends after `CAMPAIGN_SESSION_IDLE_MINUTES` without a request
    or `CAMPAIGN_SESSION_MAX_HOURS` after login.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(20))


class LoginThrottle(Base):
    """Recent failed logins of one account (`user:NAME`) or one source address (`addr:IP`):
    each failure past the third doubles the wait before the next try; too many lock the key."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()


class CannedReply(Base):
    """A ready answer staff insert into a reply, per language; managers edit them."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_language", "language", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
