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

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from campaign.config import Settings
from campaign.errors import Invalid
from campaign.intents import KeywordTable, classify_detail, compile_catalogue
from campaign.models import (
    Case,
    CasePriority,
    CaseStatus,
    Inbound,
    Intent,
    Outbound,
    OutboundStatus,
)
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
    """What `receive_inbound` did: the stored inbound (None for a retry), the reply text to answer
    with (None = answer nothing), and whether this SID had been seen before."""

    inbound: Inbound | None
    reply: str | None
    duplicate: bool = False


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


def last_outbound(session: Session, *, contact_id: int, now: datetime, days: int) -> Outbound | None:
    """The last message sent to the contact within `days` before `now` (auto-replies excluded)."""
    return session.scalar(
        select(Outbound)
        .where(
            Outbound.contact_id == contact_id,
            Outbound.sent_at.is_not(None),
            Outbound.sent_at >= now - timedelta(days=days),
            Outbound.sent_at <= now,
            (Outbound.provider.is_(None)) | (Outbound.provider != AUTO_REPLY_PROVIDER),
        )
        .order_by(Outbound.sent_at.desc(), Outbound.id.desc())
        .limit(1)
    )


def open_or_update_case(
    session: Session, *, contact: Contact, intent: Intent, campaign_id: int | None, now: datetime
) -> Case:
    """The contact's open case (new/open), created when there is none; urgent raises its priority.
    `waiting_since` keeps the oldest unanswered message's time. Flushed."""
    case = session.scalar(
        select(Case)
        .where(Case.contact_id == contact.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(1)
    )
    urgent = intent == Intent.URGENT
    if case is None:
        case = Case(
            contact_id=contact.id, status=CaseStatus.NEW,
            priority=CasePriority.URGENT if urgent else CasePriority.NORMAL,
            reason=str(intent), language=contact.language, campaign_id=campaign_id,
            waiting_since=now, opened_at=now, updated_at=now,
        )
        session.add(case)
    else:
        if urgent and case.priority != CasePriority.URGENT:
            case.priority = CasePriority.URGENT
            case.reason = str(intent)
        if case.waiting_since is None:
            case.waiting_since = now
        if case.campaign_id is None:
            case.campaign_id = campaign_id
        case.updated_at = now
    session.flush()
    return case


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


def _store_inbound(session: Session, inbound: Inbound) -> bool:
    """Inserts the inbound in a savepoint; False when another request stored the same SID first."""
    try:
        with session.begin_nested():
            session.add(inbound)
            session.flush()
    except IntegrityError:
        return False
    return True


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
    inbound = Inbound(
        provider_sid=sid, contact_id=contact.id, to_number=to_number, body=body, intent=intent,
        outbound_id=attributed.id if attributed else None,
        campaign_id=attributed.campaign_id if attributed else None,
        received_at=now,
    )
    if not _store_inbound(session, inbound):
        return InboundResult(None, None, duplicate=True)

    reply_intent: Intent | None = None
    case: Case | None = None
    if intent == Intent.OPT_OUT:
        from audiences.consent import opt_out
        from campaign.delivery import cancel_pending

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
        case = open_or_update_case(
            session, contact=contact, intent=intent, campaign_id=inbound.campaign_id, now=now
        )
        inbound.case_id = case.id
        if intent in (Intent.HELP, Intent.URGENT):
            reply_intent = intent

    reply: str | None = None
    if reply_intent is not None:
        reply, message_id, language, version = auto_reply_text(
            session, intent=reply_intent, language=contact.language, settings=settings,
            extra={"contact": {"name": contact.name or "", "language": contact.language}},
        )
        session.add(
            Outbound(
                contact_id=contact.id, case_id=case.id if case else None, message_id=message_id,
                language=language, template_version=version, body=reply, priority=AUTO_REPLY_PRIORITY,
                status=OutboundStatus.SENT, provider=AUTO_REPLY_PROVIDER, send_after=now, sent_at=now,
                status_at=now, created_at=now,
            )
        )
    session.flush()
    return InboundResult(inbound, reply)
