"""Audience models: contacts, consent events, import batches and their rejections, segments,
and the registry of custom fields with their types."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from campaign.core.crypto import Encrypted, EncryptedText, blind_index
from campaign.core.db import Base, utcnow


class ContactStatus(enum.StrEnum):
    """active: may receive blasts; opted_out: said STOP (only an explicit opt-in undoes it);
    blocked: an administrator stopped all messages (e.g. the phone is known to be unsafe)."""

    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"


class Contact(Base):
    """One person reachable by SMS. The phone number (E.164) is the identity.

    Age is computed from `birth_year` at query time, never stored. `department` is an ISO
    3166-2:GT code (GT-01..GT-22 as in the shipped geography table), `municipality_code` the INE
    code. `country` is the ISO region of the phone number (GT, MX, HN, SV, BZ, US, ...).
    `timezone` is an IANA name; when unknown the phone number's country decides.

    `phone` and `name` are encrypted (campaign/core/crypto.py): find a contact by its number with
    `Contact.phone_is(e164)`, which compares the blind index `phone_index` (unique). Setting
    `phone` sets `phone_index`; set-based inserts compute both themselves. `phone` itself has no
    index (migration 0013): a ciphertext with a random nonce never collides, and is never looked up.
    """

    __tablename__ = "contacts"
    __table_args__ = (Index("uq_contacts_phone_index", "phone_index", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(Encrypted())
    # Nullable only in the schema (migration 0008 adds it to tables holding rows); always set.
    phone_index: Mapped[str] = mapped_column(String(32), nullable=True)
    name: Mapped[str | None] = mapped_column(Encrypted())
    language: Mapped[str | None] = mapped_column(String(16), index=True)
    country: Mapped[str | None] = mapped_column(String(2))
    department: Mapped[str | None] = mapped_column(String(5), index=True)
    municipality_code: Mapped[str | None] = mapped_column(String(4), index=True)
    birth_year: Mapped[int | None] = mapped_column()
    sex: Mapped[str | None] = mapped_column(String(1))
    household: Mapped[str | None] = mapped_column(String(40), index=True)
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ContactStatus] = mapped_column(
        String(16), default=ContactStatus.ACTIVE, index=True
    )
    consent_source: Mapped[str | None] = mapped_column(String(80))
    consent_at: Mapped[datetime | None] = mapped_column()
    # WhatsApp needs its own opt-in (a ConsentEvent with channel "whatsapp"); None = never send
    # WhatsApp. An opt-out on any channel clears it (campaign/blasts/channels.py says why).
    whatsapp_consent_at: Mapped[datetime | None] = mapped_column()
    # sms | whatsapp | None (no preference): a step `channel: [whatsapp, sms]` honours it.
    preferred_channel: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    consent_events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="contact", order_by="ConsentEvent.at"
    )

    @validates("phone")
    def _index_phone(self, _key: str, value: str) -> str:
        self.phone_index = blind_index(value)
        return value

    @classmethod
    def phone_is(cls, e164: str) -> ColumnElement[bool]:
        """The condition that finds the contact with this (normalized) number."""
        return cls.phone_index == blind_index(e164)


class ConsentKind(enum.StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class ConsentEvent(Base):
    """Every opt-in and opt-out, with how it happened (keyword, channel, source, who recorded it);
    never deleted. An import that brings consent writes one opt_in event per contact."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[ConsentKind] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(20))  # sms, whatsapp, import, cli, web, provider
    keyword: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str | None] = mapped_column(String(200))
    # Who recorded it when a person did (the user who imported a file); None for the contact's own SMS.
    recorded_by: Mapped[str | None] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="consent_events")

    __table_args__ = (Index("ix_consent_events_contact_at", "contact_id", "at"),)


class ImportBatch(Base):
    """One run of `audiences import` over one file, with its counts."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    rows: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)

    rejections: Mapped[list[ImportRejection]] = relationship(
        back_populates="batch", cascade="all, delete-orphan"
    )


class ImportRejection(Base):
    """One rejected (or warned) row of an import: row number as in the file, column, value, why."""

    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column()
    column: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(EncryptedText())  # the raw value: personal data
    reason: Mapped[str] = mapped_column(String(200))

    batch: Mapped[ImportBatch] = relationship(back_populates="rejections")


class Erasure(Base):
    """A person erased with `campaign privacy erase`: only the blind index of their number stays,
    so that a later import or message from it starts opted out (the opt-out stays honoured)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_index: Mapped[str] = mapped_column(String(32), unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
# Functions naming what uses a saved segment (`(session, slug) -> ["campaign x, step y", ...]`).
# Audiences know nothing of campaigns: the campaign area adds its own (campaign/blasts/models.py),
# and `segments.remove_segment` refuses while any of them names something.
SEGMENT_USERS: list[Callable[[Session, str], list[str]]] = []


class Segment(Base):
    """A named audience: a query in the segment language (see audiences/query.py)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FieldType(enum.StrEnum):
    """The type of a custom contact field (see audiences/fields.py)."""

    NUMBER = "number"
    DATE = "date"
    TEXT = "text"


class CustomField(Base):
    """A custom contact field, known once a column of that name has been imported.

    Its type is inferred at that first import (or given with `--type`) and then fixed, so every
    stored value fits it and queries bind values with it.
    """

    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[FieldType] = mapped_column(String(10))
    source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
