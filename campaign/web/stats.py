"""Read-only aggregates for the dashboard pages: campaign funnel, daily series, translation coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.hotline.models import Inbound, Intent
from messages.coverage import coverage
from messages.library import list_messages
from messages.models import Message
from messages.packload import message_to_spec

SENT_STATUSES = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED)
FAILED_STATUSES = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)


@dataclass
class Funnel:
    """planned -> sent -> delivered -> replied, with opt-outs, statuses and failures by code."""

    planned: int = 0
    sent: int = 0
    delivered: int = 0
    replied: int = 0
    opt_outs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def rate(self, part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f}%" if whole else "-"


def funnel(session: Session, campaign_id: int) -> Funnel:
    """The campaign's funnel in four small aggregate queries."""
    result = Funnel()
    for status, n in session.execute(
        select(Outbound.status, func.count())
        .where(Outbound.campaign_id == campaign_id)
        .group_by(Outbound.status)
    ):
        result.by_status[str(status)] = n
    result.planned = sum(result.by_status.values())
    result.sent = sum(result.by_status.get(s, 0) for s in SENT_STATUSES)
    result.delivered = result.by_status.get(OutboundStatus.DELIVERED, 0)
    for code, n in session.execute(
        select(Outbound.error_code, func.count())
        .where(Outbound.campaign_id == campaign_id, Outbound.status.in_(FAILED_STATUSES))
        .group_by(Outbound.error_code)
    ):
        result.failures[code or "(sin código)"] = n
    result.replied = int(
        session.scalar(
            select(func.count(func.distinct(Inbound.contact_id))).where(
                Inbound.campaign_id == campaign_id, Inbound.intent != Intent.OPT_OUT
            )
        )
        or 0
    )
    result.opt_outs = int(
        session.scalar(
            select(func.count(func.distinct(Inbound.contact_id))).where(
                Inbound.campaign_id == campaign_id, Inbound.intent == Intent.OPT_OUT
            )
        )
        or 0
    )
    return result


def daily_series(
    session: Session, campaign_id: int, *, now: datetime, days: int = 14
) -> tuple[list[str], dict[str, list[int]]]:
    """Per UTC day over the last `days`: messages sent, delivered, and replies received."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]

    def per_day(column, *conditions) -> list[int]:
        day = func.date(column)
        rows = session.execute(select(day, func.count()).where(column >= start, *conditions).group_by(day))
        counts = {str(d)[:10]: n for d, n in rows}
        return [counts.get(label, 0) for label in labels]

    return labels, {
        "enviados": per_day(Outbound.sent_at, Outbound.campaign_id == campaign_id),
        "entregados": per_day(Outbound.delivered_at, Outbound.campaign_id == campaign_id),
        "respuestas": per_day(Inbound.received_at, Inbound.campaign_id == campaign_id),
    }


def campaign_rows(session: Session) -> list[tuple[Campaign, int, int, int]]:
    """Every campaign with (planned, sent, replies) counts, newest first."""
    planned = dict(
        session.execute(select(Outbound.campaign_id, func.count()).group_by(Outbound.campaign_id)).all()
    )
    sent = dict(
        session.execute(
            select(Outbound.campaign_id, func.count())
            .where(Outbound.status.in_(SENT_STATUSES))
            .group_by(Outbound.campaign_id)
        ).all()
    )
    replies = dict(
        session.execute(select(Inbound.campaign_id, func.count()).group_by(Inbound.campaign_id)).all()
    )
    campaigns = session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()))
    return [(c, planned.get(c.id, 0), sent.get(c.id, 0), replies.get(c.id, 0)) for c in campaigns]


def translation_coverage(
    session: Session, languages: list[str]
) -> tuple[list[tuple[Message, dict[str, str]]], dict[str, dict[str, int]]]:
    """Per message, the status of each language ("missing" when absent), and totals per language.

    The same table as `campaign messages coverage` (messages.coverage), over the stored library.
    """
    messages = list_messages(session)
    result = coverage([message_to_spec(m) for m in messages], languages)
    ordered = sorted(messages, key=lambda m: (m.topic, m.slug))
    return [(m, result.cells[m.slug]) for m in ordered], result.totals
