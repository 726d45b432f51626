"""Web authentication: signed-cookie sessions, the current user, role checks and CSRF tokens.

The session cookie is signed with `Settings.secret_key` (Starlette's SessionMiddleware, itsdangerous).
It holds the user id and a CSRF token; the user is re-read on every request, so disabling a user
or changing a role takes effect at once. Other areas (the radio pages) use `require_role` and
`verify_csrf` from here.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from campaign.core.db import unit_of_work
from campaign.core.errors import AppError, Forbidden
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
        raise Forbidden("csrf: the form's security token is missing or expired; reload the page")


def login_session(request: Request, user: User) -> None:
    """Starts a fresh session for `user` (new CSRF token; nothing kept from before login)."""
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)


def logout_session(request: Request) -> None:
    """Forgets the session."""
    request.session.clear()


def current_user(request: Request) -> User:
    """The logged-in, active user; raises LoginRequired otherwise."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int):
        raise LoginRequired(request.url.path)
    with unit_of_work(request.app.state.web.engine) as session:
        user = session.get(User, user_id)
    if user is None or not user.active:
        request.session.clear()
        raise LoginRequired(request.url.path)
    request.state.user = user
    return user


def require_role(*roles: Role | str) -> Callable[..., Any]:
    """A dependency returning the current user when their role is one of `roles`, else 403."""
    allowed = frozenset(Role(r) for r in roles)

    def dependency(request: Request, *, user: Annotated[User, Depends(current_user)]) -> User:
        if Role(user.role) not in allowed:
            raise Forbidden(f"your role ({user.role}) cannot open {request.url.path}")
        return user

    return dependency


INBOX_ROLES = (Role.HOTLINE, Role.MANAGER, Role.ADMIN)
MANAGER_ROLES = (Role.MANAGER, Role.ADMIN)
CONTENT_ROLES = (Role.MANAGER, Role.ADMIN, Role.PRODUCER)
RADIO_ROLES = (Role.PRODUCER, Role.MANAGER, Role.ADMIN)
