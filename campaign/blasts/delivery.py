"""The outbound state machine: legal moves, monotonic delivery-status updates, cancelling queued rows.

Diagram in campaign/blasts/models.py (OUTBOUND_TRANSITIONS). Delivery status only moves forward
(invariant 5): queued < sending < sent < delivered; undelivered, failed, skipped, cancelled and
expired are terminal. A late `sent` callback never overwrites `delivered`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from audiences.consent import opt_out
from audiences.models import Contact, ContactStatus
from campaign.blasts.models import OUTBOUND_TRANSITIONS, Outbound, OutboundStatus
from campaign.core.db import rowcount
from campaign.core.errors import InvalidTransition
from campaign.providers.base import UNSUBSCRIBED_CODE

TERMINAL = frozenset(status for status, targets in OUTBOUND_TRANSITIONS.items() if not targets)

# Progress order for monotonic updates; `unknown` sits with `sending` (sent or not, nobody knows yet).
_RANK: dict[OutboundStatus, int] = {
    OutboundStatus.QUEUED: 0,
    OutboundStatus.SENDING: 1,
    OutboundStatus.UNKNOWN: 1,
    OutboundStatus.SENT: 2,
    OutboundStatus.DELIVERED: 3,
    OutboundStatus.UNDELIVERED: 3,
    OutboundStatus.FAILED: 3,
    OutboundStatus.SKIPPED: 3,
    OutboundStatus.CANCELLED: 3,
    OutboundStatus.EXPIRED: 3,
}


def can_transition(current: OutboundStatus | str, target: OutboundStatus | str) -> bool:
    """True when OUTBOUND_TRANSITIONS allows `current` -> `target`."""
    return OutboundStatus(target) in OUTBOUND_TRANSITIONS[OutboundStatus(current)]


def transition(outbound: Outbound, target: OutboundStatus, *, now: datetime) -> None:
    """Moves `outbound` to `target` (sets status_at). Raises InvalidTransition on an illegal move."""
    current = OutboundStatus(outbound.status)
    if not can_transition(current, target):
        raise InvalidTransition("outbound", current, target)
    outbound.status = OutboundStatus(target)
    outbound.status_at = now


def is_forward(current: OutboundStatus | str, target: OutboundStatus | str) -> bool:
    """Pure rule of apply_status_update: would `target` move `current` forward (and legally)?"""
    current, target = OutboundStatus(current), OutboundStatus(target)
    if current in TERMINAL or target == current:
        return False
    if _RANK[target] < _RANK[current]:
        return False
    return can_transition(current, target)


def forward_update(
    current: OutboundStatus | str,
    target: OutboundStatus | str,
    *,
    sent_at: datetime | None,
    error_code: str | None = None,
    error_message: str | None = None,
    now: datetime,
) -> dict[str, Any] | None:
    """Pure rule of every provider status update: the column values `target` sets on a row now in
    `current` (sent `sent_at`), or None when it would regress or repeat the status (a late `sent`
    after `delivered`, anything after a terminal status): then nothing changes."""
    target = OutboundStatus(target)
    if not is_forward(current, target):
        return None
    values: dict[str, Any] = {"status": target, "status_at": now}
    if target == OutboundStatus.SENT or (target == OutboundStatus.DELIVERED and sent_at is None):
        values["sent_at"] = sent_at or now
    if target == OutboundStatus.DELIVERED:
        values["delivered_at"] = now
    if error_code:
        values["error_code"] = str(error_code)
        if error_message:
            values["error_message"] = error_message
    return values


def apply_status_update(
    session: Session,
    outbound: Outbound,
    status: OutboundStatus | str,
    *,
    error_code: str | None = None,
    now: datetime,
    error_message: str | None = None,
) -> bool:
    """Applies a provider status (callback, fetch, reconcile) if it moves the row forward.

    Returns False and changes nothing when the update would regress or repeat the status (a late
    `sent` after `delivered`, anything after a terminal status). Error code 21610 (the number has
    replied STOP to our sender) opts the contact out and cancels their queued rows. Flushes.
    """
    values = forward_update(
        outbound.status, status, sent_at=outbound.sent_at, error_code=error_code,
        error_message=error_message, now=now,
    )
    if values is None:
        return False
    for name, value in values.items():
        setattr(outbound, name, value)
    session.flush()
    if error_code and str(error_code) == UNSUBSCRIBED_CODE:
        opt_out_unsubscribed(session, contact_id=outbound.contact_id, now=now)
    return True


def opt_out_unsubscribed(session: Session, *, contact_id: int, now: datetime) -> int:
    """The provider says the number unsubscribed (21610): opt the contact out, cancel their queue.

    Returns the number of queued rows cancelled. Flushes.
    """
    contact = session.get(Contact, contact_id)
    if contact is not None and contact.status == ContactStatus.ACTIVE:
        source = f"provider error {UNSUBSCRIBED_CODE}"
        opt_out(session, contact, channel="provider", keyword=None, source=source, now=now)
    return cancel_pending(session, contact_id=contact_id, reason="opted_out", now=now)


# Rows an opt-out cancels: queued (due now or held for the next send window) and those whose send
# outcome is unknown (reconcile would otherwise re-send them after the STOP).
CANCELLABLE = (OutboundStatus.QUEUED, OutboundStatus.UNKNOWN)


def cancel_pending(session: Session, *, contact_id: int, reason: str, now: datetime) -> int:
    """Cancels every queued, held or unknown-outcome outbound row of one contact (e.g. on opt-out),
    blasts and hotline replies alike; returns how many.

    Rows already claimed by a dispatcher (`sending`) are left alone: dispatch re-checks the
    muted contacts right before each provider call. An unknown row the provider did accept stays
    cancelled (its late callback cannot move a terminal status). One UPDATE; flushes first.
    """
    session.flush()
    result = session.execute(_CANCEL_PENDING, {"_contact": contact_id, "_reason": reason[:40], "_now": now})
    for loaded in list(session.identity_map.values()):  # what "evaluate" did, without building it each time
        if isinstance(loaded, Outbound) and loaded.contact_id == contact_id and loaded.status in CANCELLABLE:
            session.expire(loaded, ["status", "skip_reason", "status_at"])
    return rowcount(result)


_OUTBOUND_TABLE = Outbound.__table__
_CANCEL_PENDING = (  # built once: on every opt-out (the hot path of an inbound STOP)
    update(_OUTBOUND_TABLE)
    .where(
        _OUTBOUND_TABLE.c.contact_id == bindparam("_contact"), _OUTBOUND_TABLE.c.status.in_(CANCELLABLE)
    )
    .values(
        status=OutboundStatus.CANCELLED, skip_reason=bindparam("_reason"),
        status_at=bindparam("_now", type_=_OUTBOUND_TABLE.c.status_at.type),
    )
)
