"""Closing cases well: resolve with an outcome, reopen, and follow-ups that reopen a case themselves.

Contract:
- `resolve` needs an outcome (CaseOutcome); `referred` needs where to (Referral), `no_answer` how
  many attempts were made. An optional follow-up date (future, within a year) reopens the case at
  that time: `reopen_due_follow_ups`, run by every scheduler tick, idempotent (a conditional
  UPDATE per case, so two schedulers reopen a case once).
- A contact has at most one open case: a follow-up due while the contact already has another open
  case is noted on that case instead of reopening the old one; a manual reopen is refused then.
- Resolving releases the case's lock and needs it (someone else answering the case must be taken
  over first). Every change is audited (`case.resolve`, `case.reopen`, `case.follow_up`).
- `now` is aware UTC; services flush, never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign.core.audit import record_audit
from campaign.core.db import rowcount
from campaign.core.errors import Invalid, InvalidTransition
from campaign.core.i18n import _
from campaign.hotline import locks
from campaign.hotline.inbox import get_case
from campaign.hotline.labels import label
from campaign.hotline.locks import DEFAULT_LOCK_MINUTES
from campaign.hotline.models import CASE_TRANSITIONS, Case, CaseNote, CaseOutcome, CaseStatus, Referral, User

OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)
MAX_FOLLOW_UP = timedelta(days=366)
MAX_ATTEMPTS = 100


def _choice(value: str | None, allowed: type[CaseOutcome] | type[Referral], field: str) -> str:
    try:
        return allowed(value or "").value
    except ValueError:
        choices = ", ".join(label(v.value) for v in allowed)
        raise Invalid(field, _("choose one of: %(choices)s", choices=choices)) from None


def _check_transition(found: Case, target: CaseStatus) -> None:
    if target not in CASE_TRANSITIONS[CaseStatus(found.status)]:
        raise InvalidTransition(_("case %(case)d", case=found.id), label(found.status), label(target))


def resolve(
    session: Session,
    *,
    case_id: int,
    user: User,
    now: datetime,
    outcome: str | None,
    referred_to: str | None = None,
    attempts: int | None = None,
    follow_up_at: datetime | None = None,
    lock_minutes: int = DEFAULT_LOCK_MINUTES,
) -> Case:
    """Resolves the case with its outcome (see the module docstring); the contact may receive
    blasts again. Raises Invalid naming the field (outcome, referred_to, attempts, follow_up_at),
    InvalidTransition when the case is already resolved, CaseHeld when someone else answers it."""
    chosen = _choice(outcome, CaseOutcome, "outcome")
    where = _choice(referred_to, Referral, "referred_to") if chosen == CaseOutcome.REFERRED else None
    tries: int | None = None
    if chosen == CaseOutcome.NO_ANSWER:
        if attempts is None or not 1 <= attempts <= MAX_ATTEMPTS:
            raise Invalid("attempts", _("how many attempts, from 1 to %(n)d", n=MAX_ATTEMPTS))
        tries = attempts
    if follow_up_at is not None:
        if follow_up_at.tzinfo is None:
            raise Invalid("follow_up_at", _("a date and time with its timezone"))
        if not now < follow_up_at <= now + MAX_FOLLOW_UP:
            raise Invalid("follow_up_at", _("a date after now and within a year"))
    found = get_case(session, case_id)
    _check_transition(found, CaseStatus.RESOLVED)
    locks.require(session, case_id=found.id, user=user, now=now, lock_minutes=lock_minutes)
    found.status = CaseStatus.RESOLVED
    found.outcome = CaseOutcome(chosen)
    found.referred_to = Referral(where) if where else None
    found.attempts = tries
    found.follow_up_at = follow_up_at
    found.resolved_at = now
    found.waiting_since = None
    found.updated_at = now
    session.flush()
    locks.release(session, case_id=found.id)
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.resolve", now=now, target_type="case",
        target_id=found.id,
        detail={
            "outcome": chosen, "referred_to": where, "attempts": tries,
            "follow_up_at": follow_up_at.isoformat() if follow_up_at else None,
        },
    )
    return found


def other_open_case(session: Session, *, contact_id: int, case_id: int) -> int | None:
    """The id of another new/open case of the same contact, if any."""
    return session.scalar(
        select(Case.id).where(
            Case.contact_id == contact_id, Case.id != case_id, Case.status.in_(OPEN_STATUSES)
        ).limit(1)
    )


def reopen(session: Session, *, case_id: int, user: User, now: datetime) -> Case:
    """Reopens a resolved case (its outcome and follow-up are cleared; the audit log keeps them).
    Raises InvalidTransition when it is not resolved, Invalid("status") when the contact already
    has another open case (answer that one)."""
    found = get_case(session, case_id)
    other = other_open_case(session, contact_id=found.contact_id, case_id=found.id)
    if other is not None and found.status == CaseStatus.RESOLVED:
        raise Invalid("status", _("the contact has another open case: #%(case)d", case=other))
    before = {"outcome": found.outcome, "referred_to": found.referred_to}
    _check_transition(found, CaseStatus.OPEN)
    found.status = CaseStatus.OPEN
    _clear_outcome(found)
    found.updated_at = now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.reopen", now=now, target_type="case",
        target_id=found.id, detail={"previous": {k: (str(v) if v else None) for k, v in before.items()}},
    )
    return found


def _clear_outcome(found: Case) -> None:
    found.outcome = None
    found.referred_to = None
    found.attempts = None
    found.follow_up_at = None
    found.resolved_at = None


def reopen_due_follow_ups(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Reopens resolved cases whose follow-up date has come (waiting since that date, reason
    `follow_up`); returns how many were reopened or noted on the contact's other open case.
    Idempotent and safe with several schedulers. Flushes."""
    due = session.execute(
        select(Case.id, Case.contact_id, Case.follow_up_at)
        .where(Case.status == CaseStatus.RESOLVED, Case.follow_up_at.is_not(None), Case.follow_up_at <= now)
        .order_by(Case.follow_up_at, Case.id)
        .limit(limit)
    ).all()
    handled = 0
    for case_id, contact_id, due_at in due:
        other = other_open_case(session, contact_id=contact_id, case_id=case_id)
        values: dict[str, object] = {"follow_up_at": None, "updated_at": now}
        if other is None:
            values.update(
                status=CaseStatus.OPEN, waiting_since=due_at, reason="follow_up", outcome=None,
                referred_to=None, attempts=None, resolved_at=None,
            )
        won = rowcount(
            session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status == CaseStatus.RESOLVED, Case.follow_up_at == due_at)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if not won:
            continue  # another scheduler did it
        if other is not None:
            session.add(
                CaseNote(
                    case_id=other, author_id=None, created_at=now,
                    body=_("Follow-up of case #%(case)d is due.", case=case_id),
                )
            )
        record_audit(
            session, actor="scheduler", action="case.follow_up", now=now, target_type="case",
            target_id=case_id, detail={"reopened": other is None, "noted_on": other},
        )
        handled += 1
    session.flush()
    return handled
