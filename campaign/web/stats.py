"""Read-only aggregates for the dashboard pages: campaign report and activity, translation coverage.

Campaign figures come from `campaign.blasts.reports.campaign_report`, the function behind
`campaign report`, so the web and the CLI cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.blasts.activity import DailyActivity, daily_activity
from campaign.blasts.models import Campaign
from campaign.blasts.reports import CampaignReport, campaign_report
from campaign.core.config import Settings
from messages.coverage import coverage
from messages.library import list_messages
from messages.models import Message
from messages.packload import message_to_spec


def campaign_summary(
    session: Session, campaign: Campaign, *, now: datetime, settings: Settings
) -> tuple[CampaignReport, DailyActivity]:
    """The campaign's report (the same figures as `campaign report --json`) and its daily activity."""
    report = campaign_report(session, campaign.slug, settings=settings)
    return report, daily_activity(session, campaign, now=now)


def campaign_rows(session: Session, *, settings: Settings) -> list[tuple[Campaign, dict[str, Any]]]:
    """Every campaign with its report totals (planned, sent, replies, ...), newest first."""
    campaigns = session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()))
    return [(c, campaign_report(session, c.slug, settings=settings).totals) for c in campaigns]


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
