"""`campaign privacy erase PHONE`: removes a person.

The contact and everything about them go: messages in and out, their voice notes and images
(files and rows), cases and their notes, consent events.
What stays is an `Erasure` row holding only the blind index of the number (a keyed HMAC,
campaign/core/crypto.py): an import or a message from that number later starts opted out, so an
opt-out outlives the erasure. The audit event names the contact's former id, never the number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Delete, delete, select
from sqlalchemy.orm import Session

from audiences.models import ConsentEvent, Contact, Erasure
from audiences.phones import normalize_phone
from campaign.blasts.models import Outbound
from campaign.core.audit import record_audit
from campaign.core.config import Settings, get_settings
from campaign.core.crypto import blind_index
from campaign.core.db import insert_for, rowcount
from campaign.core.errors import NotFound
from campaign.core.i18n import _
from campaign.hotline.media_files import remove_media
from campaign.hotline.models import Case, CaseNote, Inbound, InboundMedia


@dataclass
class ErasureResult:
    """What erasing one person removed (counts only)."""

    contact_id: int
    inbound: int = 0
    outbound: int = 0
    cases: int = 0
    case_notes: int = 0
    media_files: int = 0
    consent_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def erase(
    session: Session, phone: str, *, now: datetime, actor: str, settings: Settings | None = None
) -> ErasureResult:
    """Erases the person with this number (any usual format). Flushes.

    Raises Invalid for an unreadable number, NotFound when no contact has it (nothing changes).
    The files of their voice notes and images are deleted (under `settings.media_dir`).
    """
    settings = settings or get_settings()
    index = blind_index(normalize_phone(phone).e164)
    session.flush()
    contact_id = session.scalar(select(Contact.id).where(Contact.phone_index == index))
    if contact_id is None:
        raise NotFound(_("no contact with that phone number"))
    result = ErasureResult(contact_id)
    cases = select(Case.id).where(Case.contact_id == contact_id)

    def gone(statement: Delete) -> int:
        return rowcount(session.execute(statement.execution_options(synchronize_session=False)))

    result.case_notes = gone(delete(CaseNote).where(CaseNote.case_id.in_(cases)))
    media = list(
        session.scalars(
            select(InboundMedia.id)
            .join(Inbound, Inbound.id == InboundMedia.inbound_id)
            .where(Inbound.contact_id == contact_id)
        )
    )
    remove_media(settings, media)  # the files; their rows go with the inbound messages
    result.media_files = gone(delete(InboundMedia).where(InboundMedia.id.in_(media)))
    result.inbound = gone(delete(Inbound).where(Inbound.contact_id == contact_id))
    result.outbound = gone(delete(Outbound).where(Outbound.contact_id == contact_id))
    result.cases = gone(delete(Case).where(Case.contact_id == contact_id))
    result.consent_events = gone(delete(ConsentEvent).where(ConsentEvent.contact_id == contact_id))
    gone(delete(Contact).where(Contact.id == contact_id))
    session.execute(
        insert_for(session, Erasure)
        .values(phone_index=index, erased_at=now)
        .on_conflict_do_nothing(index_elements=["phone_index"])
    )
    record_audit(
        session,
        actor=actor,
        action="privacy.erase",
        now=now,
        target_type="contact",
        target_id=contact_id,
        detail=result.as_dict(),
    )
    session.expire_all()
    return result
