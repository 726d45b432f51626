"""A campaign's activity per local day over its own active period (the dashboard's chart).

The period is the campaign's, not the wall clock's: from the day it launched (or its first
activity) to its last activity, extended to today while it is still scheduled or running, at
most MAX_DAYS (the latest ones). So a campaign dated in the past or the future (the demo runs in
2027) charts its real activity instead of an empty "last 14 days".

Series use the report's definitions (campaign.blasts.reports): `sent` counts rows by the time the
provider accepted them, `delivered` by delivery time, `replies` inbound messages attributed to an
outbound of the campaign, by arrival. The database groups by UTC hour; hours are then placed in
the campaign's timezone, so days are local days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.blasts.models import Campaign, CampaignStatus, Outbound
from campaign.hotline.models import Inbound

MAX_DAYS = 92
SERIES = ("sent", "delivered", "replies")


@dataclass(frozen=True)
class DailyActivity:
    """`days` (ISO local dates, ascending) and, per series name, one count per day."""

    days: list[str]
    series: dict[str, list[int]]

    @property
    def empty(self) -> bool:
        return not self.days


def _hour(session: Session, column: Any) -> Any:
    """The UTC hour of a timestamp as text `YYYY-MM-DD HH` (the same on both databases)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.substr(column, 1, 13)  # SQLite stores naive UTC text: 'YYYY-MM-DD HH:MM:SS...'


def _per_local_day(session: Session, column: Any, zone: ZoneInfo, *conditions: Any) -> Counter[date]:
    hour = _hour(session, column).label("hour")
    rows = session.execute(
        select(hour, func.count()).where(column.is_not(None), *conditions).group_by(hour)
    ).all()
    counts: Counter[date] = Counter()
    for text, n in rows:
        moment = datetime.strptime(str(text), "%Y-%m-%d %H").replace(tzinfo=UTC)
        counts[moment.astimezone(zone).date()] += int(n)
    return counts


def daily_activity(session: Session, campaign: Campaign, *, now: datetime) -> DailyActivity:
    """The campaign's sent / delivered / replies per local day over its active period. Reads only."""
    zone = ZoneInfo(campaign.timezone)
    mine = Outbound.campaign_id == campaign.id
    counts = {
        "sent": _per_local_day(session, Outbound.sent_at, zone, mine),
        "delivered": _per_local_day(session, Outbound.delivered_at, zone, mine),
        "replies": _per_local_day(
            session,
            Inbound.received_at,
            zone,
            Inbound.outbound_id.in_(select(Outbound.id).where(mine)),
        ),
    }
    active_days = [day for series in counts.values() for day in series]
    if campaign.launched_at is not None:
        active_days.append(campaign.launched_at.astimezone(zone).date())
    if not active_days:
        return DailyActivity([], {name: [] for name in SERIES})
    first, last = min(active_days), max(active_days)
    today = now.astimezone(zone).date()
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING) and first <= today:
        last = max(last, today)
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return DailyActivity(
        [d.isoformat() for d in days],
        {name: [counts[name].get(d, 0) for d in days] for name in SERIES},
    )


def daily_opt_outs(session: Session, campaign: Campaign, days: list[str]) -> list[int]:
    """Opt-outs per local day over `days` (from `daily_activity`): inbound messages classified as
    opt-outs and attributed to an outbound of the campaign, by arrival (the report's `opt_outs`,
    spread over days). Reads only."""
    from campaign.hotline.models import Intent

    zone = ZoneInfo(campaign.timezone)
    counts = _per_local_day(
        session,
        Inbound.received_at,
        zone,
        Inbound.intent == Intent.OPT_OUT.value,
        Inbound.outbound_id.in_(select(Outbound.id).where(Outbound.campaign_id == campaign.id)),
    )
    return [counts.get(date.fromisoformat(day), 0) for day in days]
