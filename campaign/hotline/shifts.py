"""Shifts: the handover list (open cases with their last note) and one staff member's shift summary.

Read-only services over cases, notes and the audit log (staff actions are audited there, so a
shift's work is what the log says the person did). `now` and `since` are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.core.audit import AuditEvent
from campaign.hotline.inbox import CaseSummary, list_cases
from campaign.hotline.models import Case, CaseNote, CaseStatus, User

OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)
CASE_ACTIONS = (
    "case.reply", "case.note", "case.resolve", "case.reopen", "case.assign", "case.takeover",
)


@dataclass(frozen=True)
class LastNote:
    """The latest internal note of a case."""

    body: str
    author: str | None
    at: datetime


@dataclass(frozen=True)
class HandoverRow:
    """An open case for the next shift: the inbox row and its last note (None when it has none)."""

    case: CaseSummary
    note: LastNote | None


def last_notes(session: Session, case_ids: list[int]) -> dict[int, LastNote]:
    """case id -> its latest note, for these cases (one query)."""
    if not case_ids:
        return {}
    latest = (
        select(func.max(CaseNote.id)).where(CaseNote.case_id.in_(case_ids)).group_by(CaseNote.case_id)
    )
    rows = session.execute(
        select(CaseNote.case_id, CaseNote.body, User.username, CaseNote.created_at)
        .outerjoin(User, User.id == CaseNote.author_id)
        .where(CaseNote.id.in_(latest))
    )
    return {case_id: LastNote(body, author, at) for case_id, body, author, at in rows}


def handover(session: Session) -> list[HandoverRow]:
    """Every open case in inbox order (urgent first, then the longest waiting), with its last note."""
    cases = list_cases(session, open_only=True)
    notes = last_notes(session, [c.id for c in cases])
    return [HandoverRow(c, notes.get(c.id)) for c in cases]


@dataclass(frozen=True)
class ShiftSummary:
    """What one person did since `since`: cases handled (any action), replies sent, cases
    resolved, and the open cases still theirs (assigned or held)."""

    since: datetime
    handled: int
    replies: int
    resolved: int
    notes: int
    still_open: list[CaseSummary]


def shift_summary(session: Session, *, user_id: int, since: datetime) -> ShiftSummary:
    """The shift summary of `user_id` from `since` (see ShiftSummary)."""
    events = session.execute(
        select(AuditEvent.action, AuditEvent.target_id).where(
            AuditEvent.user_id == user_id,
            AuditEvent.at >= since,
            AuditEvent.action.in_(CASE_ACTIONS),
            AuditEvent.target_type == "case",
        )
    ).all()
    handled = {target for _, target in events if target is not None}
    count = {action: sum(1 for a, _ in events if a == action) for action in CASE_ACTIONS}
    mine = my_case_ids(session, user_id=user_id)
    still_open = [c for c in list_cases(session, open_only=True) if c.id in mine]
    return ShiftSummary(
        since, len(handled), count["case.reply"], count["case.resolve"], count["case.note"], still_open
    )


def my_case_ids(session: Session, *, user_id: int) -> set[int]:
    """Open cases assigned to or held by the user ("my cases")."""
    return set(
        session.scalars(
            select(Case.id).where(
                Case.status.in_(OPEN_STATUSES),
                (Case.assignee_id == user_id) | (Case.locked_by_id == user_id),
            )
        )
    )


def open_urgent_ids(session: Session) -> list[int]:
    """Every new/open urgent case, oldest first: what the live inbox alerts on, whatever its filters."""
    return list(
        session.scalars(
            select(Case.id)
            .where(Case.status.in_(OPEN_STATUSES), Case.priority == "urgent")
            .order_by(Case.opened_at, Case.id)
        )
    )


def open_count(session: Session) -> int:
    """How many cases are new or open."""
    return int(session.scalar(select(func.count(Case.id)).where(Case.status.in_(OPEN_STATUSES))) or 0)
