"""Per-contact frequency caps across campaigns: how many blast messages one person gets.

Two rules, checked by planning for each contact (set-based: one aggregate query per keyset chunk
of contacts, never one query per contact):
- at most `contact_max_per_week` blast messages in any 7 days (deployment setting, default 2);
- a discreet message (safety flag `discreet`: someone else may read the phone, as with domestic
  violence) at most once per `discreet_min_days` (default 14; a campaign's
  `pacing.discreet_min_days` overrides it).
Counted: blast rows (they have an occurrence) queued, in flight or sent, by their send time
(`sent_at`, else `send_after`), from `since` on; a queued row further ahead counts too, which only
errs on the side of sending less. Undelivered, failed, skipped, cancelled and expired rows do not
count. Over a cap, planning skips the contact with reason `frequency_cap`. Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.rules import DeploymentRules
from campaign.core.db import is_postgres

FREQUENCY_CAP = "frequency_cap"
COUNTED = (
    OutboundStatus.QUEUED,
    OutboundStatus.SENDING,
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.UNKNOWN,
)
WEEK = timedelta(days=7)


def discreet_message_ids(session: Session) -> frozenset[int]:
    """Ids of the messages flagged discreet (a small table, read once per planning run)."""
    from messages.models import Message

    return frozenset(
        message_id
        for message_id, flags in session.execute(select(Message.id, Message.safety_flags))
        if "discreet" in (flags or [])
    )


@dataclass
class FrequencyCap:
    """The caps for one planning run at `at` (the firing time); load a chunk, then ask per contact."""

    at: datetime
    per_week: int
    discreet_days: int
    discreet_ids: frozenset[int]
    _recent: dict[int, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def for_campaign(
        cls, session: Session, *, at: datetime, rules: DeploymentRules, campaign_discreet_days: int | None
    ) -> FrequencyCap:
        days = rules.discreet_min_days if campaign_discreet_days is None else campaign_discreet_days
        return cls(at, rules.contact_max_per_week, days, discreet_message_ids(session))

    def load(self, session: Session, *, after_id: int, upto_id: int) -> None:
        """Counts the recent blast messages of contacts with after_id < id <= upto_id (one query)."""
        week_since = self.at - WEEK
        discreet_since = self.at - timedelta(days=self.discreet_days)
        when = func.coalesce(Outbound.sent_at, Outbound.send_after)
        in_week = case((when >= week_since, 1), else_=0)
        discreet = (
            case((Outbound.message_id.in_(self.discreet_ids) & (when >= discreet_since), 1), else_=0)
            if self.discreet_ids and self.discreet_days
            else None
        )
        # SQLite keeps no statistics: offered the status index, it scans every queued row of outbound
        # for each chunk (quadratic while a large step is being planned). `status || ''` leaves it
        # the contact index, a range of one chunk's contacts.
        status = Outbound.status if is_postgres(session) else Outbound.status.concat("")
        columns = [Outbound.contact_id, func.sum(in_week)]
        columns.append(func.sum(discreet) if discreet is not None else func.sum(0))
        query = (
            select(*columns)
            .where(
                Outbound.contact_id > after_id,
                Outbound.contact_id <= upto_id,
                Outbound.occurrence_id.is_not(None),
                status.in_(COUNTED),
                when >= min(week_since, discreet_since),
            )
            .group_by(Outbound.contact_id)
        )
        self._recent = {int(c): (int(w or 0), int(d or 0)) for c, w, d in session.execute(query)}

    def over(self, contact_id: int, message_id: int) -> bool:
        """True when one more message `message_id` to this contact would break a cap."""
        recent = self._recent.get(contact_id)
        if recent is None:
            return False
        in_week, discreet = recent
        return in_week >= self.per_week or (message_id in self.discreet_ids and discreet > 0)
