"""Campaign results with pandas: per step x segment x language, from the outbound and inbound rows.

Columns: planned (rows meant to be sent), sent (accepted by the provider), delivered, failed
(failed or undelivered) with counts by error code, skipped with counts by reason, pending,
expired/cancelled, replies (inbound messages attributed to an outbound of the campaign, via
Inbound.outbound_id), opt-outs, help requests (help or urgent), reply rate (replies / sent) and
cost in segments (segments of sent messages) with its estimated price.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.blasts.models import Outbound, OutboundStatus, Step
from campaign.hotline.models import Inbound, Intent

KEYS = ["step", "segment", "language"]
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
    """The report of one campaign: one row per step x segment x language, and the totals."""

    slug: str
    name: str
    status: str
    currency: str
    rows: pd.DataFrame
    totals: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.slug,
            "name": self.name,
            "status": self.status,
            "currency": self.currency,
            "rows": json.loads(self.rows.to_json(orient="records")),
            "totals": self.totals,
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

def _by_code(values: pd.Series) -> str:
    counts = values.dropna().astype(str).value_counts()
    return " ".join(f"{code}:{n}" for code, n in sorted(counts.items()))


def campaign_report(
    session: Session, slug: str, *, price_per_segment: float | None = None, currency: str | None = None
) -> CampaignReport:
    """Builds the report from the database (reads only). Raises NotFound for an unknown slug."""
    from campaign.core.config import get_settings

    settings = get_settings()
    campaign = get_campaign(session, slug)
    price = (
        price_per_segment
        if price_per_segment is not None
        else (
            campaign.price_per_segment
            if campaign.price_per_segment is not None
            else settings.price_per_segment
        )
    )
    outbound = pd.DataFrame(
        session.execute(
            select(
                Outbound.id,
                Step.key.label("step"),
                Step.segment_slug,
                Step.query,
                Outbound.language,
                Outbound.status,
                Outbound.error_code,
                Outbound.skip_reason,
                Outbound.segments,
                Outbound.sent_at,
            )
            .join(Step, Step.id == Outbound.step_id)
            .where(Outbound.campaign_id == campaign.id)
        ).all(),
        columns=[
            "id",
            "step",
            "segment_slug",
            "query",
            "language",
            "status",
            "error_code",
            "skip_reason",
            "segments",
            "sent_at",
        ],
    )
    inbound = pd.DataFrame(
        session.execute(
            select(Inbound.outbound_id, Inbound.intent)
            .join(Outbound, Outbound.id == Inbound.outbound_id)
            .where(Outbound.campaign_id == campaign.id)
        ).all(),
        columns=["id", "intent"],
    )
    rows = _aggregate(outbound, inbound, price)
    totals = _totals(rows, price)
    return CampaignReport(
        campaign.slug, campaign.name, str(campaign.status), currency or settings.price_currency, rows, totals
    )


def _aggregate(outbound: pd.DataFrame, inbound: pd.DataFrame, price: float) -> pd.DataFrame:
    if outbound.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = outbound.copy()
    df["segment"] = df["segment_slug"].fillna(df["query"]).fillna("")
    df["language"] = df["language"].fillna("-")
    status = df["status"].astype(str)
    # Sent = accepted by the provider: a row that failed after acceptance (callback) was sent too.
    df["is_sent"] = status.isin([s.value for s in SENT]) | df["sent_at"].notna()
    df["is_planned"] = status != OutboundStatus.SKIPPED.value
    df["is_delivered"] = status == OutboundStatus.DELIVERED.value
    df["is_failed"] = status.isin([s.value for s in FAILED])
    df["is_skipped"] = status == OutboundStatus.SKIPPED.value
    df["is_pending"] = status.isin([s.value for s in PENDING])
    df["is_expired"] = status == OutboundStatus.EXPIRED.value
    df["is_cancelled"] = status == OutboundStatus.CANCELLED.value
    df["sent_segments"] = df["segments"].where(df["is_sent"], 0)
    intents = inbound.groupby("id")["intent"].agg(list) if not inbound.empty else pd.Series(dtype=object)
    df["replies"] = df["id"].map(intents.map(len)).fillna(0).astype(int)
    df["opt_outs"] = df["id"].map(intents.map(lambda v: v.count(Intent.OPT_OUT.value))).fillna(0).astype(int)
    df["help_requests"] = (
        df["id"]
        .map(intents.map(lambda v: v.count(Intent.HELP.value) + v.count(Intent.URGENT.value)))
        .fillna(0)
        .astype(int)
    )
    grouped = df.groupby(KEYS, sort=True)
    out = pd.DataFrame(
        {
            "planned": grouped["is_planned"].sum(),
            "sent": grouped["is_sent"].sum(),
            "delivered": grouped["is_delivered"].sum(),
            "failed": grouped["is_failed"].sum(),
            "failed_by_code": grouped.apply(  # type: ignore[call-overload]  # stubs lack include_groups
                lambda g: _by_code(g.loc[g["is_failed"], "error_code"]), include_groups=False
            ),
            "skipped": grouped["is_skipped"].sum(),
            "skipped_by_reason": grouped.apply(  # type: ignore[call-overload]  # stubs lack include_groups
                lambda g: _by_code(g.loc[g["is_skipped"], "skip_reason"]), include_groups=False
            ),
            "pending": grouped["is_pending"].sum(),
            "expired": grouped["is_expired"].sum(),
            "cancelled": grouped["is_cancelled"].sum(),
            "replies": grouped["replies"].sum(),
            "opt_outs": grouped["opt_outs"].sum(),
            "help_requests": grouped["help_requests"].sum(),
            "segments": grouped["sent_segments"].sum(),
        }
    ).reset_index()
    out["reply_rate"] = (out["replies"] / out["sent"].where(out["sent"] > 0)).fillna(0.0).round(4)
    out["estimated_cost"] = (out["segments"] * price).round(2)
    for column in COUNT_COLUMNS:
        out[column] = out[column].astype(int)
    return out[COLUMNS]


def _totals(rows: pd.DataFrame, price: float) -> dict[str, Any]:
    totals: dict[str, Any] = {c: int(rows[c].sum()) if not rows.empty else 0 for c in COUNT_COLUMNS}
    totals["reply_rate"] = round(totals["replies"] / totals["sent"], 4) if totals["sent"] else 0.0
    totals["estimated_cost"] = round(totals["segments"] * price, 2)
    return totals


def write_report(report: CampaignReport, *, format: str, out: Path | None = None) -> str:
    """Renders the report as csv, json or xlsx; writes `out` when given. Returns the text (csv/json)."""
    if format == "json":
        text = json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
    elif format in ("csv", "table"):
        buffer = io.StringIO()
        report.rows.to_csv(buffer, index=False)
        text = buffer.getvalue()
    elif format == "xlsx":
        if out is None:
            raise ValueError("xlsx needs an output path")
        out.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            report.rows.to_excel(writer, sheet_name="by step x language", index=False)
            pd.DataFrame([report.totals]).to_excel(writer, sheet_name="totals", index=False)
        return ""
    else:
        raise ValueError(f"unknown report format {format!r}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text


def print_report(report: CampaignReport) -> None:
    """The report as Rich tables (rows, then totals)."""
    from campaign.core.console import info, print_table

    shown = [
        "step",
        "language",
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
        "step",
        "lang",
        "planned",
        "sent",
        "deliv.",
        "failed",
        "skipped",
        "replies",
        "opt-outs",
        "help",
        "segm.",
    ]
    print_table(
        headers,
        report.rows[shown].itertuples(index=False, name=None),
        title=f"Campaign {report.slug} ({report.status})",
    )
    for row in report.rows.itertuples(index=False):
        if row.failed_by_code:
            info(f"  {row.step}/{row.language} failed by error code: {row.failed_by_code!s}")
        if row.skipped_by_reason:
            info(f"  {row.step}/{row.language} skipped by reason: {row.skipped_by_reason!s}")
    t = report.totals
    info(
        f"Totals: planned {t['planned']}, sent {t['sent']}, delivered {t['delivered']}, "
        f"failed {t['failed']}, "
        f"skipped {t['skipped']}, pending {t['pending']}, replies {t['replies']}, opt-outs {t['opt_outs']}, "
        f"help requests {t['help_requests']}, reply rate {t['reply_rate']:.1%}, "
        f"{t['segments']} segments (~{t['estimated_cost']:.2f} {report.currency})"
    )
