"""Canned answers for the hotline's quick replies, per language: managers add, edit and remove them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from campaign.core.db import unit_of_work, utcnow
from campaign.core.i18n import _
from campaign.core.languages import build_registry
from campaign.hotline import quick_replies
from campaign.hotline.models import User
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.routes_inbox import _int_or_none, flash, pop_flash
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
PAGE = "/inbox/replies"


@router.get(PAGE)
def replies_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    settings = request.app.state.web.settings
    with unit_of_work(request.app.state.web.engine) as session:
        canned = quick_replies.list_canned(session)
    languages = [(lang.code, lang.native_name) for lang in build_registry(settings.extra_languages)]
    context = {"user": user, "canned": canned, "languages": languages, "flashes": pop_flash(request)}
    return templates.TemplateResponse(request, "quick_replies.html", context)


@router.post(PAGE)
def save_reply(
    request: Request,
    *,
    language: Annotated[str, Form()],
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    canned_id: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    with request.app.state.web.write() as session:
        quick_replies.save_canned(
            session, user=user, now=utcnow(), settings=request.app.state.web.settings, language=language,
            title=title, body=body, position=_int_or_none(position, "position") or 0, active=bool(active),
            canned_id=_int_or_none(canned_id, "canned_id"),
        )
    flash(request, _("Canned answer saved."))
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{canned_id}/delete")
def delete_reply(
    request: Request,
    *,
    canned_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    user: Annotated[User, Depends(manager)],
) -> Response:
    with request.app.state.web.write() as session:
        quick_replies.delete_canned(session, canned_id=canned_id, user=user, now=utcnow())
    flash(request, _("Canned answer removed."))
    return RedirectResponse(PAGE, status_code=303)
