"""Quick replies for the reply box: the pack's approved auto-reply texts and canned answers per language.

- Auto-reply texts: the pack's `respuesta-ayuda` and `respuesta-urgente` in the contact's language
  (approved translations only), else Spanish, else the built-in text, rendered with the
  deployment's hotline numbers and put through the language's encoding policy: exactly what the
  contact would get as an automatic answer (campaign.hotline.autoreplies.compose).
- Canned answers: written by managers per language (CannedReply rows), rendered with the same
  hotline variables, so `{{ policia }}` is the deployment's number. Saving one checks that it
  renders; edits and removals are audited.
`now` is aware UTC; services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.core.audit import record_audit
from campaign.core.config import Settings
from campaign.core.errors import Invalid, NotFound
from campaign.core.i18n import N_, _
from campaign.core.languages import build_registry
from campaign.hotline import autoreplies
from campaign.hotline.models import CannedReply, User

MAX_TITLE = 80
MAX_BODY = 1600
AUTO_REPLIES = ((autoreplies.HELP, N_("Help numbers (automatic reply)")),
                (autoreplies.URGENT, N_("Urgent acknowledgement (automatic reply)")))


@dataclass(frozen=True)
class QuickReply:
    """One text staff can put in the reply box."""

    title: str
    body: str
    language: str
    source: str  # "pack" | "canned"


def _variables(settings: Settings) -> dict[str, Any]:
    return dict(settings.hotline_defaults)


def _render(body: str, settings: Settings) -> str:
    from messages.rendering import render

    return render(body, _variables(settings))


def quick_replies(session: Session, *, language: str | None, settings: Settings) -> list[QuickReply]:
    """The pack's auto-reply texts in the contact's language, then the active canned answers in
    that language, then in Spanish (when the contact's language is another)."""
    found: list[QuickReply] = []
    for kind, title in AUTO_REPLIES:
        reply = autoreplies.compose(session, kind=kind, language=language, settings=settings, extra={})
        found.append(QuickReply(str(title), reply.text, reply.language, "pack"))
    languages = list(dict.fromkeys([language or "es", "es"]))
    for lang in languages:
        for canned in list_canned(session, language=lang, active_only=True):
            try:
                body = _render(canned.body, settings)
            except Invalid:
                continue  # saved before a variable was removed from the deployment: left out
            found.append(QuickReply(canned.title, body, lang, "canned"))
    return found


def list_canned(
    session: Session, *, language: str | None = None, active_only: bool = False
) -> list[CannedReply]:
    """Canned answers, by language then position."""
    query = select(CannedReply)
    if language is not None:
        query = query.where(CannedReply.language == language)
    if active_only:
        query = query.where(CannedReply.active.is_(True))
    return list(session.scalars(query.order_by(CannedReply.language, CannedReply.position, CannedReply.id)))


def save_canned(
    session: Session,
    *,
    user: User,
    now: datetime,
    settings: Settings,
    language: str,
    title: str,
    body: str,
    position: int = 0,
    active: bool = True,
    canned_id: int | None = None,
) -> CannedReply:
    """Creates (canned_id None) or updates a canned answer; audited. Raises Invalid naming the
    field (language unknown, title or body empty or too long, a body that does not render),
    NotFound for an unknown id."""
    registry = build_registry(settings.extra_languages)
    if language not in registry:
        raise Invalid("language", _("unknown language code %(code)s", code=repr(language)))
    title, body = title.strip(), body.strip()
    if not title or len(title) > MAX_TITLE:
        raise Invalid("title", _("from 1 to %(n)d characters", n=MAX_TITLE))
    if not body or len(body) > MAX_BODY:
        raise Invalid("body", _("from 1 to %(n)d characters", n=MAX_BODY))
    _render(body, settings)  # Invalid("variable"/"template", ...) names what is wrong
    if canned_id is None:
        canned = CannedReply(created_at=now)
        session.add(canned)
    else:
        found = session.get(CannedReply, canned_id)
        if found is None:
            raise NotFound(_("canned reply %(id)d not found", id=canned_id))
        canned = found
    canned.language, canned.title, canned.body = language, title, body
    canned.position, canned.active = position, active
    canned.updated_by_id, canned.updated_at = user.id, now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="canned.save", now=now,
        target_type="canned_reply", target_id=canned.id, detail={"language": language},
    )
    return canned


def delete_canned(session: Session, *, canned_id: int, user: User, now: datetime) -> None:
    """Removes a canned answer; audited. Raises NotFound for an unknown id."""
    found = session.get(CannedReply, canned_id)
    if found is None:
        raise NotFound(_("canned reply %(id)d not found", id=canned_id))
    session.delete(found)
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="canned.delete", now=now,
        target_type="canned_reply", target_id=canned_id,
    )
