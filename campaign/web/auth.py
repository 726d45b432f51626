"""Web authentication: server-side sessions, the current user, role checks and CSRF tokens.

The cookie is signed with `Settings.secret_key` (Starlette's SessionMiddleware, itsdangerous). It
holds a CSRF token and, once logged in, the token of a `StaffSession` row
(campaign/hotline/staff_sessions.py). Every request resumes that row: logout, disabling the
user, a password or role change, `CAMPAIGN_SESSION_IDLE_MINUTES` without a request or
`CAMPAIGN_SESSION_MAX_HOURS` after login end it, and a replayed cookie then gets the login page.
The user is re-read on every request. Other areas (the radio pages) use `require_role` and
`verify_csrf` from here.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from campaign.core.config import Settings
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import AppError, Forbidden
from campaign.core.i18n import _
from campaign.hotline import staff_sessions
from campaign.hotline.labels import label
from campaign.hotline.models import Role, User

CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(AppError):
    """No valid session: HTML pages redirect to /login."""

    http_status = 401

    def __init__(self, next_path: str = "/") -> None:
        super().__init__("login required")
        self.next_path = next_path


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuses (403) a state-changing request without the session's CSRF token in its form
    (or in the X-CSRF-Token header). Safe methods pass."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise Forbidden(_("csrf: the form's security token is missing or expired; reload the page"))


SESSION_KEY = "sid"


def login_session(request: Request, token: str) -> None:
    """Starts a fresh cookie for the session `token` (new CSRF token; nothing kept from before login)."""
    request.session.clear()
    request.session[SESSION_KEY] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def logout_session(request: Request) -> None:
    """Ends the server-side session (a copy of the cookie is worth nothing after this) and
    forgets the cookie."""
    token = request.session.get(SESSION_KEY)
    request.session.clear()
    if isinstance(token, str):
        state = request.app.state.web
        with unit_of_work(state.engine) as session:
            found = staff_sessions.resume(
                session, token=token, now=utcnow(), idle=timedelta.max, max_age=timedelta.max
            )
        if isinstance(found, staff_sessions.Resumed):
            with state.write() as session:
                staff_sessions.end_session(
                    session, session_id=found.session_id, reason="logout", now=utcnow()
                )


def session_limits(settings: Settings) -> tuple[timedelta, timedelta]:
    """(idle timeout, absolute lifetime) of web sessions."""
    return timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_max_hours)


def current_user(request: Request) -> User:
    """The logged-in, active user of a live session; raises LoginRequired otherwise."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        raise LoginRequired(request.url.path)
    state = request.app.state.web
    idle, max_age = session_limits(state.settings)
    now = utcnow()
    with unit_of_work(state.engine) as session:
        found = staff_sessions.resume(session, token=token, now=now, idle=idle, max_age=max_age)
    if isinstance(found, staff_sessions.Over):
        request.session.clear()
        if found.session_id is not None and found.reason in ("idle", "expired", "disabled"):
            with state.write() as session:
                staff_sessions.end_session(session, session_id=found.session_id, reason=found.reason, now=now)
        raise LoginRequired(request.url.path)
    if found.touch:
        with state.write() as session:
            staff_sessions.touch(session, session_id=found.session_id, now=now)
    request.state.user = found.user
    return found.user


def require_role(*roles: Role | str) -> Callable[..., Any]:
    """A dependency returning the current user when their role is one of `roles`, else 403."""
    allowed = frozenset(Role(r) for r in roles)

    def dependency(request: Request, *, user: Annotated[User, Depends(current_user)]) -> User:
        if Role(user.role) not in allowed:
            role, path = label(user.role), request.url.path
            raise Forbidden(_("your role (%(role)s) cannot open %(path)s", role=role, path=path))
        return user

    return dependency


INBOX_ROLES = (Role.HOTLINE, Role.MANAGER, Role.ADMIN)
MANAGER_ROLES = (Role.MANAGER, Role.ADMIN)
CONTENT_ROLES = (Role.MANAGER, Role.ADMIN, Role.PRODUCER)
RADIO_ROLES = (Role.PRODUCER, Role.MANAGER, Role.ADMIN)
# The message library: everyone who writes, translates or airs content may read it; translators and
# reviewers edit translations (never campaigns, contacts, segments or the inbox); approving needs the
# reviewer role, or a manager's or administrator's (who may approve from the CLI too).
LIBRARY_ROLES = (Role.MANAGER, Role.ADMIN, Role.PRODUCER, Role.TRANSLATOR, Role.REVIEWER)
TRANSLATE_ROLES = (Role.TRANSLATOR, Role.REVIEWER, Role.MANAGER, Role.ADMIN)
APPROVE_ROLES = (Role.REVIEWER, Role.MANAGER, Role.ADMIN)
