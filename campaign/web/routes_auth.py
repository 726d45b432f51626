"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from campaign.core.db import utcnow
from campaign.hotline.models import Role, User
from campaign.hotline.users import authenticate
from campaign.web.auth import login_session, logout_session
from campaign.web.templating import templates

router = APIRouter()

HOME_BY_ROLE = {
    Role.HOTLINE: "/inbox",
    Role.MANAGER: "/campaigns",
    Role.ADMIN: "/campaigns",
    Role.PRODUCER: "/messages",
}


def home_for(user: User) -> str:
    """Where a user lands after login."""
    return HOME_BY_ROLE.get(Role(user.role), "/inbox")


def _safe_next(value: str | None) -> str | None:
    # Only local paths: never redirect a fresh login to another site.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/")
def index(request: Request) -> Response:
    return RedirectResponse("/inbox" if request.session.get("user_id") else "/login", status_code=303)


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
    return RedirectResponse(_safe_next(next) or home_for(user), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    logout_session(request)
    return RedirectResponse("/login", status_code=303)
