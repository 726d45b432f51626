"""A hotline case: thread, lock (who is answering), quick replies, reply, notes, reassign, resolve.

Opening the case page takes the case for the staff member when nobody holds it
(campaign/hotline/locks.py). The page (static/case.js) refreshes `/cases/{id}/live` to show who
holds the case, and reports activity (`/cases/{id}/touch`) so an idle holder's lock ends after
Settings.case_lock_minutes. Taking over a case someone else holds is an explicit button, audited.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from audiences.models import Contact
from campaign.blasts.models import Campaign
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid, safe_reason
from campaign.core.i18n import _
from campaign.core.languages import build_registry
from campaign.hotline import inbox, locks, media, outcomes
from campaign.hotline.history import contact_history
from campaign.hotline.models import CaseOutcome, CaseStatus, Referral, User
from campaign.hotline.quick_replies import quick_replies
from campaign.web.auth import INBOX_ROLES, require_role
from campaign.web.routes_inbox import NO_STORE, _int_or_none, flash, pop_flash
from campaign.web.templating import templates
from campaign.web.waiting import elapsed, is_late

log = logging.getLogger(__name__)
router = APIRouter()
staff = require_role(*INBOX_ROLES)
# A case id as the database can hold it: a larger number is a 422 naming the field, never a 500.
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _lock_minutes(request: Request) -> int:
    return int(request.app.state.web.settings.case_lock_minutes)


def _language(request: Request, code: str | None) -> tuple[str, str]:
    """(name, encoding policy) of a contact's language. Unknown: answered in Spanish, as the
    automatic replies are, with Spanish's policy."""
    registry = build_registry(request.app.state.web.settings.extra_languages)
    if code and code in registry:
        found = registry.get(code)
        return f"{found.native_name} ({code})", found.encoding_policy
    spanish = registry.get("es")
    return _("not known (%(code)s): answer in Spanish", code=code or "?"), spanish.encoding_policy


def _lock_context(session: Any, request: Request, case_id: int, user: User, now: datetime) -> dict[str, Any]:
    minutes = _lock_minutes(request)
    state = locks.lock_state(session, case_id=case_id, user_id=user.id, now=now, lock_minutes=minutes)
    taken = None
    if not state.mine:
        since = now - timedelta(minutes=minutes)
        mine_taken = locks.takeovers_from(session, user_id=user.id, since=since)
        taken = next((t for t in reversed(mine_taken) if t.case_id == case_id), None)
    return {"lock": state, "taken": taken, "lock_minutes": minutes}


def _case_context(
    request: Request, session: Any, case_id: int, user: User, now: datetime, revealed: str | None = None
) -> dict[str, Any]:
    settings = request.app.state.web.settings
    case = inbox.get_case(session, case_id)
    contact = session.get(Contact, case.contact_id)
    language_name, policy = _language(request, contact.language)
    thread = inbox.thread(session, contact_id=case.contact_id)
    return {
        "user": user,
        "case": case,
        "contact": contact,
        "language_name": language_name,
        "policy": policy,
        "assignee": session.get(User, case.assignee_id) if case.assignee_id else None,
        "campaign": session.get(Campaign, case.campaign_id) if case.campaign_id else None,
        "thread": thread,
        "notes": inbox.notes(session, case_id=case.id),
        "staff": session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all(),
        "revealed": revealed,
        "refusal": inbox.reply_refusal(session, contact, now=now),
        "quick": quick_replies(session, language=contact.language, settings=settings),
        "history": contact_history(session, contact_id=contact.id, exclude_case_id=case.id),
        "waiting": elapsed(case.waiting_since, now),
        "late": is_late(case.priority, case.waiting_since, now, settings.service_targets),
        "outcomes": [o.value for o in CaseOutcome],
        "referrals": [r.value for r in Referral],
        "refresh_seconds": settings.inbox_refresh_seconds,
        "flashes": pop_flash(request),
        **_lock_context(session, request, case.id, user, now),
    }


@router.get("/cases/{case_id}")
def case_page(request: Request, *, case_id: CaseId, user: Annotated[User, Depends(staff)]) -> Response:
    """The case; opening it takes it for the user when nobody else is answering it."""
    now = utcnow()
    with request.app.state.web.write() as session:
        inbox.get_case(session, case_id)
        locks.acquire(session, case_id=case_id, user=user, now=now, lock_minutes=_lock_minutes(request))
    _fetch_pending_media(request, case_id, now)
    with unit_of_work(request.app.state.web.engine) as session:
        context = _case_context(request, session, case_id, user, now)
    return templates.TemplateResponse(request, "case.html", context, headers=NO_STORE)


def _fetch_pending_media(request: Request, case_id: int, now: datetime) -> None:
    """Downloads the case's voice notes and images the scheduler has not fetched yet, so staff
    hear them now; a failure is recorded on the media row and the page opens anyway."""
    state = request.app.state.web
    try:
        with unit_of_work(state.engine) as session:
            due = media.due_media_ids(session, now=now, limit=media.FETCH_ON_OPEN, case_id=case_id)
        if due:
            media.fetch_media_now(
                state.engine, state.provider, due, now=now, settings=state.settings, write=state.write,
                stop_on_failure=True,
            )
    except Exception as exc:  # noqa: BLE001 - the case must open whatever the provider does
        log.error("case %s: media not downloaded on opening (%s)", case_id, safe_reason(exc))


MediaId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/cases/{case_id}/media/{media_id}")
def case_media(
    request: Request, *, case_id: CaseId, media_id: MediaId, user: Annotated[User, Depends(staff)]
) -> Response:
    """A voice note or image of the case's contact, decrypted, for the player or the picture on the
    case page. Hotline roles only (others get 403 before anything is read); each view is audited."""
    state = request.app.state.web
    with state.write() as session:
        content_type, content = media.media_content(
            session, case_id=case_id, media_id=media_id, settings=state.settings
        )
        record_audit(
            session, actor=user.username, user_id=user.id, action="media.view", now=utcnow(),
            target_type="inbound_media", target_id=media_id, detail={"case_id": case_id},
        )
    content_type, content = media.playable(content_type, content)  # AMR from a feature phone: OGG/Opus
    headers = {**NO_STORE, "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"}
    return Response(content, media_type=content_type, headers=headers)


def _live(
    request: Request, session: Any, case_id: int, user: User, now: datetime, seen: int | None
) -> Response:
    case = inbox.get_case(session, case_id)
    context = {
        "request": request, "case": case, "user": user, **_lock_context(session, request, case_id, user, now)
    }
    payload: dict[str, Any] = {
        "mine": context["lock"].mine,
        "holder": context["lock"].holder,
        "status": str(case.status),
        "lock_html": templates.get_template("_case_lock.html").render(context),
    }
    thread = inbox.thread(session, contact_id=case.contact_id)
    payload["messages"] = len(thread)
    if seen is not None and seen != len(thread):
        fragment = templates.get_template("_thread.html")
        payload["thread_html"] = fragment.render({"thread": thread, "request": request, "case": case})
    return JSONResponse(payload, headers=NO_STORE)


@router.get("/cases/{case_id}/live")
def case_live(
    request: Request, *, case_id: CaseId, n: str = "", user: Annotated[User, Depends(staff)]
) -> Response:
    """Who holds the case now (as HTML for the lock banner, and as data), and the thread when its
    length differs from `n`."""
    with unit_of_work(request.app.state.web.engine) as session:
        return _live(request, session, case_id, user, utcnow(), _int_or_none(n, "n"))


@router.post("/cases/{case_id}/touch")
def case_touch(request: Request, *, case_id: CaseId, user: Annotated[User, Depends(staff)]) -> Response:
    """The user is active on the case: keeps their lock (or takes it when free); never takes it
    from someone else."""
    now = utcnow()
    with request.app.state.web.write() as session:
        locks.acquire(session, case_id=case_id, user=user, now=now, lock_minutes=_lock_minutes(request))
    with unit_of_work(request.app.state.web.engine) as session:
        return _live(request, session, case_id, user, now, None)


def _back(case_id: int) -> Response:
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/takeover")
def take_over(request: Request, *, case_id: CaseId, user: Annotated[User, Depends(staff)]) -> Response:
    with request.app.state.web.write() as session:
        state = locks.take_over(
            session, case_id=case_id, user=user, now=utcnow(), lock_minutes=_lock_minutes(request)
        )
    flash(request, _("You are answering this case now.") if state.mine else _("The case could not be taken."))
    return _back(case_id)


@router.post("/cases/{case_id}/release")
def release(request: Request, *, case_id: CaseId, user: Annotated[User, Depends(staff)]) -> Response:
    with request.app.state.web.write() as session:
        inbox.get_case(session, case_id)
        locks.release(session, case_id=case_id, user_id=user.id)
    flash(request, _("You left the case: others may answer it."))
    return RedirectResponse("/inbox", status_code=303)


@router.post("/cases/{case_id}/reveal")
def reveal(request: Request, *, case_id: CaseId, user: Annotated[User, Depends(staff)]) -> Response:
    now = utcnow()
    with request.app.state.web.write() as session:
        phone = inbox.reveal_phone(session, case_id=case_id, actor=user.username, user_id=user.id, now=now)
    with unit_of_work(request.app.state.web.engine) as session:
        context = _case_context(request, session, case_id, user, now, phone)
    return templates.TemplateResponse(request, "case.html", context, headers=NO_STORE)


@router.post("/cases/{case_id}/reply")
async def reply(
    request: Request,
    *,
    case_id: CaseId,
    body: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    state = request.app.state.web
    queued = _("Reply queued: it goes out with the next dispatch.")

    def work() -> str:
        with state.write() as session:
            case = inbox.get_case(session, case_id)
            contact = session.get(Contact, case.contact_id)
            _name, policy = _language(request, contact.language if contact else None)
            outbound = inbox.reply(
                session, case_id=case_id, user=user, body=body, now=utcnow(), policy=policy,
                lock_minutes=state.settings.case_lock_minutes,
            )
            outbound_id = outbound.id
        try:  # after commit: the row is safe in the queue whatever the provider does now
            from campaign.blasts.dispatch import send_now

            sent = send_now(state.engine, state.provider, outbound_id, now=utcnow(), settings=state.settings)
            return str(sent)
        except Exception as exc:  # noqa: BLE001 - the queued reply goes out with the next dispatch
            log.error("hotline reply %s not sent at once (%s); left queued for dispatch", outbound_id,
                      safe_reason(exc))
            return ""

    status = await run_in_threadpool(work)
    from campaign.hotline.labels import label

    if status in ("sent", "delivered"):
        flash(request, _("Reply sent."))
    else:  # failed, or left queued for the next dispatch
        flash(request, _("Reply: %(status)s.", status=label(status)) if status else queued)
    return _back(case_id)


@router.post("/cases/{case_id}/note")
def add_note(
    request: Request,
    *,
    case_id: CaseId,
    body: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    with request.app.state.web.write() as session:
        inbox.add_note(session, case_id=case_id, user=user, body=body, now=utcnow())
    flash(request, _("Note saved."))
    return _back(case_id)


@router.post("/cases/{case_id}/assign")
def assign(
    request: Request,
    *,
    case_id: CaseId,
    assignee: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    assignee_id = user.id if assignee == "me" else _int_or_none(assignee, "assignee")
    with request.app.state.web.write() as session:
        inbox.assign(session, case_id=case_id, assignee_id=assignee_id, user=user, now=utcnow())
    flash(request, _("Case reassigned.") if assignee_id else _("Case left unassigned."))
    return _back(case_id)


def _follow_up(request: Request, day: str, hour: str) -> datetime | None:
    """A local date (and time, default 09:00) in the deployment's timezone, as aware UTC."""
    if not day:
        return None
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d")
        at = time.fromisoformat(hour) if hour else time(9, 0)
    except ValueError:
        raise Invalid("follow_up_at", _("a date as YYYY-MM-DD and a time as HH:MM")) from None
    zone = ZoneInfo(request.app.state.web.settings.timezone)
    return datetime.combine(parsed.date(), at, tzinfo=zone).astimezone(ZoneInfo("UTC"))


@router.post("/cases/{case_id}/status")
def set_status(
    request: Request,
    *,
    case_id: CaseId,
    status: Annotated[str, Form()],
    outcome: Annotated[str, Form()] = "",
    referred_to: Annotated[str, Form()] = "",
    attempts: Annotated[str, Form()] = "",
    follow_up_date: Annotated[str, Form()] = "",
    follow_up_time: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    """Resolves (with an outcome) or reopens the case."""
    now = utcnow()
    if status == CaseStatus.RESOLVED:
        follow_up_at = _follow_up(request, follow_up_date, follow_up_time)
        tries = _int_or_none(attempts, "attempts")
        with request.app.state.web.write() as session:
            outcomes.resolve(
                session, case_id=case_id, user=user, now=now, outcome=outcome,
                referred_to=referred_to or None,
                attempts=tries, follow_up_at=follow_up_at, lock_minutes=_lock_minutes(request),
            )
        flash(request, _("Case resolved."))
    elif status == CaseStatus.OPEN:
        with request.app.state.web.write() as session:
            outcomes.reopen(session, case_id=case_id, user=user, now=now)
        flash(request, _("Case reopened."))
    else:
        raise Invalid("status", _("choose one of: %(choices)s", choices="resolved, open"))
    return _back(case_id)


@router.post("/cases/{case_id}/opt-out-question")
def answer_opt_out_question(
    request: Request,
    *,
    case_id: CaseId,
    answer: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    """Staff answer a case's unclear opt-out (the contact stays muted until they do)."""
    if answer not in ("opt_out", "keep"):
        raise Invalid("answer", _("choose one of: %(choices)s", choices="opt_out, keep"))
    with request.app.state.web.write() as session:
        inbox.answer_opt_out_question(
            session, case_id=case_id, user=user, opted_out=answer == "opt_out", now=utcnow()
        )
    flash(request, _("Contact opted out.") if answer == "opt_out" else _("Contact stays subscribed."))
    return _back(case_id)
