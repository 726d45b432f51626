"""Staff users, for administrators: list, add (password twice), disable/enable, change role, reset
password. The same functions as `campaign users ...` (campaign/hotline/users.py): the last active
administrator cannot be disabled or demoted, and a role change, a disable or a new password ends
the user's sessions at once. Every change is audited with the administrator as actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.hotline import users
from campaign.hotline.labels import label
from campaign.hotline.models import Role, User
from campaign.web.auth import require_role
from campaign.web.routes_inbox import flash, pop_flash
from campaign.web.templating import templates

router = APIRouter()
admin = require_role(Role.ADMIN)
PAGE = "/admin/users"


@router.get(PAGE)
def users_page(request: Request, *, user: Annotated[User, Depends(admin)]) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        staff = users.list_users(session)
    active_admins = [u.username for u in staff if u.active and u.role == Role.ADMIN]
    context = {
        "user": user,
        "staff": staff,
        # The last active administrator: no disable button, no role change offered (both refused).
        "last_admin": active_admins[0] if len(active_admins) == 1 else None,
        "roles": [(r.value, label(r.value)) for r in Role],
        "min_password": users.MIN_PASSWORD_LENGTH,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "users.html", context)


def _two_passwords(password: str, repeat: str) -> str:
    if len(password) > 1000:
        raise Invalid("password", _("at most %(n)d characters", n=1000))
    if password != repeat:
        raise Invalid("password", _("the two passwords differ"))
    users.validate_password(password)
    return password


def _valid_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        raise Invalid("role", _("unknown role %(role)s", role=repr(role[:40]))) from None


@router.post(PAGE)
def add_user(
    request: Request,
    *,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_repeat: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(admin)],
) -> Response:
    new_role = _valid_role(role)
    secret = _two_passwords(password, password_repeat)
    with request.app.state.web.write() as session:
        created = users.create_user(
            session,
            username=username[:200],
            password=secret,
            role=new_role,
            now=utcnow(),
            actor=user.username,
        )
        name = created.username
    flash(request, _("User %(name)s (%(role)s) added.", name=name, role=label(new_role.value)))
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{username}/disable")
def disable_user(request: Request, *, username: str, user: Annotated[User, Depends(admin)]) -> Response:
    with request.app.state.web.write() as session:
        changed = users.disable_user(session, username=username[:200], now=utcnow(), actor=user.username)
        name = changed.username
    flash(request, _("User %(name)s disabled: logged out everywhere.", name=name))
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{username}/enable")
def enable_user(request: Request, *, username: str, user: Annotated[User, Depends(admin)]) -> Response:
    with request.app.state.web.write() as session:
        changed = users.set_active(
            session, username=username[:200], active=True, now=utcnow(), actor=user.username
        )
        name = changed.username
    flash(request, _("User %(name)s enabled.", name=name))
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{username}/role")
def change_role(
    request: Request,
    *,
    username: str,
    role: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(admin)],
) -> Response:
    new_role = _valid_role(role)
    with request.app.state.web.write() as session:
        changed = users.change_role(
            session, username=username[:200], role=new_role, now=utcnow(), actor=user.username
        )
        name = changed.username
    flash(request, _("User %(name)s is now %(role)s.", name=name, role=label(new_role.value)))
    if name == user.username and new_role != Role.ADMIN:  # their own session just ended
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{username}/password")
def reset_password(
    request: Request,
    *,
    username: str,
    password: Annotated[str, Form()] = "",
    password_repeat: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(admin)],
) -> Response:
    secret = _two_passwords(password, password_repeat)
    with request.app.state.web.write() as session:
        changed = users.set_password(
            session, username=username[:200], password=secret, now=utcnow(), actor=user.username
        )
        name = changed.username
    flash(request, _("Password of %(name)s changed.", name=name))
    return RedirectResponse(PAGE, status_code=303)
