"""The audit log: one call records who did what to which thing (logins, reveals, exports, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaign.models import AuditEvent


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
