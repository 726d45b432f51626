"""The audit log for administrators: filters (actor, action, dates, case), pages, CSV export.

Dates are days in the deployment's timezone (CAMPAIGN_TIMEZONE), both included. Bad filter values
are a 400 naming the filter. The CSV export is itself audited (`audit.export`, with its filters)
and its cells cannot run as formulas (campaign/core/spreadsheets.py).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from campaign.core.audit import AuditFilter, audit_actions, audit_page, record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.spreadsheets import write_csv_rows
from campaign.hotline.models import Role, User
from campaign.web.audit_words import action_word, target_word
from campaign.web.auth import require_role
from campaign.web.templating import templates

router = APIRouter()
admin = require_role(Role.ADMIN)
PER_PAGE = 50
MAX_PAGE = 100_000
MAX_EXPORT_ROWS = 100_000
MAX_ID = 2**63 - 1
CSV_COLUMNS = ["at", "actor", "action", "target_type", "target_id", "detail"]

Text = Annotated[str, Query(max_length=80)]


def _day(name: str, value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(name, _("use a date such as 2027-01-31, not %(value)r", value=value[:20])) from None
    if not 2000 <= day.year <= 2099:
        raise Invalid(name, _("use a date such as 2027-01-31, not %(value)r", value=value[:20]))
    return day


def _case(value: str) -> int | None:
    value = value.strip().lstrip("#")
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise Invalid("case", _("use a case number, not %(value)r", value=value[:20]))
    return int(value)


def read_filter(
    request: Request, *, actor: str, action: str, since: str, until: str, case: str
) -> tuple[AuditFilter, dict[str, str]]:
    """The filter of a request (local days to UTC instants) and its values to keep in links."""
    zone = ZoneInfo(request.app.state.web.settings.timezone)
    first, last = _day("since", since), _day("until", until)
    where = AuditFilter(
        actor=actor.strip().lower() or None,
        action=action.strip() or None,
        since=datetime.combine(first, time(0), zone) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(0), zone) if last else None,
        case_id=_case(case),
    )
    kept = {"actor": actor, "action": action, "since": since, "until": until, "case": case}
    return where, {k: v for k, v in kept.items() if v}


@router.get("/audit")
def audit_log(
    request: Request,
    *,
    user: Annotated[User, Depends(admin)],
    actor: Text = "",
    action: Text = "",
    since: Text = "",
    until: Text = "",
    case: Text = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    where, kept = read_filter(request, actor=actor, action=action, since=since, until=until, case=case)
    with unit_of_work(request.app.state.web.engine) as session:
        events, total = audit_page(session, where=where, page=page, per_page=PER_PAGE)
        actions = audit_actions(session)
    pages = max(1, -(-total // PER_PAGE))
    context: dict[str, Any] = {
        "user": user,
        "events": events,
        "total": total,
        "page": page,
        "pages": pages,
        "actions": actions,
        "action_word": action_word,
        "target_word": target_word,
        "filters": {"actor": actor, "action": action, "since": since, "until": until, "case": case},
        "query": urlencode(kept),
        "previous": urlencode({**kept, "page": page - 1}) if page > 1 else None,
        "next": urlencode({**kept, "page": page + 1}) if page < pages else None,
    }
    return templates.TemplateResponse(request, "audit.html", context)


@router.get("/audit.csv")
def audit_export(
    request: Request,
    *,
    user: Annotated[User, Depends(admin)],
    actor: Text = "",
    action: Text = "",
    since: Text = "",
    until: Text = "",
    case: Text = "",
) -> Response:
    where, kept = read_filter(request, actor=actor, action=action, since=since, until=until, case=case)
    state = request.app.state.web
    zone = ZoneInfo(state.settings.timezone)
    with unit_of_work(state.engine) as session:
        events, total = audit_page(session, where=where, page=1, per_page=MAX_EXPORT_ROWS)
        rows = [
            [
                e.at.astimezone(zone).isoformat(timespec="seconds"),
                e.actor,
                e.action,
                e.target_type or "",
                "" if e.target_id is None else e.target_id,
                json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
            ]
            for e in events
        ]
    with state.write() as session:
        record_audit(
            session, actor=user.username, action="audit.export", now=utcnow(), user_id=user.id,
            detail={"rows": len(rows), "total": total, "filters": kept},
        )  # fmt: skip
    buffer = io.StringIO()
    write_csv_rows(buffer, CSV_COLUMNS, rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
