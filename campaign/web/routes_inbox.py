"""The hotline inbox: live case list (polled JSON), handover, shift summary, dashboard, SMS rules.

The live list is short polling of a JSON endpoint (`/inbox/live`), which works the same behind
several uvicorn workers on PostgreSQL: no connection state, no broker. The browser
(static/inbox.js) asks every `Settings.inbox_refresh_seconds`; the answer carries the list
re-rendered on the server (same template, same words as the first page) and the open urgent cases
whatever the filters, so a new urgent case raises the alert within one refresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from audiences.models import Contact
from campaign.blasts.models import Campaign
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.hotline import inbox, locks, metrics, shifts
from campaign.hotline.inbox import CaseSummary
from campaign.hotline.models import CasePriority, CaseStatus, User
from campaign.web.auth import INBOX_ROLES, require_role
from campaign.web.templating import templates
from campaign.web.waiting import elapsed, is_late

router = APIRouter()
staff = require_role(*INBOX_ROLES)
NO_STORE = {"Cache-Control": "no-store"}


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def pop_flash(request: Request) -> list[list[str]]:
    return request.session.pop("flash", [])


def _int_or_none(value: str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise Invalid(field, _("not a number: %(value)s", value=repr(value))) from None
    if not 0 <= number < 2**31:
        raise Invalid(field, _("out of range: %(value)s", value=value))
    return number


@dataclass(frozen=True)
class InboxRow:
    """One case as the inbox shows it: waiting time for people, late or not, who is answering."""

    case: CaseSummary
    waiting: str
    late: bool
    holder: str | None
    mine: bool


def inbox_rows(
    request: Request, session: Any, cases: list[CaseSummary], user: User, now: datetime
) -> list[InboxRow]:
    """The inbox rows of `cases` as `user` sees them at `now`."""
    settings = request.app.state.web.settings
    held = locks.holders(session, [c.id for c in cases], now=now, lock_minutes=settings.case_lock_minutes)
    return [
        InboxRow(
            c,
            elapsed(c.waiting_since, now),
            is_late(c.priority, c.waiting_since, now, settings.service_targets),
            held.get(c.id), held.get(c.id) == user.username,
        )
        for c in cases
    ]


def _filters(status: str, priority: str, language: str, campaign: str, mine: str) -> dict[str, str]:
    return {"status": status, "priority": priority, "language": language, "campaign": campaign, "mine": mine}


def _cases(session: Any, filters: dict[str, str], user: User) -> list[CaseSummary]:
    cases = inbox.list_cases(
        session,
        status=filters["status"] or None,
        priority=filters["priority"] or None,
        language=filters["language"] or None,
        campaign_id=_int_or_none(filters["campaign"], "campaign"),
        open_only=not filters["status"],
    )
    if filters["mine"]:
        mine = shifts.my_case_ids(session, user_id=user.id)
        cases = [c for c in cases if c.id in mine]
    return cases


def _live_summary(session: Any) -> dict[str, Any]:
    urgent = shifts.open_urgent_ids(session)
    return {"open": shifts.open_count(session), "urgent": len(urgent), "urgent_ids": urgent}


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
    filters = _filters(status, priority, language, campaign, mine)
    now = utcnow()
    with unit_of_work(request.app.state.web.engine) as session:
        rows = inbox_rows(request, session, _cases(session, filters, user), user, now)
        campaigns = session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.name)).all()
        languages = sorted({c for c in session.scalars(select(Contact.language).distinct()) if c})
        live = _live_summary(session)
    context = {
        "user": user,
        "rows": rows,
        "campaigns": campaigns,
        "languages": languages,
        "statuses": [s.value for s in CaseStatus],
        "priorities": [p.value for p in CasePriority],
        "filters": filters,
        "live": live,
        "refresh_seconds": request.app.state.web.settings.inbox_refresh_seconds,
        "now": now,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "inbox.html", context, headers=NO_STORE)


@router.get("/inbox/live")
def inbox_live(
    request: Request,
    *,
    status: str = "",
    priority: str = "",
    language: str = "",
    campaign: str = "",
    mine: str = "",
    v: str = "",
    since: str = "",
    user: Annotated[User, Depends(staff)],
) -> Response:
    """The inbox list as HTML rows (left out when unchanged since version `v`), the open and urgent
    counts, the open urgent case ids (whatever the filters), and takeovers of the user's cases
    since `since` (ISO time of the previous refresh)."""
    filters = _filters(status, priority, language, campaign, mine)
    now = utcnow()
    settings = request.app.state.web.settings
    with unit_of_work(request.app.state.web.engine) as session:
        rows = inbox_rows(request, session, _cases(session, filters, user), user, now)
        payload = _live_summary(session)
        start = _since(since, now, settings.case_lock_minutes)
        taken = locks.takeovers_from(session, user_id=user.id, since=start)
    html = templates.get_template("_inbox_rows.html").render({"rows": rows, "request": request})
    version = hashlib.sha256(html.encode()).hexdigest()[:16]
    payload.update(
        version=version,
        html=None if version == v else html,
        now=now.isoformat(),
        notices=[_("%(who)s took over case #%(case)d.", who=t.by, case=t.case_id) for t in taken],
        title=_("Inbox"),
    )
    return JSONResponse(payload, headers=NO_STORE)


def _since(value: str, now: datetime, lock_minutes: int) -> datetime:
    """The client's previous refresh time, never earlier than one lock period ago (that, when the
    client sends none or an unreadable one)."""
    floor = now - timedelta(minutes=lock_minutes)
    try:
        parsed = datetime.fromisoformat(value) if value else floor
    except ValueError:
        return floor
    if parsed.tzinfo is None:
        return floor
    return min(now, max(floor, parsed))


@router.get("/inbox/handover")
def handover_page(request: Request, *, user: Annotated[User, Depends(staff)]) -> Response:
    now = utcnow()
    with unit_of_work(request.app.state.web.engine) as session:
        handover = shifts.handover(session)
        rows = inbox_rows(request, session, [h.case for h in handover], user, now)
    context = {
        "user": user, "rows": list(zip(rows, [h.note for h in handover], strict=True)),
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "handover.html", context, headers=NO_STORE)


@router.get("/inbox/shift")
def shift_page(request: Request, *, hours: str = "", user: Annotated[User, Depends(staff)]) -> Response:
    now = utcnow()
    span = _int_or_none(hours, "hours")
    if span is not None and not 1 <= span <= 48:
        raise Invalid("hours", _("from 1 to %(n)d", n=48))
    if span is None:
        start = user.last_login_at or now - timedelta(hours=12)
        since = max(start, now - timedelta(hours=24))
    else:
        since = now - timedelta(hours=span)
    with unit_of_work(request.app.state.web.engine) as session:
        summary = shifts.shift_summary(session, user_id=user.id, since=since)
        rows = inbox_rows(request, session, summary.still_open, user, now)
    context = {"user": user, "summary": summary, "rows": rows, "hours": span, "flashes": pop_flash(request)}
    return templates.TemplateResponse(request, "shift.html", context, headers=NO_STORE)


@router.get("/inbox/dashboard")
def dashboard_page(request: Request, *, weeks: str = "", user: Annotated[User, Depends(staff)]) -> Response:
    span = _int_or_none(weeks, "weeks") or 8
    if not 1 <= span <= 52:
        raise Invalid("weeks", _("from 1 to %(n)d", n=52))
    zone = ZoneInfo(request.app.state.web.settings.timezone)
    now = utcnow()
    with unit_of_work(request.app.state.web.engine) as session:
        times = metrics.answer_times(session, now=now, zone=zone, weeks=span)
        outcomes = metrics.outcomes(session, now=now, zone=zone, weeks=span)
    context = {
        "user": user, "times": times, "outcomes": outcomes, "weeks": span, "minutes": _minutes,
        "flashes": pop_flash(request),
    }
    return templates.TemplateResponse(request, "hotline_dashboard.html", context)


def _minutes(value: float) -> str:
    """4.25 -> "4.3", 37.6 -> "38": a tenth of a minute where it matters."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


@router.get("/sms/rules.json")
def sms_rules() -> Response:
    """The SMS encoding rules for the browser's counter (no personal data; cacheable)."""
    from messages.client_rules import client_rules

    return JSONResponse(client_rules(), headers={"Cache-Control": "public, max-age=3600"})
