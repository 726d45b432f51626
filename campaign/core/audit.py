"""The audit log: one call records who did what to which thing (logins, reveals, exports, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from campaign.core.db import Base, utcnow


class AuditEvent(Base):
    """Who did what when: logins, number reveals, replies, exports, status changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(80))  # username, "cli", "scheduler", "provider"
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    user_id: int | None = None,
    target_type: str | None = None,
    target_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Adds one audit event (flushed). Never put phone numbers or message bodies in `detail`."""
    event = AuditEvent(
        at=now,
        actor=actor,
        action=action,
        user_id=user_id,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    return event
