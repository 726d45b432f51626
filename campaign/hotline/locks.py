"""Case locks: one staff member answers a case at a time.

Contract:
- Opening a case to answer it takes its lock (`acquire`). The lock is the holder's id and the time
  of their last activity on the case (`Case.locked_at`); activity (`acquire` again) keeps it. It
  ends when released (resolve, reassign, the holder leaves) or after `lock_minutes` without
  activity, when anyone may take it.
- A live lock of someone else is never taken silently: `take_over` is explicit and audited
  (`case.takeover`, naming the previous holder), and the previous holder's page learns it on its
  next refresh (`takeovers_from`).
- Every change is one conditional UPDATE, so two staff opening the same case at once cannot both
  win (SQLite and PostgreSQL alike).
- `now` is aware UTC; services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from campaign.core.audit import AuditEvent, record_audit
from campaign.core.db import rowcount
from campaign.core.errors import AppError, NotFound
from campaign.core.i18n import _
from campaign.hotline.models import Case, User

DEFAULT_LOCK_MINUTES = 10
TAKEOVER = "case.takeover"


class CaseHeld(AppError):
    """Someone else is answering this case; taking it over is an explicit, audited step."""

    http_status = 409

    def __init__(self, case_id: int, holder: str) -> None:
        super().__init__(
            _("Case #%(case)d is being answered by %(holder)s: take it over to answer it.",
              case=case_id, holder=holder)
        )
        self.case_id = case_id
        self.holder = holder


@dataclass(frozen=True)
class LockState:
    """Who holds a case now (None: nobody, or the last holder went idle past the limit)."""

    case_id: int
    holder_id: int | None
    holder: str | None
    active_at: datetime | None
    expires_at: datetime | None
    mine: bool

    @property
    def held_by_other(self) -> bool:
        return self.holder_id is not None and not self.mine


def lock_state(
    session: Session, *, case_id: int, user_id: int | None, now: datetime,
    lock_minutes: int = DEFAULT_LOCK_MINUTES,
) -> LockState:
    """The case's lock as `user_id` sees it. Raises NotFound for an unknown case."""
    row = session.execute(
        select(Case.locked_by_id, Case.locked_at, User.username)
        .outerjoin(User, User.id == Case.locked_by_id)
        .where(Case.id == case_id)
    ).first()
    if row is None:
        raise NotFound(_("case %(case)d not found", case=case_id))
    holder_id, active_at, username = row
    expires_at = active_at + timedelta(minutes=lock_minutes) if active_at is not None else None
    if holder_id is None or expires_at is None or expires_at <= now:
        return LockState(case_id, None, None, None, None, False)
    return LockState(case_id, holder_id, username, active_at, expires_at, holder_id == user_id)


def acquire(
    session: Session, *, case_id: int, user: User, now: datetime, lock_minutes: int = DEFAULT_LOCK_MINUTES
) -> LockState:
    """Takes (or keeps) the lock when it is free, idle past `lock_minutes`, or already the user's;
    returns the state afterwards (held by someone else when it was not free). Flushes."""
    session.flush()
    cutoff = now - timedelta(minutes=lock_minutes)
    session.execute(
        update(Case)
        .where(
            Case.id == case_id,
            or_(
                Case.locked_by_id.is_(None),
                Case.locked_by_id == user.id,
                Case.locked_at.is_(None),
                Case.locked_at <= cutoff,
            ),
        )
        .values(locked_by_id=user.id, locked_at=now)
        .execution_options(synchronize_session=False)
    )
    _expire(session, case_id)
    return lock_state(session, case_id=case_id, user_id=user.id, now=now, lock_minutes=lock_minutes)


def require(
    session: Session, *, case_id: int, user: User, now: datetime, lock_minutes: int = DEFAULT_LOCK_MINUTES
) -> LockState:
    """The user's lock on the case (taken when free); raises CaseHeld when someone else holds it."""
    state = acquire(session, case_id=case_id, user=user, now=now, lock_minutes=lock_minutes)
    if not state.mine:
        raise CaseHeld(case_id, state.holder or "?")
    return state


def release(session: Session, *, case_id: int, user_id: int | None = None) -> None:
    """Ends the lock: the user's own (`user_id`), or whoever holds it (None). Flushes."""
    session.flush()
    statement = update(Case).where(Case.id == case_id)
    if user_id is not None:
        statement = statement.where(Case.locked_by_id == user_id)
    session.execute(
        statement.values(locked_by_id=None, locked_at=None).execution_options(synchronize_session=False)
    )
    _expire(session, case_id)


def take_over(
    session: Session, *, case_id: int, user: User, now: datetime, lock_minutes: int = DEFAULT_LOCK_MINUTES
) -> LockState:
    """Takes the case from its holder (audited as `case.takeover` with the previous holder, who is
    told on their next refresh). A free case is simply taken. Flushes."""
    before = lock_state(session, case_id=case_id, user_id=user.id, now=now, lock_minutes=lock_minutes)
    if not before.held_by_other:
        return acquire(session, case_id=case_id, user=user, now=now, lock_minutes=lock_minutes)
    taken = rowcount(
        session.execute(
            update(Case)
            .where(Case.id == case_id, Case.locked_by_id == before.holder_id)  # compare and set
            .values(locked_by_id=user.id, locked_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    _expire(session, case_id)
    if not taken:  # the holder released or someone else took it meanwhile: one more plain try
        return acquire(session, case_id=case_id, user=user, now=now, lock_minutes=lock_minutes)
    record_audit(
        session, actor=user.username, user_id=user.id, action=TAKEOVER, now=now, target_type="case",
        target_id=case_id, detail={"from_user_id": before.holder_id, "from": before.holder},
    )
    return lock_state(session, case_id=case_id, user_id=user.id, now=now, lock_minutes=lock_minutes)


@dataclass(frozen=True)
class Takeover:
    """A case taken from a staff member: by whom, when."""

    case_id: int
    by: str
    at: datetime


def takeovers_from(session: Session, *, user_id: int, since: datetime) -> list[Takeover]:
    """The cases taken from `user_id` after `since`, oldest first (rare events: filtered here
    rather than by a JSON query, which SQLite and PostgreSQL spell differently)."""
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == TAKEOVER, AuditEvent.at > since)
        .order_by(AuditEvent.at, AuditEvent.id)
        .limit(200)
    )
    return [
        Takeover(int(e.target_id or 0), e.actor, e.at)
        for e in events
        if (e.detail or {}).get("from_user_id") == user_id
    ]


def _expire(session: Session, case_id: int) -> None:
    """Forgets the loaded Case's lock columns after a Core UPDATE, so the ORM reads them again."""
    found = session.identity_map.get(identity_key(Case, case_id))
    if found is not None:
        session.expire(found, ["locked_by_id", "locked_at"])


def holders(
    session: Session, case_ids: list[int], *, now: datetime, lock_minutes: int = DEFAULT_LOCK_MINUTES
) -> dict[int, str]:
    """case id -> username of whoever is answering it now (live locks only), for these cases."""
    if not case_ids:
        return {}
    cutoff = now - timedelta(minutes=lock_minutes)
    rows = session.execute(
        select(Case.id, User.username)
        .join(User, User.id == Case.locked_by_id)
        .where(Case.id.in_(case_ids), Case.locked_at > cutoff)
    )
    return {case_id: username for case_id, username in rows}
