"""Manager pages: campaigns (list, detail with funnel and chart, pause/resume), messages, audiences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from campaign.blasts.campaigns import EDITABLE_STATUSES, failed_firings
from campaign.blasts.labels import campaign_label
from campaign.blasts.models import Campaign
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import _
from campaign.hotline.models import Role, User
from campaign.web import stats
from campaign.web.auth import CONTENT_ROLES, MANAGER_ROLES, require_role
from campaign.web.charts import line_chart
from campaign.web.routes_inbox import flash, pop_flash
from campaign.web.routes_reports import report_context
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
content = require_role(*CONTENT_ROLES)
admin = require_role(Role.ADMIN)


@router.get("/campaigns")
def campaigns_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        rows = stats.campaign_rows(session, settings=request.app.state.web.settings)
        failures = failed_firings(session, [row[0].id for row in rows])
    failing = {campaign_id: len(items) for campaign_id, items in failures.items() if items}
    context = {"user": user, "rows": rows, "failing": failing, "flashes": pop_flash(request)}
    return templates.TemplateResponse(request, "campaigns.html", context)


@router.get("/campaigns/{slug}")
def campaign_page(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
        if campaign is None:
            raise NotFound(_("campaign %(slug)r not found", slug=slug))
        report, activity = stats.campaign_summary(
            session, campaign, now=utcnow(), settings=request.app.state.web.settings
        )
        steps = [(s.key, s.channel, s.segment_slug or s.query or "", s.message_id) for s in campaign.steps]
        failures = failed_firings(session, [campaign.id])[campaign.id]
        reports = report_context(session, campaign, report, activity)
    names = {"sent": _("sent"), "delivered": _("delivered"), "replies": _("replies")}
    context = {
        "user": user,
        "campaign": campaign,
        "failures": failures,
        "totals": report.totals,
        "breakdown": report.breakdown,
        "activity": activity,
        "chart": line_chart(activity.days, activity.series, labels=names),
        "steps": steps,
        "flashes": pop_flash(request),
        "editable": campaign.status in EDITABLE_STATUSES and bool(campaign.spec),
        **reports,
    }
    return templates.TemplateResponse(request, "campaign.html", context)


@router.post("/campaigns/{slug}/status")
def campaign_status(
    request: Request, *, slug: str, action: Annotated[str, Form()], user: Annotated[User, Depends(manager)]
) -> Response:
    from campaign.blasts import lifecycle

    operations = {"pause": lifecycle.pause, "resume": lifecycle.resume}
    if action not in operations:
        raise Invalid("action", _("%(value)r is not one of pause, resume", value=action[:40]))
    with request.app.state.web.write() as session:
        campaign = operations[action](session, slug, now=utcnow(), actor=user.username)
        status = str(campaign.status)
    flash(request, _("Campaign %(status)s.", status=campaign_label(status)))
    return RedirectResponse(f"/campaigns/{slug}", status_code=303)


CANCELLABLE = ("draft", "scheduled", "running", "paused")


@router.get("/campaigns/{slug}/cancel")
def cancel_page(request: Request, *, slug: str, user: Annotated[User, Depends(manager)]) -> Response:
    """The confirmation step of the emergency stop: what cancelling will stop, and one button."""
    from sqlalchemy import func

    from campaign.blasts.models import Outbound, OutboundStatus

    with unit_of_work(request.app.state.web.engine) as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
        if campaign is None:
            raise NotFound(_("campaign %(slug)r not found", slug=slug))
        queued = session.scalar(
            select(func.count(Outbound.id)).where(
                Outbound.campaign_id == campaign.id, Outbound.status == OutboundStatus.QUEUED
            )
        )
    context = {"user": user, "campaign": campaign, "queued": int(queued or 0), "cancellable": CANCELLABLE}
    return templates.TemplateResponse(request, "campaign_cancel.html", context)


@router.post("/campaigns/{slug}/cancel")
def cancel_campaign(
    request: Request,
    *,
    slug: str,
    confirm: Annotated[str, Form()] = "",
    user: Annotated[User, Depends(manager)],
) -> Response:
    """Cancels the campaign and every queued message, once confirmed (else back to the question)."""
    from campaign.blasts import lifecycle

    if confirm != slug:
        return RedirectResponse(f"/campaigns/{slug}/cancel", status_code=303)
    with request.app.state.web.write() as session:
        _campaign, cancelled = lifecycle.cancel(session, slug, now=utcnow(), actor=user.username)
    flash(request, _("Campaign cancelled: %(num)d queued messages will not be sent.", num=cancelled))
    return RedirectResponse(f"/campaigns/{slug}", status_code=303)


@router.get("/audiences")
def audiences_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """The first list of segments, kept as an address: the segments page (/segments) replaced it."""
    return RedirectResponse("/segments", status_code=308)
