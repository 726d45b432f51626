"""The message library as services: look messages up, edit and approve translations, versions.

Translation state machine (one table, one function):

    draft --> needs_review --> approved
      ^            |  ^            |
      +------------+  +------------+   (editing an approved body sends it back to review)

Every body change bumps `version` and adds a `TranslationRevision`, so an outbound message that
recorded version N can always be read back. Services take `session` keyword-only, flush, never
commit. Times are aware UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from campaign.core.errors import InvalidTransition, NotFound
from messages.models import Message, Translation, TranslationRevision, TranslationStatus

SOURCE_LANGUAGE = "es"

TRANSITIONS: dict[TranslationStatus, frozenset[TranslationStatus]] = {
    TranslationStatus.DRAFT: frozenset({TranslationStatus.NEEDS_REVIEW}),
    TranslationStatus.NEEDS_REVIEW: frozenset({TranslationStatus.APPROVED, TranslationStatus.DRAFT}),
    TranslationStatus.APPROVED: frozenset({TranslationStatus.NEEDS_REVIEW}),
}


def transition(translation: Translation, target: TranslationStatus | str) -> None:
    """Moves a translation to `target`; raises InvalidTransition for a move the table forbids."""
    current = TranslationStatus(translation.status)
    target = TranslationStatus(target)
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"translation {translation.message.slug if translation.message else ''}/{translation.language}",
            current.value,
            target.value,
        )
    translation.status = target


def source_hash(body: str | None) -> str | None:
    """A short stable fingerprint of a source (Spanish) body, to detect stale translations."""
    if body is None:
        return None
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def get_message(session: Session, slug: str) -> Message:
    """The message with this slug, translations loaded; raises NotFound."""
    message = session.scalars(
        select(Message).where(Message.slug == slug).options(selectinload(Message.translations))
    ).one_or_none()
    if message is None:
        raise NotFound(f"message {slug!r} not found")
    return message


def list_messages(session: Session) -> list[Message]:
    """Every message with its translations, by slug."""
    return list(
        session.scalars(
            select(Message).order_by(Message.slug).options(selectinload(Message.translations))
        )
    )


def get_translation(session: Session, slug: str, language: str) -> Translation:
    """The translation of a message in one language; raises NotFound."""
    message = get_message(session, slug)
    for translation in message.translations:
        if translation.language == language:
            return translation
    raise NotFound(f"message {slug!r} has no {language!r} translation")


def approved_translations(
    session: Session, message_ids: Iterable[int]
) -> dict[tuple[int, str], Translation]:
    """Every approved translation of these messages, keyed by (message_id, language)."""
    ids = list(message_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Translation).where(
            Translation.message_id.in_(ids), Translation.status == TranslationStatus.APPROVED
        )
    )
    return {(t.message_id, t.language): t for t in rows}


def source_body(message: Message) -> str | None:
    """The Spanish body a translation is made from (None when the message has no Spanish)."""
    for translation in message.translations:
        if translation.language == SOURCE_LANGUAGE:
            return translation.body
    return None


def add_translation(
    session: Session,
    message: Message,
    *,
    language: str,
    body: str,
    status: TranslationStatus | str,
    now: datetime,
    by: str | None = None,
    script: list[dict[str, Any]] | None = None,
    pronunciation: str | None = None,
    reviewer: str | None = None,
    notes: str | None = None,
) -> Translation:
    """Adds version 1 of a translation with its first revision (flushed)."""
    status = TranslationStatus(status)
    translation = Translation(
        language=language, body=body, script=script, pronunciation=pronunciation, status=status,
        version=1, reviewer=reviewer, notes=notes, updated_at=now,
        reviewed_at=now if status == TranslationStatus.APPROVED and reviewer else None,
    )
    message.translations.append(translation)
    if language != SOURCE_LANGUAGE:
        translation.source_hash = source_hash(source_body(message))
    translation.revisions.append(
        TranslationRevision(version=1, body=body, script=script, status=status, created_at=now,
                            created_by=by)
    )
    session.flush()
    return translation


def set_body(
    session: Session,
    translation: Translation,
    *,
    body: str,
    now: datetime,
    by: str | None,
    script: list[dict[str, Any]] | None = None,
    status: TranslationStatus | str | None = None,
) -> bool:
    """Changes a body: new version + revision. Returns False (and does nothing) when unchanged.

    Without an explicit `status`, an approved translation goes back to needs_review and a draft
    stays a draft (a reviewer must look at the new words). Flushes.
    """
    if translation.body == body and (script is None or translation.script == script):
        return False
    translation.body = body
    if script is not None:
        translation.script = script
    translation.version += 1
    if status is None:
        if translation.status == TranslationStatus.APPROVED:
            transition(translation, TranslationStatus.NEEDS_REVIEW)
    else:
        translation.status = TranslationStatus(status)
    if translation.status != TranslationStatus.APPROVED:
        translation.reviewed_at = None
    translation.updated_at = now
    message = translation.message
    if translation.language != SOURCE_LANGUAGE and message is not None:
        translation.source_hash = source_hash(source_body(message))
    translation.revisions.append(
        TranslationRevision(version=translation.version, body=body, script=translation.script,
                            status=translation.status, created_at=now, created_by=by)
    )
    session.flush()
    return True


def approve(session: Session, slug: str, language: str, *, by: str, now: datetime) -> Translation:
    """Marks a translation approved by `by` (a needs_review or draft one; idempotent when approved).

    A draft is submitted for review and approved in one step by the named reviewer. Raises
    NotFound for an unknown message or language. Flushes.
    """
    translation = get_translation(session, slug, language)
    if translation.status == TranslationStatus.APPROVED:
        return translation
    if translation.status == TranslationStatus.DRAFT:
        transition(translation, TranslationStatus.NEEDS_REVIEW)
    transition(translation, TranslationStatus.APPROVED)
    translation.reviewer = by
    translation.reviewed_at = now
    translation.updated_at = now
    session.flush()
    return translation


def revision_body(session: Session, translation_id: int, version: int) -> str:
    """The body a translation had at `version` (what an outbound message was rendered from)."""
    body = session.scalar(
        select(TranslationRevision.body).where(
            TranslationRevision.translation_id == translation_id,
            TranslationRevision.version == version,
        )
    )
    if body is None:
        raise NotFound(f"translation {translation_id} has no version {version}")
    return body
