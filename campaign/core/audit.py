"""The audit log: one call records who did what to which thing (logins, reveals, exports, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, String, and_, func, or_, select, true
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


@dataclass(frozen=True)
class AuditFilter:
    """Which audit events to show: exact actor, action (or a family: `case` matches `case.*`),
    an aware UTC time range [since, until), and one case."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    case_id: int | None = None

    def condition(self) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if self.actor:
            conditions.append(AuditEvent.actor == self.actor)
        if self.action:
            family = self.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
            conditions.append(
                or_(AuditEvent.action == self.action, AuditEvent.action.like(family, escape="\\"))
            )
        if self.since is not None:
            conditions.append(AuditEvent.at >= self.since)
        if self.until is not None:
            conditions.append(AuditEvent.at < self.until)
        if self.case_id is not None:
            conditions.append(and_(AuditEvent.target_type == "case", AuditEvent.target_id == self.case_id))
        return and_(true(), *conditions)


def audit_page(
    session: Session, *, where: AuditFilter, page: int = 1, per_page: int = 50
) -> tuple[list[AuditEvent], int]:
    """One page (1-based) of matching events, newest first, and how many match in all. Reads only."""
    condition = where.condition()
    total = int(session.scalar(select(func.count()).select_from(AuditEvent).where(condition)) or 0)
    rows = session.scalars(
        select(AuditEvent)
        .where(condition)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def audit_actions(session: Session) -> list[str]:
    """Every action recorded so far (for the filter's choices)."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
