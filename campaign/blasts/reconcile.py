"""Reconciling sends whose outcome is unknown (invariant 7): ask the provider, never blindly re-send.

A row is in doubt when a dispatcher died between claiming it and recording the outcome (left
`sending`), or when the provider request timed out or the connection dropped (`unknown`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine

from audiences.models import Contact
from campaign.blasts.channels import SMS, WHATSAPP, address_for
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.muting import SKEW_MARGIN, find_mutes
from campaign.core.db import unit_of_work
from campaign.core.errors import ProviderError, safe_reason
from campaign.providers.base import Provider, ProviderResult

log = logging.getLogger(__name__)

# A live dispatcher finishes a batch within dispatch.MAX_BATCH_SECONDS (10 s) times the number of
# dispatchers sharing the rate; a claim older than the lease belongs to a dead one.
DEFAULT_LEASE_SECONDS = 300.0
FIND_MARGIN = timedelta(seconds=60)  # clock skew between us and the provider's date_created


@dataclass
class ReconcileResult:
    """What one reconcile pass found: rows checked, found at the provider, re-queued, settled as
    muted (never re-sent), left unknown."""

    checked: int = 0
    found: int = 0
    requeued: int = 0
    unresolved: int = 0
    muted: int = 0  # not at the provider, contact muted since the claim: skipped or cancelled


def reconcile(
    engine: Engine,
    provider: Provider,
    *,
    now: datetime,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> ReconcileResult:
    """Settles rows whose send outcome is unknown, by asking the provider; never blindly re-sends.

    Looks at `unknown` rows and at `sending` rows claimed more than `lease_seconds` ago (their
    dispatcher died: a live one finishes a batch within MAX_BATCH_SECONDS). Each is looked up
    with `provider.find(to, since=claimed_at - margin)`, matched by body and by a SID no other
    row holds: found -> the provider's status (usually `sent`) with its SID; the provider has no
    record -> `queued` again, due now, unless its contact is muted since the claim (opted out or
    blocked; for blasts also an open case or a help/urgent message, campaign.blasts.muting): then
    the row is skipped (blast) or cancelled (hotline reply), never re-sent. When the lookup itself
    fails the row is left `unknown`.
    Commits once; every update is guarded by the row's status and claim token as read.
    """
    stale = now - timedelta(seconds=lease_seconds)
    query = (
        select(
            Outbound.id,
            Outbound.status,
            Outbound.claimed_by,
            Outbound.claimed_at,
            Outbound.body,
            Outbound.contact_id,
            Outbound.campaign_id,
            Outbound.created_at,
            Outbound.channel,
            Contact.phone,
        )
        .join(Contact, Contact.id == Outbound.contact_id)
        .where(
            or_(
                Outbound.status == OutboundStatus.UNKNOWN,
                and_(Outbound.status == OutboundStatus.SENDING, Outbound.claimed_at < stale),
            )
        )
        .order_by(Outbound.id)
    )
    outcome = ReconcileResult()
    with unit_of_work(engine) as session:
        rows = session.execute(query).all()
        claims = [row.claimed_at for row in rows if row.claimed_at is not None]
        since = min(claims, default=now) - SKEW_MARGIN
        mutes = find_mutes(session, (row.contact_id for row in rows), since=since)
        taken: set[str] = set()
        for row in rows:
            outcome.checked += 1
            claim = row.claimed_by
            same_claim = Outbound.claimed_by.is_(None) if claim is None else Outbound.claimed_by == claim
            guard = and_(Outbound.id == row.id, Outbound.status == row.status, same_claim)
            since = (row.claimed_at or now) - FIND_MARGIN
            try:
                candidates = provider.find(address_for(row.channel or SMS, row.phone), since)
            except ProviderError as exc:
                log.warning("reconcile: lookup of outbound %s failed: %s", row.id, safe_reason(exc))
                session.execute(
                    update(Outbound).where(guard).values(status=OutboundStatus.UNKNOWN, status_at=now)
                    .execution_options(synchronize_session=False)
                )
                outcome.unresolved += 1
                continue
            # A WhatsApp template comes back with the template's text, not ours: match by recipient.
            body = None if row.channel == WHATSAPP else row.body
            match = _match(session, candidates, body=body, taken=taken)
            blast = row.campaign_id is not None
            mute = mutes.get(row.contact_id)
            if match is None and mute is not None and mute.applies(blast=blast, written_at=row.created_at):
                # Not at the provider, and the contact is muted since: settled, never re-sent.
                status = OutboundStatus.SKIPPED if blast else OutboundStatus.CANCELLED
                session.execute(
                    update(Outbound)
                    .where(guard)
                    .values(status=status, skip_reason=mute.reason[:40], claimed_by=None, status_at=now)
                    .execution_options(synchronize_session=False)
                )
                outcome.muted += 1
                continue
            if match is None:
                session.execute(
                    update(Outbound)
                    .where(guard)
                    .values(status=OutboundStatus.QUEUED, claimed_by=None, send_after=now, status_at=now)
                    .execution_options(synchronize_session=False)
                )
                outcome.requeued += 1
                continue
            taken.add(match.sid)
            target = provider.map_status(match.status) or OutboundStatus.SENT
            session.execute(
                update(Outbound)
                .where(guard)
                .values(
                    status=target,
                    provider_sid=match.sid,
                    provider=provider.name,
                    sent_at=match.date_created or now,
                    status_at=now,
                    error_code=match.error_code,
                )
                .execution_options(synchronize_session=False)
            )
            outcome.found += 1
    return outcome


def _match(
    session: Any, candidates: list[ProviderResult], *, body: str | None, taken: set[str]
) -> ProviderResult | None:
    """The provider's message for this row: same body (when the provider reports it and `body` is
    given), SID unused."""
    fitting = [
        c for c in candidates if c.sid not in taken and (body is None or c.body is None or c.body == body)
    ]
    if not fitting:
        return None
    sids = [c.sid for c in fitting]
    used = set(session.scalars(select(Outbound.provider_sid).where(Outbound.provider_sid.in_(sids))))
    for candidate in sorted(fitting, key=lambda c: c.date_created or _LATEST):
        if candidate.sid not in used:
            return candidate
    return None


_LATEST = datetime.max.replace(tzinfo=UTC)
