"""The hotline inbox: case list with filters, case page with thread, reply, notes, assignment."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from audiences.models import Contact
from campaign.blasts.models import Campaign
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.hotline import inbox
from campaign.hotline.models import CasePriority, CaseStatus, User
from campaign.web.auth import INBOX_ROLES, require_role
from campaign.web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()
staff = require_role(*INBOX_ROLES)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def pop_flash(request: Request) -> list[list[str]]:
    return request.session.pop("flash", [])


def _int_or_none(value: str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(field, f"not a number: {value!r}") from None


@router.get("/inbox")
def inbox_page(
    request: Request,
    *,
    status: str = "",
    priority: str = "",
    language: str = "",
    campaign: str = "",
    mine: str = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    campaign_id = _int_or_none(campaign, "campaign")
    with unit_of_work(request.app.state.web.engine) as session:
        cases = inbox.list_cases(
            session,
            status=status or None,
            priority=priority or None,
            language=language or None,
            campaign_id=campaign_id,
            assignee_id=user.id if mine else None,
            open_only=not status,
        )
        campaigns = session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.name)).all()
        languages = sorted({c for c in session.scalars(select(Contact.language).distinct()) if c})
    context = {
        "user": user,
        "cases": cases,
        "campaigns": campaigns,
        "languages": languages,
        "statuses": [s.value for s in CaseStatus],
        "priorities": [p.value for p in CasePriority],
        "filters": {
            "status": status,
            "priority": priority,
            "language": language,
            "campaign": campaign,
            "mine": mine,
        },
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "inbox.html", context)


def _case_context(request: Request, case_id: int, user: User, revealed: str | None = None) -> dict:
    with unit_of_work(request.app.state.web.engine) as session:
        case = inbox.get_case(session, case_id)
        contact = session.get(Contact, case.contact_id)
        assignee = session.get(User, case.assignee_id) if case.assignee_id else None
        campaign = session.get(Campaign, case.campaign_id) if case.campaign_id else None
        return {
            "user": user,
            "case": case,
            "contact": contact,
            "assignee": assignee,
            "campaign": campaign,
            "thread": inbox.thread(session, contact_id=case.contact_id),
            "notes": inbox.notes(session, case_id=case.id),
            "staff": session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all(),
            "revealed": revealed,
            "flashes": pop_flash(request),
        }


@router.get("/cases/{case_id}")
def case_page(request: Request, *, case_id: int, user: Annotated[User, Depends(staff)]) -> Response:
    return templates.TemplateResponse(request, "case.html", _case_context(request, case_id, user))


def _back(case_id: int) -> Response:
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/reveal")
def reveal(request: Request, *, case_id: int, user: Annotated[User, Depends(staff)]) -> Response:
    with request.app.state.web.write() as session:
        phone = inbox.reveal_phone(
            session, case_id=case_id, actor=user.username, user_id=user.id, now=utcnow()
        )
    return templates.TemplateResponse(request, "case.html", _case_context(request, case_id, user, phone))


@router.post("/cases/{case_id}/reply")
async def reply(
    request: Request,
    *,
    case_id: int,
    body: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    state = request.app.state.web

    def work() -> str:
        with state.write() as session:
            outbound = inbox.reply(session, case_id=case_id, user=user, body=body, now=utcnow())
            outbound_id = outbound.id
        try:  # after commit: the row is safe in the queue whatever the provider does now
            from campaign.blasts.dispatch import send_now

            status = send_now(
                state.engine, state.provider, outbound_id, now=utcnow(), settings=state.settings
            )
        except Exception:  # noqa: BLE001 - the queued reply goes out with the next dispatch
            log.exception("hotline reply %s not sent at once; left queued for dispatch", outbound_id)
            return "Respuesta en cola: se enviará en el próximo envío."
        return f"Respuesta enviada ({status})."

    flash(request, await run_in_threadpool(work))
    return _back(case_id)


@router.post("/cases/{case_id}/note")
def add_note(
    request: Request,
    *,
    case_id: int,
    body: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    with request.app.state.web.write() as session:
        inbox.add_note(session, case_id=case_id, user=user, body=body, now=utcnow())
    flash(request, "Nota guardada.")
    return _back(case_id)


@router.post("/cases/{case_id}/assign")
def assign(
    request: Request,
    *,
    case_id: int,
    assignee: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    assignee_id = user.id if assignee == "me" else _int_or_none(assignee, "assignee")
    with request.app.state.web.write() as session:
        inbox.assign(session, case_id=case_id, assignee_id=assignee_id, user=user, now=utcnow())
    flash(request, "Caso asignado." if assignee_id else "Caso sin asignar.")
    return _back(case_id)


@router.post("/cases/{case_id}/status")
def set_status(
    request: Request, *, case_id: int, status: Annotated[str, Form()], user: Annotated[User, Depends(staff)]
) -> Response:
    with request.app.state.web.write() as session:
        inbox.set_status(session, case_id=case_id, status=status, user=user, now=utcnow())
    flash(request, "Caso resuelto." if status == CaseStatus.RESOLVED else "Caso reabierto.")
    return _back(case_id)


@router.post("/cases/{case_id}/opt-out-question")
def answer_opt_out_question(
    request: Request, *, case_id: int, answer: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    if answer not in ("opt_out", "keep"):
        raise Invalid("answer", "choose opt_out or keep")
    with request.app.state.web.write() as session:
        inbox.answer_opt_out_question(
            session, case_id=case_id, user=user, opted_out=answer == "opt_out", now=utcnow()
        )
    flash(request, _("Contact opted out.") if answer == "opt_out" else _("Contact stays subscribed."))
    return _back(case_id)
