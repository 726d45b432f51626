"""Staff users of the web app: creation, argon2 password hashes, authentication, roles."""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.core.audit import record_audit
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _
from campaign.hotline.models import Role, User
from campaign.hotline.staff_sessions import end_user_sessions

MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs the same time as a wrong password.
DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (with its own random salt)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches the stored argon2 hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when `password_hash` was made with other argon2 parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def parse_role(value: str) -> Role:
    """The Role named by `value`; raises Invalid("role", ...) listing the valid ones."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        reason = _("unknown role %(value)s (one of %(roles)s)", value=repr(value), roles=roles)
        raise Invalid("role", reason) from None


def validate_password(password: str) -> None:
    """Raises Invalid("password", ...) for a password too short to protect hotline data."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", _("must have at least %(n)d characters", n=MIN_PASSWORD_LENGTH))


def create_user(
    session: Session, *, username: str, password: str, role: str | Role, now: datetime, actor: str = "cli"
) -> User:
    """Adds a staff user (flushed) and audits it. Raises Invalid for a bad or taken username,
    a short password or an unknown role; nothing is stored then."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise Invalid("username", _("use 2-80 characters: lower-case letters, digits, '.', '_' or '-'"))
    role = parse_role(str(role))
    validate_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Invalid("username", _("%(name)s already exists", name=repr(username)))
    user = User(username=username, password_hash=hash_password(password), role=role, created_at=now)
    session.add(user)
    session.flush()
    record_audit(
        session, actor=actor, action="user.create", now=now, target_type="user", target_id=user.id,
        detail={"username": username, "role": role.value},
    )
    return user


def get_user(session: Session, user_id: int) -> User:
    """The user with this id; raises NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("user %(user_id)s not found", user_id=user_id))
    return user


def get_by_username(session: Session, username: str) -> User:
    """The user with this username; raises NotFound."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(_("user %(name)s not found", name=repr(username)))
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate(session: Session, *, username: str, password: str, now: datetime) -> User | None:
    """The active user with these credentials, or None. Records the login (or the failure) in the
    audit log and `last_login_at`; upgrades the hash when argon2's parameters changed."""
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active:
        verify_password(DUMMY_HASH, password)
        record_audit(session, actor=name[:80] or "?", action="login.failed", now=now)
        return None
    if not verify_password(user.password_hash, password):
        record_audit(session, actor=user.username, action="login.failed", now=now, user_id=user.id)
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    record_audit(session, actor=user.username, action="login", now=now, user_id=user.id)
    return user


def set_password(
    session: Session, *, username: str, password: str, now: datetime, actor: str = "cli"
) -> User:
    """Replaces a user's password and ends every session they have open (flushed, audited);
    raises NotFound or Invalid("password")."""
    validate_password(password)
    user = get_by_username(session, username)
    user.password_hash = hash_password(password)
    end_user_sessions(session, user_id=user.id, reason="password", now=now)
    session.flush()
    record_audit(session, actor=actor, action="user.password", now=now, target_type="user", target_id=user.id)
    return user


def set_active(session: Session, *, username: str, active: bool, now: datetime, actor: str = "cli") -> User:
    """Enables or disables a user's login (flushed, audited); disabling ends their sessions at once."""
    user = get_by_username(session, username)
    user.active = active
    if not active:
        end_user_sessions(session, user_id=user.id, reason="disabled", now=now)
    session.flush()
    record_audit(
        session, actor=actor, action="user.enable" if active else "user.disable", now=now,
        target_type="user", target_id=user.id,
    )
    return user


def set_role(session: Session, *, username: str, role: str | Role, now: datetime, actor: str = "cli") -> User:
    """Gives a user another role and ends their sessions, so the new role applies from their next
    login (flushed, audited); raises NotFound or Invalid("role")."""
    new_role = parse_role(str(role))
    user = get_by_username(session, username)
    old_role = Role(user.role)
    user.role = new_role
    if new_role != old_role:
        end_user_sessions(session, user_id=user.id, reason="role", now=now)
    session.flush()
    record_audit(
        session, actor=actor, action="user.role", now=now, target_type="user", target_id=user.id,
        detail={"from": old_role.value, "to": new_role.value},
    )
    return user


def keep_an_admin(session: Session, username: str) -> None:
    """Refuses (Invalid "username") a change that would leave no active administrator: disabling,
    or giving another role to, the last active admin (nobody could manage staff any more)."""
    if active_admins(session) == [username.strip().lower()]:
        raise Invalid(
            "username",
            _("%(name)s is the last active admin: make another user admin first", name=username),
        )


def disable_user(session: Session, *, username: str, now: datetime, actor: str = "cli") -> User:
    """Disables a user (sessions ended, audited), refusing to disable the last active admin."""
    if get_by_username(session, username).active:
        keep_an_admin(session, username)
    return set_active(session, username=username, active=False, now=now, actor=actor)


def change_role(
    session: Session, *, username: str, role: str | Role, now: datetime, actor: str = "cli"
) -> User:
    """Gives a user another role (sessions ended, audited), refusing to demote the last active admin."""
    new_role = parse_role(str(role))
    user = get_by_username(session, username)
    if user.active and Role(user.role) == Role.ADMIN and new_role != Role.ADMIN:
        keep_an_admin(session, username)
    return set_role(session, username=username, role=new_role, now=now, actor=actor)


def active_admins(session: Session) -> list[str]:
    """The usernames of the active administrators."""
    from sqlalchemy import true

    query = select(User.username).where(User.role == Role.ADMIN, User.active == true())
    return list(session.scalars(query))
