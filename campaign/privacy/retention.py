"""Retention: what `campaign privacy purge` (and the scheduler, daily) deletes, and when.

- The text of inbound and outbound messages older than `retention_body_days` (default 180) is
  emptied; the rows stay (statuses, times and counts feed the reports). A message not yet settled
  (queued, sending, unknown) keeps its text: it may still be sent.
- A case resolved more than `retention_case_days` ago (and not waiting for a follow-up) is
  anonymized: its notes are deleted and the texts of its messages emptied; its outcome, priority
  and times stay for the hotline's figures.
- Voice notes and images from contacts go by the same rules as texts: received more than
  `retention_body_days` ago, or in a case anonymized, their file is deleted and the row marked purged.
- The rejection reports of imports older than `retention_import_report_days` (default 30): the
  raw values of rejected rows are deleted (the batch keeps its counts).

Idempotent: a second run the same day removes nothing. Flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, delete, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from audiences.models import ImportBatch, ImportRejection
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.config import Settings
from campaign.core.db import rowcount
from campaign.hotline.media import purge_media
from campaign.hotline.models import Case, CaseNote, CaseStatus, Inbound, InboundMedia, MediaStatus

# Rows whose message may still go out keep their text.
UNSETTLED = (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNKNOWN)


@dataclass
class PurgeResult:
    """What one purge removed."""

    inbound_texts: int = 0
    outbound_texts: int = 0
    cases_anonymized: int = 0
    case_notes: int = 0
    media_files: int = 0
    import_rejections: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


def _filled(column: Any) -> ColumnElement[bool]:
    # The ciphertext compared as stored: an emptied text is stored as '' (campaign/core/crypto.py).
    return type_coerce(column, String()) != ""


def _texts(model: Any) -> ColumnElement[bool]:
    """An outbound row still holding a text: its body, or a WhatsApp template's values."""
    return or_(_filled(model.body), model.content_variables.is_not(None))


def purge(session: Session, *, now: datetime, settings: Settings) -> PurgeResult:
    """Applies the retention settings at `now` (aware UTC). Flushes."""
    session.flush()
    result = PurgeResult()
    bodies = now - timedelta(days=settings.retention_body_days)
    result.inbound_texts = rowcount(
        session.execute(
            update(Inbound)
            .where(Inbound.received_at < bodies, _filled(Inbound.body))
            .values(body="")
            .execution_options(synchronize_session=False)
        )
    )
    old_media = select(InboundMedia.id).join(Inbound, Inbound.id == InboundMedia.inbound_id).where(
        Inbound.received_at < bodies, InboundMedia.status != MediaStatus.PURGED
    )
    result.media_files = purge_media(session, list(session.scalars(old_media)), settings=settings, now=now)
    result.outbound_texts = rowcount(
        session.execute(
            update(Outbound)
            .where(Outbound.created_at < bodies, Outbound.status.not_in(UNSETTLED), _texts(Outbound))
            .values(body="", content_variables=None)  # a WhatsApp template's values may hold a name
            .execution_options(synchronize_session=False)
        )
    )
    result.cases_anonymized, result.case_notes, media = _anonymize_cases(
        session, before=now - timedelta(days=settings.retention_case_days), now=now, settings=settings
    )
    result.media_files += media
    reports = select(ImportBatch.id).where(
        ImportBatch.started_at < now - timedelta(days=settings.retention_import_report_days)
    )
    result.import_rejections = rowcount(
        session.execute(
            delete(ImportRejection)
            .where(ImportRejection.batch_id.in_(reports))
            .execution_options(synchronize_session=False)
        )
    )
    session.expire_all()
    return result


def _anonymize_cases(
    session: Session, *, before: datetime, now: datetime, settings: Settings
) -> tuple[int, int, int]:
    due = list(
        session.scalars(
            select(Case.id).where(
                Case.status == CaseStatus.RESOLVED,
                Case.resolved_at < before,
                Case.anonymized_at.is_(None),
                or_(Case.follow_up_at.is_(None), Case.follow_up_at < now),
            )
        )
    )
    notes = media = 0
    for start in range(0, len(due), 500):
        ids = due[start : start + 500]
        notes += rowcount(
            session.execute(
                delete(CaseNote).where(CaseNote.case_id.in_(ids)).execution_options(synchronize_session=False)
            )
        )
        files = select(InboundMedia.id).join(Inbound, Inbound.id == InboundMedia.inbound_id).where(
            Inbound.case_id.in_(ids), InboundMedia.status != MediaStatus.PURGED
        )
        media += purge_media(session, list(session.scalars(files)), settings=settings, now=now)
        session.execute(
            update(Inbound)
            .where(Inbound.case_id.in_(ids), _filled(Inbound.body))
            .values(body="")
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Outbound)
            .where(Outbound.case_id.in_(ids), Outbound.status.not_in(UNSETTLED), _texts(Outbound))
            .values(body="", content_variables=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Case)
            .where(Case.id.in_(ids))
            .values(anonymized_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(due), notes, media
