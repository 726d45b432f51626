"""Campaign results: per step x segment x language x channel, from grouped counts of outbound and
inbound rows.

One function, `campaign_report`, computes the figures every surface shows: `campaign report`
(table, csv, xlsx, json), the web dashboard's funnel and campaign list, and the demo's check.

Definitions (each used once, here): planned = rows meant to be sent (not skipped); sent =
accepted by the provider (status sent/delivered/undelivered, or a send time recorded before a
later failure); delivered; failed (failed or undelivered) with counts by error code; skipped
with counts by reason; pending; expired; cancelled; replies = inbound messages attributed to an
outbound of the campaign (Inbound.outbound_id); opt-outs and help requests (help or urgent) among
them; reply rate = replies / sent; segments of sent messages and their estimated price.

Channels: every row is one channel (`sms` or `whatsapp`; a `[whatsapp, sms]` step has a row for
each it used, the SMS sent after a WhatsApp failure included). Cost: an SMS costs its segments x
the price per segment; a WhatsApp message sent with a template (Content SID) costs the price of
its message's WhatsApp category, one sent as free text inside the 24 h window the session price
(`Settings.whatsapp_price`). `by_channel` sums the rows per channel.

The database does the counting (two GROUP BY queries, whatever the campaign's size); pandas
only shapes the few grouped rows into the report table.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.blasts.models import Campaign, Outbound, OutboundStatus, Step
from campaign.core.config import Settings
from campaign.core.spreadsheets import safe_frame, text_cells
from campaign.hotline.models import Inbound, Intent

KEYS = ["step", "segment", "language", "channel"]
SENT = {OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED}
FAILED = {OutboundStatus.FAILED, OutboundStatus.UNDELIVERED}
PENDING = {OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNKNOWN}
COLUMNS = [
    *KEYS,
    "planned",
    "sent",
    "delivered",
    "failed",
    "failed_by_code",
    "skipped",
    "skipped_by_reason",
    "pending",
    "expired",
    "cancelled",
    "replies",
    "opt_outs",
    "help_requests",
    "reply_rate",
    "segments",
    "estimated_cost",
]


@dataclass
class CampaignReport:
    """The report of one campaign: one row per step x segment x language, the totals, and the
    whole campaign's counts by status, failure code and skip reason."""

    slug: str
    name: str
    status: str
    currency: str
    rows: pd.DataFrame
    totals: dict[str, Any]
    breakdown: dict[str, dict[str, int]] = field(default_factory=dict)
    by_channel: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.slug,
            "name": self.name,
            "status": self.status,
            "currency": self.currency,
            "rows": json.loads(self.rows.to_json(orient="records")),
            "totals": self.totals,
            "breakdown": self.breakdown,
            "by_channel": self.by_channel,
        }


# The additive counts of a report row (summed for totals; reply rate and cost are derived).
COUNT_COLUMNS = (
    "planned",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "pending",
    "expired",
    "cancelled",
    "replies",
    "opt_outs",
    "help_requests",
    "segments",
)
# Summed per channel (`CampaignReport.by_channel`).
CHANNEL_COLUMNS = ("planned", "sent", "delivered", "failed", "skipped", "replies", "segments")
HELP_INTENTS = (Intent.HELP.value, Intent.URGENT.value)


def _price(campaign: Campaign, price_per_segment: float | None, settings: Settings) -> float:
    if price_per_segment is not None:
        return price_per_segment
    if campaign.price_per_segment is not None:
        return campaign.price_per_segment
    return settings.price_per_segment


def campaign_report(
    session: Session,
    slug: str,
    *,
    price_per_segment: float | None = None,
    currency: str | None = None,
    settings: Settings | None = None,
) -> CampaignReport:
    """Builds the report from the database (reads only). Raises NotFound for an unknown slug."""
    from campaign.core.config import get_settings

    settings = settings or get_settings()
    campaign = get_campaign(session, slug)
    price = _price(campaign, price_per_segment, settings)
    rows, breakdown = _grouped_counts(session, campaign.id)
    _costs(session, campaign.id, rows, price, settings)
    frame = _frame(rows)
    return CampaignReport(
        campaign.slug,
        campaign.name,
        str(campaign.status),
        currency or settings.price_currency,
        frame,
        _totals(frame, sum(r["cost"] for r in rows.values())),
        breakdown,
        _by_channel(frame, rows),
    )


Key = tuple[str, str, str, str]


def _key(
    step: str | None, segment_slug: str | None, query: str | None, language: str | None, channel: str | None
) -> Key:
    return (step or "-", segment_slug or query or "", language or "-", channel or "sms")


def _grouped_counts(
    session: Session, campaign_id: int
) -> tuple[dict[Key, dict[str, Any]], dict[str, dict[str, int]]]:
    """Per (step, segment, language): the counts of COUNT_COLUMNS and the failure codes and skip
    reasons; plus the campaign's counts by status, failure code and skip reason."""
    was_sent = or_(Outbound.status.in_([s.value for s in SENT]), Outbound.sent_at.is_not(None))
    groups = (
        Step.key,
        Step.segment_slug,
        Step.query,
        Outbound.language,
        Outbound.channel,
        Outbound.status,
        Outbound.error_code,
        Outbound.skip_reason,
    )
    outbound = session.execute(
        select(
            *groups,
            func.count(),
            func.sum(case((was_sent, 1), else_=0)),
            func.sum(case((was_sent, Outbound.segments), else_=0)),
        )
        .outerjoin(Step, Step.id == Outbound.step_id)
        .where(Outbound.campaign_id == campaign_id)
        .group_by(*groups)
    ).all()
    rows: dict[Key, dict[str, Any]] = {}
    breakdown: dict[str, dict[str, int]] = {"by_status": {}, "failed_by_code": {}, "skipped_by_reason": {}}

    def row(key: Key) -> dict[str, Any]:
        if key not in rows:
            rows[key] = {**dict.fromkeys(COUNT_COLUMNS, 0), "failed_by_code": {}, "skipped_by_reason": {}}
        return rows[key]

    for step, segment_slug, query, language, channel, status, code, reason, n, sent, segments in outbound:
        r = row(_key(step, segment_slug, query, language, channel))
        n, status = int(n), str(status)
        r["sent"] += int(sent or 0)
        if (channel or "sms") == "sms":  # WhatsApp is priced per message, not per SMS segment
            r["segments"] += int(segments or 0)
        _add(breakdown["by_status"], status, n)
        if status == OutboundStatus.SKIPPED:
            r["skipped"] += n
            _add(r["skipped_by_reason"], reason or "-", n)
            _add(breakdown["skipped_by_reason"], reason or "-", n)
            continue
        r["planned"] += n
        if status == OutboundStatus.DELIVERED:
            r["delivered"] += n
        if status in FAILED:
            r["failed"] += n
            _add(r["failed_by_code"], code or "-", n)
            _add(breakdown["failed_by_code"], code or "-", n)
        if status in PENDING:
            r["pending"] += n
        if status == OutboundStatus.EXPIRED:
            r["expired"] += n
        if status == OutboundStatus.CANCELLED:
            r["cancelled"] += n
    reply_groups = (
        Step.key, Step.segment_slug, Step.query, Outbound.language, Outbound.channel, Inbound.intent
    )
    inbound = session.execute(
        select(*reply_groups, func.count())
        .join(Outbound, Outbound.id == Inbound.outbound_id)
        .outerjoin(Step, Step.id == Outbound.step_id)
        .where(Outbound.campaign_id == campaign_id)
        .group_by(*reply_groups)
    ).all()
    for step, segment_slug, query, language, channel, intent, n in inbound:
        r = row(_key(step, segment_slug, query, language, channel))
        r["replies"] += int(n)
        if str(intent) == Intent.OPT_OUT:
            r["opt_outs"] += int(n)
        if str(intent) in HELP_INTENTS:
            r["help_requests"] += int(n)
    for counts in breakdown.values():
        ordered = sorted(counts.items())
        counts.clear()
        counts.update(ordered)
    return rows, breakdown


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _by_code(counts: dict[str, int]) -> str:
    return " ".join(f"{code}:{n}" for code, n in sorted(counts.items()))


def _costs(
    session: Session, campaign_id: int, rows: dict[Key, dict[str, Any]], price: float, settings: Settings
) -> None:
    """Each row's estimated cost: SMS segments sent x `price`; each WhatsApp message sent at the
    price of its template's category (Content SID on the row), or the session price (free text)."""
    from messages.models import Message

    for counts in rows.values():
        counts["cost"] = counts["segments"] * price
    was_sent = or_(Outbound.status.in_([s.value for s in SENT]), Outbound.sent_at.is_not(None))
    groups = (Step.key, Step.segment_slug, Step.query, Outbound.language, Message.whatsapp_category)
    whatsapp = session.execute(
        select(
            *groups,
            func.sum(case((and_(was_sent, Outbound.content_sid.is_not(None)), 1), else_=0)),
            func.sum(case((and_(was_sent, Outbound.content_sid.is_(None)), 1), else_=0)),
        )
        .outerjoin(Step, Step.id == Outbound.step_id)
        .outerjoin(Message, Message.id == Step.message_id)
        .where(Outbound.campaign_id == campaign_id, Outbound.channel == "whatsapp")
        .group_by(*groups)
    ).all()
    for step, segment_slug, query, language, category, templates, session_messages in whatsapp:
        found = rows.get(_key(step, segment_slug, query, language, "whatsapp"))
        if found is None:
            continue
        found["cost"] += int(templates or 0) * settings.whatsapp_price(category)
        found["cost"] += int(session_messages or 0) * settings.whatsapp_price("session")


def _frame(rows: dict[Key, dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    records = []
    for (step, segment, language, channel), counts in sorted(rows.items()):
        records.append(
            {
                "step": step,
                "segment": segment,
                "language": language,
                "channel": channel,
                **{c: int(counts[c]) for c in COUNT_COLUMNS},
                "failed_by_code": _by_code(counts["failed_by_code"]),
                "skipped_by_reason": _by_code(counts["skipped_by_reason"]),
                "estimated_cost": round(float(counts.get("cost", 0.0)), 4),
            }
        )
    out = pd.DataFrame.from_records(records)
    out["reply_rate"] = (out["replies"] / out["sent"].where(out["sent"] > 0)).fillna(0.0).round(4)
    out["estimated_cost"] = out["estimated_cost"].round(2)
    return out[COLUMNS]


def _totals(rows: pd.DataFrame, cost: float) -> dict[str, Any]:
    totals: dict[str, Any] = {c: int(rows[c].sum()) if not rows.empty else 0 for c in COUNT_COLUMNS}
    totals["reply_rate"] = round(totals["replies"] / totals["sent"], 4) if totals["sent"] else 0.0
    totals["estimated_cost"] = round(cost, 2)
    return totals


def _by_channel(frame: pd.DataFrame, rows: dict[Key, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows summed per channel: CHANNEL_COLUMNS, reply rate and estimated cost."""
    out: dict[str, dict[str, Any]] = {}
    if frame.empty:
        return out
    for channel, group in frame.groupby("channel", sort=True):
        sums: dict[str, Any] = {c: int(group[c].sum()) for c in CHANNEL_COLUMNS}
        sums["reply_rate"] = round(sums["replies"] / sums["sent"], 4) if sums["sent"] else 0.0
        sums["estimated_cost"] = round(sum(r["cost"] for k, r in rows.items() if k[3] == channel), 2)
        out[str(channel)] = sums
    return out


def write_report(report: CampaignReport, *, format: str, out: Path | None = None) -> str:
    """Renders the report as csv, json or xlsx; writes `out` when given. Returns the text (csv/json)."""
    if format == "json":
        text = json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
    elif format in ("csv", "table"):
        buffer = io.StringIO()
        safe_frame(report.rows).to_csv(buffer, index=False)
        text = buffer.getvalue()
    elif format == "xlsx":
        if out is None:
            raise ValueError("xlsx needs an output path")
        out.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            report.rows.to_excel(writer, sheet_name="by step x language", index=False)
            pd.DataFrame([report.totals]).to_excel(writer, sheet_name="totals", index=False)
            text_cells(writer.book)
        return ""
    else:
        raise ValueError(f"unknown report format {format!r}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text


def print_report(report: CampaignReport) -> None:
    """The report as Rich tables (rows, then totals)."""
    from campaign.blasts.labels import campaign_label
    from campaign.core.console import in_words, info, print_table
    from campaign.core.i18n import _

    shown = [
        "step",
        "language",
        "channel",
        "planned",
        "sent",
        "delivered",
        "failed",
        "skipped",
        "replies",
        "opt_outs",
        "help_requests",
        "segments",
    ]
    headers = [
        _("step"),
        _("lang"),
        _("channel"),
        _("planned"),
        _("sent"),
        _("deliv."),
        _("failed"),
        _("skipped"),
        _("replies"),
        _("opt-outs"),
        _("help"),
        _("segm."),
    ]
    table = report.rows[shown].copy()
    table["channel"] = table["channel"].map(campaign_label)
    print_table(
        headers,
        table.itertuples(index=False, name=None),
        title=_("Campaign %(slug)s (%(status)s)", slug=report.slug, status=campaign_label(report.status)),
    )
    for row in report.rows.itertuples(index=False):
        where = f"{row.step}/{row.language}/{campaign_label(row.channel)}"
        if row.failed_by_code:
            codes = in_words(row.failed_by_code)
            info(_("  %(where)s failed by error code: %(codes)s", where=where, codes=codes))
        if row.skipped_by_reason:
            reasons = ", ".join(
                f"{campaign_label(code)} {n}"
                for code, _sep, n in (part.rpartition(":") for part in str(row.skipped_by_reason).split())
            )
            info(_("  %(where)s skipped by reason: %(reasons)s", where=where, reasons=reasons))
    if len(report.by_channel) > 1:
        for channel, c in report.by_channel.items():
            channel_cost = f"{c['estimated_cost']:.2f}"
            info(_("%(channel)s: sent %(sent)s, delivered %(delivered)s, failed %(failed)s, "
                   "replies %(replies)s (~%(cost)s %(currency)s)", channel=campaign_label(channel),
                   sent=c["sent"], delivered=c["delivered"], failed=c["failed"], replies=c["replies"],
                   cost=channel_cost, currency=report.currency))
    t = report.totals
    reply_rate, cost = f"{t['reply_rate']:.1%}", f"{t['estimated_cost']:.2f}"
    info(
        _(
            "Totals: planned %(planned)s, sent %(sent)s, delivered %(delivered)s, failed %(failed)s, "
            "skipped %(skipped)s, pending %(pending)s, replies %(replies)s, opt-outs %(opt_outs)s, "
            "help requests %(help_requests)s, reply rate %(reply_rate)s, %(segments)s segments "
            "(~%(cost)s %(currency)s)",
            planned=t["planned"],
            sent=t["sent"],
            delivered=t["delivered"],
            failed=t["failed"],
            skipped=t["skipped"],
            pending=t["pending"],
            replies=t["replies"],
            opt_outs=t["opt_outs"],
            help_requests=t["help_requests"],
            reply_rate=reply_rate,
            segments=t["segments"],
            cost=cost,
            currency=report.currency,
        )
    )


def report_bytes(
    report: CampaignReport,
    *,
    format: str,
    headers: dict[str, str] | None = None,
    sheets: tuple[str, str] = ("by step x language", "totals"),
) -> bytes:
    """The report's csv or xlsx file as bytes (web downloads): the CLI's columns, in the CLI's
    order, named by `headers` (column -> the words shown; default: the CLI's own names). Text that
    looks like a formula stays text (csv: neutralized; xlsx: string cells)."""
    names = headers or {}
    rows = report.rows.rename(columns=lambda c: names.get(c, c))
    totals = pd.DataFrame([report.totals]).rename(columns=lambda c: names.get(c, c))
    if format == "csv":
        buffer = io.StringIO()
        safe_frame(rows).to_csv(buffer, index=False)
        return buffer.getvalue().encode("utf-8")
    if format != "xlsx":
        raise ValueError(f"unknown report format {format!r}")
    binary = io.BytesIO()
    with pd.ExcelWriter(binary, engine="openpyxl") as writer:
        rows.to_excel(writer, sheet_name=sheets[0][:31], index=False)
        totals.to_excel(writer, sheet_name=sheets[1][:31], index=False)
        text_cells(writer.book)
    return binary.getvalue()
