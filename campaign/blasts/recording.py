"""Writing send outcomes back to the outbound rows, a batch at a time, never moving a row backwards.

Set-based: one statement per kind of outcome and batch (executemany for the per-row values), so
recording costs a few statements per flush, not three per message. Every update is guarded by the
row's status, so a status callback that arrived first (`delivered` before we recorded `sent`)
keeps its status (invariant 5), and only rows still `sending` take an error or a mute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, literal, or_, select, update
from sqlalchemy.engine import Engine

from campaign.blasts.channels import WHATSAPP
from campaign.blasts.delivery import opt_out_unsubscribed
from campaign.blasts.fallback import FAILED, falls_back, queue_sms_fallbacks
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.muting import Mute
from campaign.blasts.ratelimit import backoff_seconds, jitter_for
from campaign.core.config import Settings
from campaign.core.db import unit_of_work
from campaign.core.errors import ProviderError, safe_reason
from campaign.providers.base import Provider, ProviderResult, UnknownOutcome

IN_FLIGHT = (OutboundStatus.SENDING, OutboundStatus.UNKNOWN)


@dataclass(frozen=True)
class ClaimedRow:
    """One claimed row, as the sender needs it."""

    id: int
    contact_id: int
    to: str
    body: str
    attempts: int
    blast: bool
    written_at: datetime | None = None  # a hotline reply's creation (campaign.blasts.muting.Mute.applies)
    # WhatsApp (campaign.blasts.channels): `to` is then `whatsapp:+...`; a template replaces the body
    # outside the 24 h window; media_url is a voice note's signed URL.
    channel: str = "sms"
    content_sid: str | None = None
    content_variables: str | None = None
    media_url: str | None = None


@dataclass
class SendOutcome:
    """What became of one row at the provider's door: a result, an error, or a mute."""

    row: ClaimedRow
    result: ProviderResult | None = None
    error: ProviderError | None = None
    muted: Mute | None = None


@dataclass
class RecordCounts:
    sent: int = 0
    muted: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0


def record_outcomes(
    engine: Engine,
    provider: Provider,
    outcomes: list[SendOutcome],
    *,
    now: datetime,
    settings: Settings,
    errors: dict[str, int],
) -> RecordCounts:
    """Writes a batch of outcomes in one transaction; counts error codes into `errors`. A muted
    blast row is skipped like at planning, a muted hotline reply cancelled like a queued one on
    opt-out; transient errors go back to `queued` with backoff until `settings.max_attempts`;
    21610 (unsubscribed) opts the contact out; a WhatsApp row refused as "not a WhatsApp user" or
    "outside the window" gets its SMS queued when its step allows (campaign.blasts.fallback). A
    WhatsApp row that went as free text inside the window loses the template it was planned with
    (the report prices what went)."""
    counts = RecordCounts()
    accepted: list[dict[str, Any]] = []
    muted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    unsubscribed: list[int] = []
    whatsapp_failed: list[int] = []
    free_text: list[dict[str, Any]] = []  # WhatsApp rows that went as free text inside the window
    for outcome in outcomes:
        row = outcome.row
        if outcome.muted is not None:
            status = OutboundStatus.SKIPPED if row.blast else OutboundStatus.CANCELLED
            muted.append({"b_id": row.id, "b_status": status, "b_reason": outcome.muted.reason[:40]})
            counts.muted += 1
            continue
        if outcome.result is not None:
            res = outcome.result
            target = provider.map_status(res.status) or OutboundStatus.SENT
            accepted.append({"b_id": row.id, "b_sid": res.sid, "b_target": target, "b_code": res.error_code})
            if row.channel == WHATSAPP and row.content_sid is None:
                free_text.append({"b_id": row.id})
            counts.sent += 1
            if row.channel == WHATSAPP and target in FAILED and falls_back(res.error_code):
                whatsapp_failed.append(row.id)  # refused in the answer itself
            continue
        error = outcome.error
        assert error is not None
        errors[error.code] = errors.get(error.code, 0) + 1
        # a provider's message may quote the number ("The 'To' number +502... is not valid")
        values = {"b_id": row.id, "b_code": error.code[:16], "b_message": safe_reason(error)}
        if isinstance(error, UnknownOutcome):
            failed.append({**values, "b_status": OutboundStatus.UNKNOWN})
            counts.unknown += 1
        elif error.retryable and row.attempts < settings.max_attempts:
            jitter = jitter_for(row.id, row.attempts, settings.sandbox_seed)
            delay = backoff_seconds(row.attempts, rand=jitter)
            retry.append({**values, "b_after": now + timedelta(seconds=delay)})
            counts.retried += 1
        else:
            failed.append({**values, "b_status": OutboundStatus.FAILED})
            counts.failed += 1
            if error.code == "21610":
                unsubscribed.append(row.id)
            if row.channel == WHATSAPP and falls_back(error.code):
                whatsapp_failed.append(row.id)
    table = Outbound.__table__
    c = table.c
    sending = c.status == OutboundStatus.SENDING
    with unit_of_work(engine) as session:
        connection = session.connection()
        if accepted:
            in_flight = or_(*(c.status == status for status in IN_FLIGHT))  # no IN: executemany
            stamp = literal(now, c.sent_at.type)  # UTCDateTime's own storage on both databases
            connection.execute(
                update(table)
                .where(c.id == bindparam("b_id"))
                .values(
                    provider_sid=func.coalesce(c.provider_sid, bindparam("b_sid")),
                    provider=provider.name,
                    status=case((in_flight, bindparam("b_target", type_=c.status.type)), else_=c.status),
                    sent_at=case((in_flight, stamp), else_=c.sent_at),
                    status_at=case((in_flight, stamp), else_=c.status_at),
                    error_code=case((in_flight, bindparam("b_code")), else_=c.error_code),
                ),
                accepted,
            )
        if free_text:  # the row's template did not go: the report prices it as free text
            connection.execute(
                update(table)
                .where(c.id == bindparam("b_id"))
                .values(content_sid=None, content_variables=None),
                free_text,
            )
        if muted:
            connection.execute(
                update(table)
                .where(c.id == bindparam("b_id"), sending)
                .values(status=bindparam("b_status"), skip_reason=bindparam("b_reason"), status_at=now),
                muted,
            )
        if failed:
            connection.execute(
                update(table)
                .where(c.id == bindparam("b_id"), sending)
                .values(
                    status=bindparam("b_status"),
                    status_at=now,
                    error_code=bindparam("b_code"),
                    error_message=bindparam("b_message"),
                ),
                failed,
            )
        if retry:
            connection.execute(
                update(table)
                .where(c.id == bindparam("b_id"), sending)
                .values(
                    status=OutboundStatus.QUEUED,
                    send_after=bindparam("b_after"),
                    claimed_by=None,
                    status_at=now,
                    error_code=bindparam("b_code"),
                    error_message=bindparam("b_message"),
                ),
                retry,
            )
        if whatsapp_failed:
            queue_sms_fallbacks(session, whatsapp_failed, now=now)
        for outbound_id in unsubscribed:
            contact_id = session.scalar(select(Outbound.contact_id).where(Outbound.id == outbound_id))
            if contact_id is not None:
                opt_out_unsubscribed(session, contact_id=contact_id, now=now)
    return counts
