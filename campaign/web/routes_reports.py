"""Campaign reports on the web: the per step x language table, its CSV/XLSX downloads and charts.

Every figure comes from `campaign.blasts.reports.campaign_report`, the function behind
`campaign report`: the same columns in the same order, their headers in the reader's language,
text that looks like a formula kept as text. Charts (server-side SVG, campaign/web/charts.py)
cover the campaign's own active period (`campaign.blasts.activity`): the funnel (planned, sent,
delivered, replies), sends/deliveries/replies per day and opt-outs per day.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from campaign.blasts.activity import DailyActivity, daily_opt_outs
from campaign.blasts.labels import campaign_label
from campaign.blasts.models import Campaign
from campaign.blasts.reports import COLUMNS, CampaignReport, campaign_report, report_bytes
from campaign.core.db import unit_of_work
from campaign.core.errors import Invalid
from campaign.core.i18n import N_, SOURCE_LOCALE, LazyString, _, get_locale
from campaign.hotline.models import User
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.charts import bar_chart, line_chart
from campaign.web.templating import templates
from messages.whatsapp import category_word

router = APIRouter()
manager = require_role(*MANAGER_ROLES)

# The report's columns (campaign.blasts.reports.COLUMNS) in people's words.
HEADERS: dict[str, LazyString] = {
    "step": N_("step"),
    "segment": N_("segment"),
    "language": N_("language"),
    "channel": N_("channel"),
    "planned": N_("planned"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "failed_by_code": N_("failed by error code"),
    "skipped": N_("skipped"),
    "skipped_by_reason": N_("skipped by reason"),
    "pending": N_("pending"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "replies": N_("replies"),
    "opt_outs": N_("opt-outs"),
    "help_requests": N_("help requests"),
    "reply_rate": N_("reply rate"),
    "segments": N_("SMS segments"),
    "estimated_cost": N_("estimated cost"),
}
def in_zone(value: datetime | None, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC moment shown in a campaign's timezone."""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt) if value else ""


templates.env.filters["campaign_label"] = campaign_label
templates.env.filters["in_zone"] = in_zone
templates.env.globals["category_word"] = category_word


def headers() -> dict[str, str]:
    """The report's column headers in the current locale (the page's table)."""
    return {column: str(HEADERS[column]) for column in COLUMNS}


def download_headers() -> dict[str, str]:
    """The headers of the CSV/XLSX downloads: the CLI's own column names in English (scripts
    reading `campaign report --format csv` read these too), people's words in other languages."""
    if get_locale() == SOURCE_LOCALE:
        return {column: column for column in COLUMNS}
    return headers()


def report_context(
    session: Session, campaign: Campaign, report: CampaignReport, activity: DailyActivity
) -> dict[str, Any]:
    """What the campaign page shows of its report: the table, the funnel and the charts."""
    names = headers()
    totals = report.totals
    funnel = bar_chart(
        [(key, names[key], int(totals[key])) for key in ("planned", "sent", "delivered", "replies")],
        title=_("Funnel"),
    )
    channel_chart: Markup | None = None
    if len(report.by_channel) > 1:  # sent, delivered, failed and replies side by side per channel
        channel_chart = bar_chart(
            [
                (f"{channel}:{key}", f"{campaign_label(channel)} · {names[key]}", int(figures[key]))
                for channel, figures in report.by_channel.items()
                for key in ("sent", "delivered", "failed", "replies")
            ],
            title=_("By channel"),
        )
    opt_outs = daily_opt_outs(session, campaign, activity.days)
    opt_chart: Markup | None = None
    if not activity.empty:
        opt_chart = line_chart(activity.days, {"opt_outs": opt_outs}, labels={"opt_outs": names["opt_outs"]})
    return {
        "report_columns": [c for c in COLUMNS if c not in ("failed_by_code", "skipped_by_reason")],
        "report_headers": names,
        "report_rows": report.rows.to_dict(orient="records"),
        "report_by_channel": report.by_channel,
        "channel_chart": channel_chart,
        "funnel_chart": funnel,
        "opt_out_chart": opt_chart,
        "opt_outs_per_day": opt_outs,
    }


@router.get("/campaigns/{slug}/report.{fmt}")
def report_download(
    request: Request, *, slug: str, fmt: str, user: Annotated[User, Depends(manager)]
) -> Response:
    """`campaign report --format csv|xlsx`, with the headers in the reader's language."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("format", _("%(value)r is not one of csv, xlsx", value=fmt[:20]))
    with unit_of_work(request.app.state.web.engine) as session:
        report = campaign_report(session, slug, settings=request.app.state.web.settings)
    sheets = (_("by step x language"), _("totals"))  # the CLI's sheet names, in English
    data = report_bytes(report, format=fmt, headers=download_headers(), sheets=sheets)
    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = {"Content-Disposition": f'attachment; filename="{slug}-report.{fmt}"'}
    return Response(data, media_type=media, headers=disposition)
