"""What happens when a contact writes to us: consent, auto-replies, hotline cases, attribution.

`receive_inbound` is the one service; campaign/webhooks.py calls it after the signature check.
Every message is stored (once per provider SID), even from an opted-out contact, so staff see it.

- opt_out: consent event + contact opted_out (audiences.consent), pending outbound cancelled at
  once (campaign.delivery), one confirmation saying how to opt back in.
- opt_in: only by explicit keyword and only when the contact is opted out; confirmation.
- help: the help message with the hotline numbers; a case is opened (or updated).
- urgent: the case becomes priority urgent (top of the inbox; the open case mutes the contact
  from blasts, see campaign/eligibility.py) and an acknowledgement with emergency numbers.
- reply: the case is opened or updated (waiting since the oldest unanswered message).

Auto-replies are the pack's messages respuesta-baja / -alta / -ayuda / -urgente in the contact's
language (approved translations only), else Spanish, else a built-in Spanish text; rendered with
the deployment's hotline variables. They are answered as TwiML by the webhook and also stored as an
Outbound row (provider "twiml", status sent) so the thread shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.config import Settings
from campaign.core.db import insert_for, inserted_id
from campaign.core.errors import Invalid
from campaign.hotline.intents import KeywordTable, classify_detail, compile_catalogue
from campaign.hotline.models import OPEN_CASE_WHERE, Case, CasePriority, CaseStatus, Inbound, Intent
from messages.models import Message, Translation, TranslationStatus

AUTO_REPLY_PROVIDER = "twiml"
AUTO_REPLY_PRIORITY = 10
OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)

REPLY_SLUGS: dict[Intent, str] = {
    Intent.OPT_OUT: "respuesta-baja",
    Intent.OPT_IN: "respuesta-alta",
    Intent.HELP: "respuesta-ayuda",
    Intent.URGENT: "respuesta-urgente",
}

# Used only when the library has no approved translation at all (e.g. the pack is not loaded):
# an opt-out must be confirmed and a cry for help answered even then.
BUILTIN_REPLIES: dict[Intent, str] = {
    Intent.OPT_OUT: "Ya no recibirá mensajes de {{ organizacion }}. Para volver a recibirlos, "
    "responda ALTA.",
    Intent.OPT_IN: "Volverá a recibir mensajes de {{ organizacion }}. Para dejar de recibirlos, "
    "responda BAJA.",
    Intent.HELP: "{{ organizacion }}: Policía {{ policia }}, Línea de la mujer {{ hotline_mujer }}. "
    "Una persona le responderá. Responda BAJA para no recibir más mensajes.",
    Intent.URGENT: "Recibimos su mensaje. Si está en peligro llame ya al {{ policia }}. "
    "Una persona del equipo le responderá pronto.",
}


@dataclass(frozen=True)
class InboundResult:
    """What `receive_inbound` did: the stored inbound's id (None for a retry), the reply text to
    answer with (None = answer nothing), and whether this SID had been seen before."""

    inbound_id: int | None
    reply: str | None
    duplicate: bool = False
    intent: Intent | None = None
    case_id: int | None = None


@lru_cache(maxsize=4)
def keyword_table(pack_dir: str | None = None) -> KeywordTable:
    """The compiled keyword catalogue of the pack (cached per process)."""
    from messages.keywords import load_catalogue

    return compile_catalogue(load_catalogue(pack_dir))


def find_or_create_contact(session: Session, *, phone: str, settings: Settings, now: datetime) -> Contact:
    """The contact with this number (normalized to E.164); created when unknown (flushed, via
    audiences.consent). Raises Invalid("From", ...) when the number cannot be read."""
    from audiences.consent import find_or_create_contact as find_or_create

    try:
        return find_or_create(session, phone, now=now)
    except Invalid as exc:
        raise Invalid("From", exc.reason) from exc


def last_outbound(
    session: Session, *, contact_id: int, now: datetime, days: int
) -> tuple[int, int | None] | None:
    """(id, campaign_id) of the last message sent to the contact within `days` before `now`
    (auto-replies excluded), or None."""
    row = session.execute(
        select(Outbound.id, Outbound.campaign_id)
        .where(
            Outbound.contact_id == contact_id,
            Outbound.sent_at.is_not(None),
            Outbound.sent_at >= now - timedelta(days=days),
            Outbound.sent_at <= now,
            (Outbound.provider.is_(None)) | (Outbound.provider != AUTO_REPLY_PROVIDER),
        )
        .order_by(Outbound.sent_at.desc(), Outbound.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


_CASES = Case.__table__
_INBOUND = Inbound.__table__
_OUTBOUND = Outbound.__table__


def open_or_update_case(
    session: Session, *, contact: Contact, intent: Intent, campaign_id: int | None, now: datetime
) -> int:
    """Id of the contact's open case (new/open), created when there is none; urgent raises its
    priority; `waiting_since` keeps the oldest unanswered message's time. One upsert on the
    partial unique index of open cases (one per contact), so messages arriving at once from one
    number share one case: the hot path of the webhook, and safe under concurrency."""
    urgent = intent == Intent.URGENT
    statement = insert_for(session, _CASES).values(
        contact_id=contact.id, status=CaseStatus.NEW,
        priority=CasePriority.URGENT if urgent else CasePriority.NORMAL,
        reason=str(intent), language=contact.language, campaign_id=campaign_id,
        waiting_since=now, opened_at=now, updated_at=now,
    )
    changes: dict[str, Any] = {
        "waiting_since": func.coalesce(_CASES.c.waiting_since, statement.excluded.waiting_since),
        "campaign_id": func.coalesce(_CASES.c.campaign_id, statement.excluded.campaign_id),
        "updated_at": statement.excluded.updated_at,
    }
    if urgent:
        already = _CASES.c.priority == CasePriority.URGENT
        changes["reason"] = sql_case((already, _CASES.c.reason), else_=statement.excluded.reason)
        changes["priority"] = statement.excluded.priority
    statement = statement.on_conflict_do_update(
        # The index's own predicate as literal SQL: with bound values, PostgreSQL cannot match it
        # to the partial index once psycopg prepares the statement (after 5 runs on a connection).
        index_elements=[_CASES.c.contact_id], index_where=text(OPEN_CASE_WHERE), set_=changes
    ).returning(_CASES.c.id)
    return int(session.execute(statement).scalar_one())


def auto_reply_text(
    session: Session, *, intent: Intent, language: str | None, settings: Settings, extra: dict[str, Any]
) -> tuple[str, int | None, str, int | None]:
    """(text, message_id, language, template_version) of the auto-reply for `intent`: the approved
    translation in `language`, else Spanish, else the built-in Spanish text."""
    from messages.rendering import normalize_text, render

    variables = {**settings.hotline_defaults, **extra}
    slug = REPLY_SLUGS[intent]
    wanted = [code for code in dict.fromkeys([language or "es", "es"])]
    rows = session.execute(
        select(Translation.body, Translation.language, Translation.version, Message.id)
        .join(Message, Message.id == Translation.message_id)
        .where(
            Message.slug == slug,
            Translation.language.in_(wanted),
            Translation.status == TranslationStatus.APPROVED,
        )
    ).all()
    by_language = {row.language: row for row in rows}
    for code in wanted:
        row = by_language.get(code)
        if row is None:
            continue
        try:
            return normalize_text(render(row.body, variables)), row.id, code, row.version
        except Invalid:
            continue  # a template needing a variable we lack: next language, then built-in
    return normalize_text(render(BUILTIN_REPLIES[intent], variables)), None, "es", None


@contextmanager
def _duplicate_guard(session: Session) -> Iterator[list[bool]]:
    """Yields a flag list; on PostgreSQL the writes run in a savepoint and a unique violation on
    the SID (another worker stored it first) rolls them back and sets the flag. On SQLite one
    process-wide write lock at the edge already serializes writers, so no savepoint is needed."""
    flag = [False]
    if session.get_bind().dialect.name != "postgresql":
        yield flag
        return
    try:
        with session.begin_nested():
            yield flag
    except IntegrityError as exc:
        if "provider_sid" not in str(exc.orig):
            raise
        flag[0] = True


def receive_inbound(
    session: Session,
    *,
    sid: str,
    from_number: str,
    body: str,
    to_number: str | None,
    settings: Settings,
    now: datetime,
    catalogue: KeywordTable | None = None,
) -> InboundResult:
    """Stores one inbound message exactly once and acts on its intent (see the module docstring).

    Flushes the contact (when new), the Inbound row, consent events, cancelled outbound rows, the
    case and the stored auto-reply. A SID already stored returns `duplicate=True` with no reply and
    changes nothing. Raises Invalid("From", ...) for an unreadable number. `now` is aware UTC.
    """
    if session.scalar(select(Inbound.id).where(Inbound.provider_sid == sid)) is not None:
        return InboundResult(None, None, duplicate=True)
    contact = find_or_create_contact(session, phone=from_number, settings=settings, now=now)
    table = catalogue or keyword_table()
    decision = classify_detail(body, contact.language, table)
    intent = decision.intent
    if intent == Intent.OPT_IN and contact.status != ContactStatus.OPTED_OUT:
        intent = Intent.REPLY  # "SI" from an active contact is an answer, not a re-subscription
    attributed = last_outbound(session, contact_id=contact.id, now=now, days=settings.attribution_days)
    outbound_id, campaign_id = attributed or (None, None)
    reply: str | None = None
    case_id: int | None = None
    inbound_id: int | None = None
    with _duplicate_guard(session) as duplicate:
        reply_intent: Intent | None = None
        if intent == Intent.OPT_OUT:
            from audiences.consent import opt_out
            from campaign.blasts.delivery import cancel_pending

            already_out = contact.status == ContactStatus.OPTED_OUT
            opt_out(session, contact, channel="sms", keyword=decision.keyword, source=sid, now=now)
            cancel_pending(session, contact_id=contact.id, reason="opted_out", now=now)
            if not already_out:  # confirm once; a second STOP is recorded but not answered again
                reply_intent = Intent.OPT_OUT
        elif intent == Intent.OPT_IN:
            from audiences.consent import opt_in

            opt_in(session, contact, channel="sms", keyword=decision.keyword, source=sid, now=now)
            reply_intent = Intent.OPT_IN
        else:
            case_id = open_or_update_case(
                session, contact=contact, intent=intent, campaign_id=campaign_id, now=now
            )
            if intent in (Intent.HELP, Intent.URGENT):
                reply_intent = intent
        inbound_id = inserted_id(
            session.execute(
                insert(_INBOUND).values(
                    provider_sid=sid, contact_id=contact.id, to_number=to_number, body=body, intent=intent,
                    outbound_id=outbound_id, campaign_id=campaign_id, case_id=case_id, received_at=now,
                )
            )
        )
        if reply_intent is not None:
            reply, message_id, language, version = auto_reply_text(
                session, intent=reply_intent, language=contact.language, settings=settings,
                extra={"contact": {"name": contact.name or "", "language": contact.language}},
            )
            session.execute(
                insert(_OUTBOUND).values(
                    contact_id=contact.id, case_id=case_id, message_id=message_id, language=language,
                    template_version=version, body=reply, priority=AUTO_REPLY_PRIORITY,
                    status=OutboundStatus.SENT, provider=AUTO_REPLY_PROVIDER, send_after=now, sent_at=now,
                    status_at=now, created_at=now, segments=0, attempts=0,
                )
            )
    if duplicate[0]:
        return InboundResult(None, None, duplicate=True)
    return InboundResult(inbound_id, reply, intent=intent, case_id=case_id)
