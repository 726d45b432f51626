"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from campaign.core.db import utcnow
from campaign.hotline.models import Role, User
from campaign.hotline.users import authenticate
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


@router.post("/login")
async def login(
    request: Request,
    *,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    state = request.app.state.web

    def work() -> User | None:
        with state.write() as session:
            return authenticate(session, username=username, password=password, now=utcnow())

    user = await run_in_threadpool(work)
    if user is None:
        context = {"next": _safe_next(next) or "", "error": "Usuario o contraseña incorrectos."}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    login_session(request, user)
    home = home_for(user, has_radio=state.has_radio)
    return RedirectResponse(_safe_next(next) or home, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    logout_session(request)
    return RedirectResponse("/login", status_code=303)
