"""Radio stations, the airings planned from radio steps (planned vs aired), spot recordings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.core.db import Base, utcnow


class Station(Base):
    """A radio station that airs spots, with the languages it broadcasts in."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    frequency: Mapped[str | None] = mapped_column(String(40))
    department: Mapped[str | None] = mapped_column(String(5))
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    languages: Mapped[list[str]] = mapped_column(default=list)
    contact_person: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AiringStatus(enum.StrEnum):
    PLANNED = "planned"
    AIRED = "aired"
    MISSED = "missed"


class Airing(Base):
    """One planned broadcast of a spot version on a station at a time (UTC)."""

    __tablename__ = "airings"
    __table_args__ = (UniqueConstraint("step_id", "station_id", "language", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    language: Mapped[str] = mapped_column(String(16))
    template_version: Mapped[int | None] = mapped_column()
    scheduled_at: Mapped[datetime] = mapped_column()
    duration_seconds: Mapped[float | None] = mapped_column()
    status: Mapped[AiringStatus] = mapped_column(String(10), default=AiringStatus.PLANNED)
    aired_at: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)


class Recording(Base):
    """The current recording of a radio spot in one language (one per spot and language).

    The files live under CAMPAIGN_MEDIA_DIR, named by their checksum (`recordings/<sha256>.<ext>`
    and, when the upload is not already one, `recordings/<sha256>.voice.ogg`); the paths here are
    relative to that folder. A new upload for the same spot and language replaces this row."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("message_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_format: Mapped[str] = mapped_column(String(8))
    codec: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column()
    seconds: Mapped[float] = mapped_column()
    lufs: Mapped[float | None] = mapped_column()
    peak_dbfs: Mapped[float] = mapped_column()
    rms_dbfs: Mapped[float] = mapped_column()
    original_path: Mapped[str] = mapped_column(String(200))
    voice_path: Mapped[str] = mapped_column(String(200))
    calibration_id: Mapped[int | None] = mapped_column(
        ForeignKey("radio_calibrations.id", ondelete="SET NULL")
    )
    uploaded_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
