"""A contact's history for staff: earlier cases (with outcomes), consent events and opt-outs.

The thread of messages is `inbox.thread`. Read-only; nothing here reveals the phone number.
Issue 13's contact page shows the same history through this service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiences.models import ConsentEvent, ConsentKind, Contact
from campaign.hotline.models import Case, Inbound


@dataclass(frozen=True)
class PastCase:
    """One case of the contact: when, priority, status, outcome, messages received in it."""

    id: int
    opened_at: datetime
    resolved_at: datetime | None
    priority: str
    status: str
    reason: str | None
    outcome: str | None
    referred_to: str | None
    messages: int


@dataclass(frozen=True)
class ConsentRecord:
    """One opt-in or opt-out: how (channel, keyword, source) and when."""

    kind: str
    channel: str
    keyword: str | None
    at: datetime
    source: str | None = None


@dataclass(frozen=True)
class ContactHistory:
    """Everything staff need to know about a contact before answering, apart from the thread."""

    status: str
    language: str | None
    since: datetime
    consent_source: str | None
    consent_at: datetime | None
    cases: list[PastCase]
    consent: list[ConsentRecord]

    @property
    def opt_outs(self) -> int:
        return sum(1 for c in self.consent if c.kind == ConsentKind.OPT_OUT)


def contact_history(
    session: Session, *, contact_id: int, exclude_case_id: int | None = None
) -> ContactHistory:
    """The contact's history: cases newest first (without `exclude_case_id`, the one on screen),
    consent events oldest first. Raises LookupError for an unknown contact (callers hold a case)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise LookupError(contact_id)
    counts = (
        select(func.count(Inbound.id)).where(Inbound.case_id == Case.id).correlate(Case).scalar_subquery()
    )
    query = select(Case, counts).where(Case.contact_id == contact_id)
    if exclude_case_id is not None:
        query = query.where(Case.id != exclude_case_id)
    cases = [
        PastCase(
            c.id, c.opened_at, c.resolved_at, str(c.priority), str(c.status), c.reason,
            str(c.outcome) if c.outcome else None, str(c.referred_to) if c.referred_to else None, n or 0,
        )
        for c, n in session.execute(query.order_by(Case.opened_at.desc(), Case.id.desc()))
    ]
    consent = [
        ConsentRecord(str(e.kind), e.channel, e.keyword, e.at, e.source)
        for e in session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id)
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
    ]
    return ContactHistory(
        str(contact.status), contact.language, contact.created_at, contact.consent_source,
        contact.consent_at, cases, consent,
    )
