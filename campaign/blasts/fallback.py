"""SMS after a WhatsApp failure, exactly once: on a step `channel: [whatsapp, sms]`, a WhatsApp
message that Twilio refused or failed with "not a WhatsApp user" (63003, 63024) or "outside the
24 h window" (63016) is followed by one SMS to the same contact.

The WhatsApp row keeps its failure (status failed/undelivered, error code). The SMS is a new row
with `fallback_of` = the WhatsApp row: unique in the database, so a callback retried, a second
callback of the same message, or a synchronous error followed by a callback never queue a second
SMS. The SMS row has no occurrence (the (occurrence, contact) constraint stays on the planned row)
and carries the campaign, step, message, language, text, deadline and send time of the original,
so dispatch re-checks it like any blast row (eligibility, consent, send window, mute) before it
goes. A contact who opted out meanwhile gets nothing. Set-based: one INSERT ... SELECT per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from campaign.blasts.channels import SMS, WHATSAPP
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.db import insert_for, rowcount
from campaign.providers.base import WHATSAPP_FALLBACK_CODES

FAILED = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)
# Copied from the WhatsApp row to its SMS (body: the same approved text, already encrypted).
COPIED = (
    "campaign_id", "step_id", "contact_id", "case_id", "message_id", "language", "variant",
    "template_version", "body", "encoding", "segments", "priority", "expires_at",
)


def falls_back(code: str | None) -> bool:
    """The error means WhatsApp cannot carry the message to this person (not the message's fault)."""
    return code is not None and str(code) in WHATSAPP_FALLBACK_CODES


def queue_sms_fallbacks(session: Session, outbound_ids: Iterable[int], *, now: datetime) -> int:
    """Queues the SMS of each WhatsApp row of `outbound_ids` that failed with a fallback code and
    whose step allows SMS (`fallback_channel` = sms); returns how many were queued now (a row that
    already has its SMS gets none). Flushes one INSERT."""
    ids = sorted(set(outbound_ids))
    if not ids:
        return 0
    session.flush()
    table = Outbound.__table__
    c = table.c
    source = select(
        *(c[name] for name in COPIED),
        literal(SMS).label("channel"),
        c.id.label("fallback_of"),
        literal(OutboundStatus.QUEUED.value).label("status"),
        literal(now, c.send_after.type).label("send_after"),
        literal(now, c.created_at.type).label("created_at"),
        literal(0).label("attempts"),
    ).where(
        c.id.in_(ids),
        c.channel == WHATSAPP,
        c.fallback_channel == SMS,
        c.status.in_([s.value for s in FAILED]),
        c.error_code.in_(sorted(WHATSAPP_FALLBACK_CODES)),
    )
    columns = [*COPIED, "channel", "fallback_of", "status", "send_after", "created_at", "attempts"]
    statement = insert_for(session, table).from_select(columns, source).on_conflict_do_nothing(
        index_elements=["fallback_of"]
    )
    return rowcount(session.execute(statement))
