"""Staff web sessions that the server can end, and login throttling per account and per address.

Contract:
- A login starts a `StaffSession`; the browser's signed cookie carries only a random token, the
  table only the token's SHA-256. Every request resumes it (`resume`): a session is over once it is
  ended (logout, disable, password change, role change: `end_user_sessions`), idle for longer than
  `idle`, or older than `max_age`. Over means the login page, whatever the cookie says.
- Failed logins are counted per key: `user:NAME` (known or not, so a wrong name looks like a wrong
  password) and `addr:IP`. From the fourth failure on, the next try must wait 1, 2, 4 ... seconds
  (at most `MAX_DELAY`); a try during that wait counts as a failure of the account. At the limit
  the key is locked for `lock`; tries during a lock are refused without counting (the lock never
  grows). An address counts only tries that reached the password check, waits from its ninth
  such failure on and locks at three times the account limit: an office shares one address.
  A success forgets the account's failures, never the address's.
- The audit log gets one `login.failed` for the first failure of a series and one `login.locked`
  when a key locks, so a storm of guesses leaves a few lines, not thousands.
- Password hashing is not here: callers verify the argon2 hash between `read_login` (read only) and
  `record_failure` / `record_success` (short writes), so no database write lock is held while hashing.

Services take `session` and an aware UTC `now`; they flush, never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from campaign.core.audit import record_audit
from campaign.core.db import insert_for
from campaign.hotline.models import LoginThrottle, StaffSession, User

FREE_FAILURES = 3  # failures before any wait
MAX_DELAY = timedelta(seconds=60)
ADDRESS_FACTOR = 3  # an address may fail this many times more than one account (a shared office)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per session


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, *, user: User, now: datetime) -> str:
    """Starts a session for `user` (flushed); returns the token the browser's cookie carries."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now))
    session.flush()
    return token


@dataclass(frozen=True)
class Resumed:
    """A live session and its user (detached), and whether `last_seen_at` is due to be written."""

    session_id: int
    user: User
    touch: bool


@dataclass(frozen=True)
class Over:
    """A session that has ended; `reason` is why (`ended`, `idle`, `expired`, `disabled`, `unknown`)."""

    session_id: int | None
    reason: str


def resume(
    session: Session, *, token: str, now: datetime, idle: timedelta, max_age: timedelta
) -> Resumed | Over:
    """The live session of `token`, or why there is none. Reads only."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    if row is None:
        return Over(None, "unknown")
    if row.ended_at is not None:
        return Over(row.id, "ended")
    if now - row.created_at >= max_age:
        return Over(row.id, "expired")
    if now - row.last_seen_at >= idle:
        return Over(row.id, "idle")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return Over(row.id, "disabled")
    return Resumed(row.id, user, touch=now - row.last_seen_at >= TOUCH_EVERY)


def touch(session: Session, *, session_id: int, now: datetime) -> None:
    """Records activity on a live session (so the idle timeout counts from now)."""
    session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
        .values(last_seen_at=now)
    )


def end_session(session: Session, *, session_id: int, reason: str, now: datetime) -> None:
    """Ends one session (no-op when already ended)."""
    session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:20])
    )


def end_user_sessions(session: Session, *, user_id: int, reason: str, now: datetime) -> int:
    """Ends every live session of one user at once; returns how many ended. Called when a user
    is disabled, their password or role changes."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:20])
    )
    return int(getattr(result, "rowcount", 0) or 0)


def live_sessions(
    session: Session, *, user_id: int, now: datetime, idle: timedelta, max_age: timedelta
) -> int:
    """How many sessions of one user are live now."""
    rows = session.scalars(
        select(StaffSession).where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
    )
    return sum(1 for r in rows if now - r.created_at < max_age and now - r.last_seen_at < idle)


# --- login throttling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Failures an account may make before it locks, and for how long it stays locked."""

    max_failures: int = 10
    lock: timedelta = timedelta(minutes=15)

    def for_key(self, key: str) -> int:
        return self.max_failures * (ADDRESS_FACTOR if key.startswith("addr:") else 1)


def free_failures(key: str) -> int:
    """Failures of `key` before any wait."""
    return FREE_FAILURES * (ADDRESS_FACTOR if key.startswith("addr:") else 1)


def throttle_keys(username: str, address: str | None) -> list[str]:
    """The keys a login attempt counts against: its account name and its source address."""
    keys = [f"user:{username.strip().lower()[:100]}"]
    if address:
        keys.append(f"addr:{address[:100]}")
    return keys


def delay_after(failures: int, free: int = FREE_FAILURES) -> timedelta:
    """How long to wait after `failures` consecutive failures before the next try."""
    if failures < free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - free)), MAX_DELAY)


@dataclass(frozen=True)
class Wait:
    """A refused try: how long until the next one may succeed, and whether a lock (not a delay)
    refused it."""

    seconds: int
    locked: bool
    key: str = ""

    @property
    def counts(self) -> bool:
        """A try refused by the account's own delay counts as one of its failures."""
        return not self.locked and self.key.startswith("user:")


@dataclass(frozen=True)
class LoginCheck:
    """What a login attempt needs before hashing: the account (if any) and any wait."""

    username: str
    keys: tuple[str, ...]
    user_id: int | None
    password_hash: str | None
    wait: Wait | None


def read_login(
    session: Session, *, username: str, address: str | None, now: datetime, limits: Limits
) -> LoginCheck:
    """Reads the account and the throttle state of one attempt (no writes)."""
    name = username.strip().lower()
    keys = tuple(throttle_keys(name, address))
    user = session.scalar(select(User).where(User.username == name[:80]))
    wait: Wait | None = None
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        delay = delay_after(row.failures, free_failures(row.key))
        if row.locked_until is not None and row.locked_until > now:
            candidate = Wait(_ceil_seconds(row.locked_until - now), locked=True, key=row.key)
        elif delay and row.last_failure_at + delay > now and not _stale(row, now, limits):
            candidate = Wait(_ceil_seconds(row.last_failure_at + delay - now), locked=False, key=row.key)
        else:
            continue
        if wait is None or (candidate.locked, candidate.seconds) > (wait.locked, wait.seconds):
            wait = candidate
    active = user is not None and user.active
    return LoginCheck(
        username=name,
        keys=keys,
        user_id=user.id if active and user is not None else None,
        password_hash=user.password_hash if active and user is not None else None,
        wait=wait,
    )


def _ceil_seconds(delta: timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 1)))


def _stale(row: LoginThrottle, now: datetime, limits: Limits) -> bool:
    # A series of failures is forgotten once it has been quiet for a lock period.
    return row.last_failure_at <= now - limits.lock


def record_failure(
    session: Session,
    *,
    check: LoginCheck,
    address: str | None,
    now: datetime,
    limits: Limits,
    verified: bool = True,
) -> bool:
    """Counts a failed try against each key of `check` (a try refused as too early, `verified`
    False, counts against the account only), locks the keys that reach their limit, and audits
    the first failure of a series and each lock. True when a key locked now. A try refused by a
    lock is not counted: call it only when `check.wait` is not a lock."""
    stale_before = now - limits.lock
    table = LoginThrottle.__table__
    locked_now = False
    for key in check.keys if verified else check.keys[:1]:
        statement = insert_for(session, table).values(
            key=key, failures=1, last_failure_at=now, locked_until=None
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((table.c.last_failure_at <= stale_before, 1), else_=table.c.failures + 1),
                "last_failure_at": now,
            },
        )
        session.execute(statement)
        row = session.get(LoginThrottle, key, populate_existing=True)
        assert row is not None
        if row.failures == 1 and key.startswith("user:"):
            record_audit(
                session,
                actor=check.username[:80] or "?",
                action="login.failed",
                now=now,
                user_id=check.user_id,
                detail={"address": address or ""},
            )
        if row.failures >= limits.for_key(key) and (row.locked_until is None or row.locked_until <= now):
            row.locked_until = now + limits.lock
            locked_now = True
            record_audit(
                session,
                actor=check.username[:80] or "?",
                action="login.locked",
                now=now,
                user_id=check.user_id if key.startswith("user:") else None,
                detail={"key": key.split(":", 1)[0], "address": address or "", "failures": row.failures},
            )
    # Forget series that ended long ago (a spray of made-up names leaves no lasting rows).
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - timedelta(days=1)))
    session.flush()
    return locked_now


def record_success(session: Session, *, check: LoginCheck, address: str | None, now: datetime) -> User:
    """A correct password: forgets the account's failures (not the address's), records the login
    (audit, `last_login_at`) and returns the user (flushed)."""
    assert check.user_id is not None
    user = session.get(User, check.user_id)
    assert user is not None
    previous = session.get(LoginThrottle, check.keys[0])
    failures = previous.failures if previous is not None else 0
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == check.keys[0]))
    user.last_login_at = now
    detail: dict[str, object] = {"address": address or ""}
    if failures:
        detail["failed_before"] = failures
    record_audit(session, actor=user.username, action="login", now=now, user_id=user.id, detail=detail)
    session.flush()
    return user
