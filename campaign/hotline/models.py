"""Inbound replies, hotline cases and notes, and staff users.

Case:  new > open > resolved;  new > resolved;  resolved > open (reopen). A case is "open" (mutes the contact
from blasts) while its status is new or open.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    body: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[Intent] = mapped_column(String(10))
    # What the triage found (campaign/hotline/intents.py), so staff see why it was classed so.
    cues: Mapped[list[str] | None] = mapped_column()
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_inbound_contact_received", "contact_id", "received_at"),)


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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[CaseStatus] = mapped_column(String(10), default=CaseStatus.NEW)
    priority: Mapped[CasePriority] = mapped_column(String(10), default=CasePriority.NORMAL)
    reason: Mapped[str | None] = mapped_column(String(20))  # help | urgent | reply
    language: Mapped[str | None] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    waiting_since: Mapped[datetime | None] = mapped_column()  # oldest unanswered inbound
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    question: Mapped[CaseQuestion | None] = mapped_column(String(10))  # open question, see CaseQuestion
    question_at: Mapped[datetime | None] = mapped_column()

    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseNote.created_at"
    )


class CaseNote(Base):
    """An internal note by staff on a case (never sent to the contact)."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="notes")


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    PRODUCER = "producer"
    HOTLINE = "hotline"


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
