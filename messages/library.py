"""The message library as services: look messages up, edit and approve translations, versions.

Translation state machine (one table, one function):

    draft --> needs_review --> approved
      ^            |  ^            |
      +------------+  +------------+   (editing an approved body sends it back to review)

Every body change bumps `version` and adds a `TranslationRevision`, so an outbound message that
recorded version N can always be read back. A translation records the fingerprint of the Spanish
source it was made (or approved) from; when the Spanish body changes, every approved translation
made from an older source goes back to needs_review, and `is_stale` says why ("source changed")
until a reviewer approves it again against the new source. Services take `session` keyword-only, flush, never
commit. Times are aware UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from campaign.core.errors import InvalidTransition, NotFound
from campaign.core.i18n import _
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
            _(
                "translation %(slug)s/%(language)s",
                slug=translation.message.slug if translation.message else "",
                language=translation.language,
            ),
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
        raise NotFound(_("message %(slug)r not found", slug=slug))
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
    raise NotFound(_("message %(slug)r has no %(language)r translation", slug=slug, language=language))


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


def is_stale(translation: Translation, source: str | None) -> bool:
    """True when a translation was made from another Spanish source than `source` (the current
    one): the Spanish changed since. Spanish itself and translations of unknown origin are not."""
    if translation.language == SOURCE_LANGUAGE or translation.source_hash is None or source is None:
        return False
    return translation.source_hash != source_hash(source)


def stale_languages(message: Message) -> list[str]:
    """The languages of a message whose translation was made from an older Spanish source."""
    source = source_body(message)
    return sorted(t.language for t in message.translations if is_stale(t, source))


def _source_changed(message: Message, *, now: datetime) -> None:
    """The Spanish body changed: approved translations made from the old one need review."""
    source = source_body(message)
    for other in message.translations:
        if other.status == TranslationStatus.APPROVED and is_stale(other, source):
            transition(other, TranslationStatus.NEEDS_REVIEW)
            other.reviewed_at = None
            other.updated_at = now


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
    stays a draft (a reviewer must look at the new words). A new Spanish body sends the approved
    translations made from the old one back to needs_review. Flushes.
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
    elif message is not None:
        _source_changed(message, now=now)
    translation.revisions.append(
        TranslationRevision(version=translation.version, body=body, script=translation.script,
                            status=translation.status, created_at=now, created_by=by)
    )
    session.flush()
    return True


def approve(session: Session, slug: str, language: str, *, by: str, now: datetime) -> Translation:
    """Marks a translation approved by `by` (a needs_review or draft one; idempotent when approved).

    A draft is submitted for review and approved in one step by the named reviewer, who vouches
    for it against the current Spanish source. Raises NotFound for an unknown message or
    language. Flushes.
    """
    translation = get_translation(session, slug, language)
    if translation.status == TranslationStatus.APPROVED:
        return translation
    mark_approved(translation, by=by, now=now)
    session.flush()
    return translation


def mark_approved(translation: Translation, *, by: str | None, now: datetime) -> None:
    """Approves a draft or needs_review translation (through needs_review) against the current
    Spanish source, so it is no longer stale. Does not flush."""
    if translation.status == TranslationStatus.DRAFT:
        transition(translation, TranslationStatus.NEEDS_REVIEW)
    transition(translation, TranslationStatus.APPROVED)
    if by is not None:
        translation.reviewer = by
    translation.reviewed_at = now
    translation.updated_at = now
    message = translation.message
    if translation.language != SOURCE_LANGUAGE and message is not None:
        translation.source_hash = source_hash(source_body(message))


def revision_body(session: Session, translation_id: int, version: int) -> str:
    """The body a translation had at `version` (what an outbound message was rendered from)."""
    body = session.scalar(
        select(TranslationRevision.body).where(
            TranslationRevision.translation_id == translation_id,
            TranslationRevision.version == version,
        )
    )
    if body is None:
        raise NotFound(_("translation %(id)s has no version %(version)s", id=translation_id, version=version))
    return body


def set_content_template(
    session: Session, translation: Translation, *, content_sid: str | None,
    variables: Mapping[str, str] | None, category: str | None = None, now: datetime,
) -> bool:
    """Sets (or, with an empty `content_sid`, removes) a translation's WhatsApp template: the Twilio
    Content SID and its placeholders mapped to the message's variables; `category` sets the
    message's WhatsApp category (required once any of its translations has a template).

    Validates first (raises Invalid naming content_sid, variables or whatsapp_category; nothing
    changed). The translation's status is untouched: the words are Meta's approved template, and
    only an approved translation's template is used. Returns whether anything changed. Flushes.
    """
    from messages.whatsapp import check_category, check_content_sid, check_variables

    message = translation.message
    sid = check_content_sid(content_sid) if content_sid and content_sid.strip() else None
    mapping = check_variables(variables, message.variables or [], "variables") if sid else None
    if category:
        category = check_category(category)
    elif sid and not message.whatsapp_category:
        from campaign.core.errors import Invalid
        from campaign.core.i18n import _

        raise Invalid("whatsapp_category", _("choose the message's WhatsApp category: it sets the price"))
    changed = (translation.content_sid, translation.content_variables) != (sid, mapping)
    translation.content_sid, translation.content_variables = sid, mapping
    if category and message.whatsapp_category != category:
        message.whatsapp_category = category
        message.updated_at = now
        changed = True
    if changed:
        translation.updated_at = now
    session.flush()
    return changed
