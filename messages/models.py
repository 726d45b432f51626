"""Message library models: messages, their translations and revisions, radio read calibrations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.core.db import Base, utcnow


class Message(Base):
    """A piece of content with one body per language.

    `channels` is a list of "sms" and/or "radio". `variables` lists the template variables every
    translation must use; `audiences` the segment slugs it is written for; `safety_flags` e.g.
    "discreet" (the phone may be read by someone else), "first_contact" (must carry an opt-out
    instruction), "help" (must carry a hotline variable). `segment_budget` is the maximum SMS
    segments per send (default 1: Guatemalan carriers may not join multipart SMS); `slot_seconds`
    the radio slot length (15/20/30/45/60) for spots. `whatsapp_category` is the Meta category of
    its approved WhatsApp templates (marketing | utility | authentication): it sets their price.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    pack: Mapped[str | None] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    channels: Mapped[list[str]] = mapped_column(default=list)
    title: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(default=list)
    audiences: Mapped[list[str]] = mapped_column(default=list)
    safety_flags: Mapped[list[str]] = mapped_column(default=list)
    segment_budget: Mapped[int] = mapped_column(default=1)
    slot_seconds: Mapped[int | None] = mapped_column()
    whatsapp_category: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    translations: Mapped[list[Translation]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="Translation.language"
    )


class TranslationStatus(enum.StrEnum):
    """draft -> needs_review -> approved; editing an approved body sends it back to needs_review."""

    DRAFT = "draft"
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"


class Translation(Base):
    """The body of a message in one language, versioned.

    For SMS, `body` is a Jinja2 template. For radio spots, `script` is the ordered list of parts
    ({"speaker": "LOCUTOR", "text": ...} or {"cue": "MÚSICA", "text": ..., "seconds": n}) and
    `body` holds its spoken text joined, for search and lint. `version` increases each time the
    body changes; `source_hash` records the Spanish source a translation was made from, so a
    translator's round trip can refuse stale rows.

    `content_sid` is the Twilio Content template (HX + 32 hex digits) approved by WhatsApp for this
    language, used outside the 24-hour window; `content_variables` maps Twilio's numbered
    placeholders to our template variables ({"1": "organizacion", "2": "contact.first_name"}).
    """

    __tablename__ = "translations"
    __table_args__ = (UniqueConstraint("message_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    script: Mapped[list[dict[str, Any]] | None] = mapped_column()
    pronunciation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TranslationStatus] = mapped_column(String(16), default=TranslationStatus.DRAFT)
    version: Mapped[int] = mapped_column(default=1)
    source_hash: Mapped[str | None] = mapped_column(String(64))
    reviewer: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    content_sid: Mapped[str | None] = mapped_column(String(34))
    content_variables: Mapped[dict[str, Any] | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    message: Mapped[Message] = relationship(back_populates="translations")
    revisions: Mapped[list[TranslationRevision]] = relationship(
        back_populates="translation", cascade="all, delete-orphan",
        order_by="TranslationRevision.version",
    )


class TranslationRevision(Base):
    """Every version a translation body has had, so an outbound's template version can be read back."""

    __tablename__ = "translation_revisions"
    __table_args__ = (UniqueConstraint("translation_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    translation_id: Mapped[int] = mapped_column(
        ForeignKey("translations.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    script: Mapped[list[dict[str, Any]] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(120))

    translation: Mapped[Translation] = relationship(back_populates="revisions")


class RadioCalibration(Base):
    """A producer's measured read of a spot: updates the language's speaking rate."""

    __tablename__ = "radio_calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    message_slug: Mapped[str] = mapped_column(String(80))
    seconds: Mapped[float] = mapped_column()
    syllables: Mapped[int] = mapped_column()
    syllables_per_second: Mapped[float] = mapped_column()
    recorded_by: Mapped[str | None] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
