"""Login and logout pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from campaign.core.db import unit_of_work, utcnow
from campaign.core.i18n import _, ngettext
from campaign.hotline import staff_sessions
from campaign.hotline.models import Role, User
from campaign.hotline.users import DUMMY_HASH, hash_password, needs_rehash, verify_password
from campaign.web.auth import LoginRequired, current_user, login_session, logout_session
from campaign.web.templating import templates

router = APIRouter()

HOME_BY_ROLE = {
    Role.HOTLINE: "/inbox",
    Role.MANAGER: "/campaigns",
    Role.ADMIN: "/campaigns",
    Role.PRODUCER: "/radio",
}


def home_for(user: User, *, has_radio: bool = True) -> str:
    """Where a user lands: after login, at `/` and from "Volver al inicio" (a page their role may open)."""
    home = HOME_BY_ROLE.get(Role(user.role), "/messages")
    if home == "/radio" and not has_radio:
        return "/messages"
    return home


def _safe_next(value: str | None) -> str | None:
    # Only local paths: never redirect a fresh login to another site.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/")
def index(request: Request) -> Response:
    """Each role's own home page (a producer must not land on the forbidden inbox)."""
    try:
        user = current_user(request)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(user, has_radio=request.app.state.web.has_radio), status_code=303)


@router.get("/login")
def login_page(request: Request, *, next: str | None = None) -> Response:
    return templates.TemplateResponse(request, "login.html", {"next": _safe_next(next) or "", "error": None})


def _wait_text(seconds: int) -> str:
    if seconds >= 60:
        minutes = -(-seconds // 60)
        return ngettext(
            "Too many failed attempts. Wait %(num)d minute and try again.",
            "Too many failed attempts. Wait %(num)d minutes and try again.",
            minutes,
        )
    return ngettext(
        "Too many failed attempts. Wait %(num)d second and try again.",
        "Too many failed attempts. Wait %(num)d seconds and try again.",
        seconds,
    )


@router.post("/login")
async def login(
    request: Request,
    *,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Checks the throttle (read only), verifies the argon2 hash with no database lock held (at
    most `WebState.hashing` at once per process), then records the outcome in one short write."""
    state = request.app.state.web
    settings = state.settings
    limits = staff_sessions.Limits(
        settings.login_max_failures, timedelta(minutes=settings.login_lock_minutes)
    )
    address = request.client.host if request.client else None
    now = utcnow()

    def read() -> staff_sessions.LoginCheck:
        with unit_of_work(state.engine) as session:
            return staff_sessions.read_login(
                session, username=username, address=address, now=now, limits=limits
            )

    check = await run_in_threadpool(read)
    context = {"next": _safe_next(next) or ""}
    if check.wait is not None:
        if check.wait.counts:  # a try during the account's delay counts; one during a lock does not
            await state.run_write(lambda: _failed(state, check, address, limits, verified=False))
        response = templates.TemplateResponse(
            request, "login.html", {**context, "error": _wait_text(check.wait.seconds)}, status_code=429
        )
        response.headers["Retry-After"] = str(check.wait.seconds)
        return response
    async with state.hashing():
        ok, new_hash = await run_in_threadpool(_verify, check.password_hash, password)
    if not ok:
        await state.run_write(lambda: _failed(state, check, address, limits, verified=True))
        context["error"] = _("Wrong username or password.")
        return templates.TemplateResponse(request, "login.html", context, status_code=401)

    def succeed() -> tuple[User, str]:
        with state.write() as session:
            user = staff_sessions.record_success(session, check=check, address=address, now=utcnow())
            if new_hash is not None:
                user.password_hash = new_hash
            return user, staff_sessions.start_session(session, user=user, now=utcnow())

    user, token = await state.run_write(succeed)
    login_session(request, token)
    home = home_for(user, has_radio=state.has_radio)
    return RedirectResponse(_safe_next(next) or home, status_code=303)


def _verify(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(password matches, its new hash when argon2's parameters changed). An unknown or disabled
    account costs the same hashing time as a wrong password."""
    if password_hash is None:
        verify_password(DUMMY_HASH, password)
        return False, None
    if not verify_password(password_hash, password):
        return False, None
    return True, hash_password(password) if needs_rehash(password_hash) else None


def _failed(
    state,
    check: staff_sessions.LoginCheck,
    address: str | None,
    limits: staff_sessions.Limits,
    *,
    verified: bool,
) -> None:
    with state.write() as session:
        staff_sessions.record_failure(
            session, check=check, address=address, now=utcnow(), limits=limits, verified=verified
        )


@router.post("/logout")
def logout(request: Request) -> Response:
    logout_session(request)
    return RedirectResponse("/login", status_code=303)
