"""What happens when a contact writes to us: triage, consent, auto-replies, hotline cases, attribution.

`receive_inbound` is the one service; campaign/hotline/webhooks.py calls it after the signature
check. Every message is stored (once per provider SID), with the cues the triage found, even from
an opted-out contact, so staff see it. Unknown senders become contacts (active, no consent
recorded: the hotline can answer them; blasts skip them until they opt in).

- opt_out: stored first (consent event, contact opted_out, queued/held/unknown rows cancelled),
  then one confirmation, best effort (campaign/hotline/autoreplies.py never raises). A clear STOP
  also answers any open "was this an opt-out?" question of the contact's cases.
- opt_in: an explicit keyword (ALTA, INICIO, START, ...) always works and is recorded as a consent
  event, also for a contact who never gave consent; a bare "sí" only when it answers our
  re-subscribe question (asked when an opted-out contact writes a bare "sí", valid
  RESUBSCRIBE_QUESTION_HOURS). A blocked contact stays blocked (the message goes to a case).
- urgent / help / reply: the contact's case is opened or updated, its priority raised to urgent /
  high (never lowered while open); urgent gets the emergency numbers at once, help where to get
  help. An opt-out signal that lost to danger or help, or that was unclear, leaves the question on
  the case: the contact stays muted from blasts (campaign/blasts/eligibility.py) until staff answer
  it (campaign/hotline/inbox.py: answer_opt_out_question), even after the case is resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from campaign.blasts.channels import channel_of_address, phone_of
from campaign.blasts.models import Outbound
from campaign.core.config import Settings
from campaign.core.db import inserted_id
from campaign.core.errors import Invalid
from campaign.hotline import autoreplies
from campaign.hotline.autoreplies import AUTO_REPLY_PROVIDER
from campaign.hotline.intents import KeywordTable, Triage, compile_catalogue, pack_lexicon, triage
from campaign.hotline.media import MediaItem, media_cues, record_media
from campaign.hotline.models import (
    OPEN_CASE_WHERE,
    PRIORITY_RANK,
    Case,
    CasePriority,
    CaseQuestion,
    CaseStatus,
    Inbound,
    Intent,
)

log = logging.getLogger(__name__)

OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)
RESUBSCRIBE_QUESTION_HOURS = 72  # how long our "¿desea volver a recibir mensajes?" stays answerable
PRIORITY_OF: dict[Intent, CasePriority] = {Intent.URGENT: CasePriority.URGENT, Intent.HELP: CasePriority.HIGH}


@dataclass(frozen=True)
class InboundResult:
    """What `receive_inbound` did: the stored inbound's id (None for a retry), the reply text to
    answer with (None = answer nothing), and whether this SID had been seen before."""

    inbound_id: int | None
    reply: str | None
    duplicate: bool = False
    intent: Intent | None = None
    case_id: int | None = None
    cues: tuple[str, ...] = ()


def keyword_table(pack_dir: str | None = None) -> KeywordTable:
    """The compiled triage lexicon of the pack (cached per process). A pack whose keyword file
    does not load must not stop inbound messages from being stored: the built-in minimum
    (STOP, AYUDA, auxilio, ...) is used instead, and the error logged."""
    try:
        return pack_lexicon(pack_dir)
    except Exception:  # noqa: BLE001 - every inbound message must still be stored and triaged
        log.exception("triage: the pack's keyword catalogue does not load; using the built-in minimum")
        return compile_catalogue(None)


def find_or_create_contact(
    session: Session, *, phone: str, settings: Settings, now: datetime,
    known: Mapping[str, Contact] | None = None,
) -> Contact:
    """The contact with this number (normalized to E.164); created when unknown (flushed, via
    audiences.consent; `known` as there). Raises Invalid("From", ...) when the number cannot be read."""
    from audiences.consent import find_or_create_contact as find_or_create

    try:
        return find_or_create(session, phone, now=now, known=known)
    except Invalid as exc:
        raise Invalid("From", exc.reason) from exc


def last_outbound(
    session: Session, *, contact_id: int, now: datetime, days: int
) -> tuple[int, int | None] | None:
    """(id, campaign_id) of the last message sent to the contact within `days` before `now`
    (auto-replies excluded), or None."""
    values = {"contact_id": contact_id, "since": now - timedelta(days=days), "now": now}
    row = session.execute(_last_outbound_query(), values).first()
    return (row[0], row[1]) if row else None


Recent = dict[int, list[tuple[datetime, int, int | None]]]  # contact id -> (sent_at, id, campaign_id)


def recent_outbound(
    session: Session, *, contact_ids: Sequence[int], since: datetime, until: datetime
) -> Recent:
    """The messages sent to these contacts between `since` and `until` (auto-replies excluded), in
    one query for a batch of webhooks: `last_outbound_among` then picks per message what
    `last_outbound` would have found. Every contact asked for has an entry (maybe empty)."""
    out: Recent = {contact_id: [] for contact_id in contact_ids}
    if not out:
        return out
    rows = session.execute(
        _recent_outbound_query(), {"ids": sorted(out), "since": since, "until": until}
    ).all()
    for contact_id, sent_at, outbound_id, campaign_id in rows:
        out[contact_id].append((sent_at, outbound_id, campaign_id))
    return out


def last_outbound_among(
    sent: Sequence[tuple[datetime, int, int | None]], *, now: datetime, days: int
) -> tuple[int, int | None] | None:
    """`last_outbound` over rows read by `recent_outbound` (the last by sent time, then id)."""
    since = now - timedelta(days=days)
    inside = [row for row in sent if since <= row[0] <= now]
    if not inside:
        return None
    _sent_at, outbound_id, campaign_id = max(inside, key=lambda row: (row[0], row[1]))
    return outbound_id, campaign_id


@cache
def _recent_outbound_query() -> Any:
    sent_at = Outbound.__table__.c.sent_at
    return select(Outbound.contact_id, Outbound.sent_at, Outbound.id, Outbound.campaign_id).where(
        Outbound.contact_id.in_(bindparam("ids", expanding=True)),
        Outbound.sent_at.is_not(None),
        Outbound.sent_at >= bindparam("since", type_=sent_at.type),
        Outbound.sent_at <= bindparam("until", type_=sent_at.type),
        (Outbound.provider.is_(None)) | (Outbound.provider != AUTO_REPLY_PROVIDER),
    )


@cache
def _last_outbound_query() -> Any:
    """The query of `last_outbound`, built once (on every inbound message, building it cost more CPU
    than running it); contact_id, since and now are bound parameters."""
    sent_at = Outbound.__table__.c.sent_at
    return (
        select(Outbound.id, Outbound.campaign_id)
        .where(
            Outbound.contact_id == bindparam("contact_id"),
            Outbound.sent_at.is_not(None),
            Outbound.sent_at >= bindparam("since", type_=sent_at.type),
            Outbound.sent_at <= bindparam("now", type_=sent_at.type),
            (Outbound.provider.is_(None)) | (Outbound.provider != AUTO_REPLY_PROVIDER),
        )
        .order_by(Outbound.sent_at.desc(), Outbound.id.desc())
        .limit(1)
    )


_CASES = Case.__table__
_INBOUND = Inbound.__table__
_OUTBOUND = Outbound.__table__
_INSERT_INBOUND = insert(_INBOUND)  # executed with one dict of values: its columns' types apply
_INBOUND_BY_SID = select(_INBOUND.c.id).where(_INBOUND.c.provider_sid == bindparam("sid"))


def stored_sids(session: Session, sids: Sequence[str]) -> set[str]:
    """Which of these provider SIDs are stored already (one query for a batch of webhooks)."""
    if not sids:
        return set()
    found = session.scalars(
        select(_INBOUND.c.provider_sid).where(_INBOUND.c.provider_sid.in_(bindparam("sids", expanding=True))),
        {"sids": list(dict.fromkeys(sids))},
    )
    return set(found)


def open_or_update_case(
    session: Session, *, contact: Contact, intent: Intent, campaign_id: int | None, now: datetime,
    at_least: CasePriority = CasePriority.NORMAL,
) -> int:
    """Id of the contact's open case (new/open), created when there is none; urgent and help raise
    its priority (urgent > high > normal, never lowered while open), and so does `at_least` (a
    voice note or image: high); `waiting_since` keeps the
    oldest unanswered message's time. One upsert on the partial unique index of open cases (one
    per contact), so messages arriving at once from one number share one case: the hot path of the
    webhook, and safe under concurrency."""
    priority = max(PRIORITY_OF.get(intent, CasePriority.NORMAL), at_least, key=PRIORITY_RANK.__getitem__)
    statement = _case_upsert(session.get_bind().dialect.name, priority)
    values = {
        "contact_id": contact.id, "reason": str(intent), "language": contact.language,
        "campaign_id": campaign_id, "now": now,
    }
    return int(session.execute(statement, values).scalar_one())


_case_upserts: dict[tuple[str, CasePriority], Any] = {}


def _case_upsert(dialect: str, priority: CasePriority) -> Any:
    """The upsert of `open_or_update_case` for one dialect and priority, built once: building it
    (its `excluded` columns above all) cost more CPU than running it, on every inbound message.
    The per-message values are bound parameters (contact_id, reason, language, campaign_id, now)."""
    statement = _case_upserts.get((dialect, priority))
    if statement is not None:
        return statement
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import postgresql, sqlite

    def bound(name: str, column: str) -> Any:
        return bindparam(name, type_=_CASES.c[column].type)

    insert_ = postgresql.insert(_CASES) if dialect == "postgresql" else sqlite.insert(_CASES)
    statement = insert_.values(
        contact_id=bound("contact_id", "contact_id"), status=CaseStatus.NEW, priority=priority,
        reason=bound("reason", "reason"), language=bound("language", "language"),
        campaign_id=bound("campaign_id", "campaign_id"), waiting_since=bound("now", "waiting_since"),
        opened_at=bound("now", "opened_at"), updated_at=bound("now", "updated_at"),
    )
    changes: dict[str, Any] = {
        "waiting_since": func.coalesce(_CASES.c.waiting_since, statement.excluded.waiting_since),
        "campaign_id": func.coalesce(_CASES.c.campaign_id, statement.excluded.campaign_id),
        "updated_at": statement.excluded.updated_at,
    }
    if priority != CasePriority.NORMAL:
        higher = [p for p, rank in PRIORITY_RANK.items() if rank >= PRIORITY_RANK[priority]]
        keep = _CASES.c.priority.in_(higher)  # already as high or higher: keep priority and reason
        changes["reason"] = sql_case((keep, _CASES.c.reason), else_=statement.excluded.reason)
        changes["priority"] = sql_case((keep, _CASES.c.priority), else_=statement.excluded.priority)
    statement = statement.on_conflict_do_update(
        # The index's own predicate as literal SQL: with bound values, PostgreSQL cannot match it
        # to the partial index once psycopg prepares the statement (after 5 runs on a connection).
        index_elements=[_CASES.c.contact_id], index_where=text(OPEN_CASE_WHERE), set_=changes
    ).returning(_CASES.c.id)
    _case_upserts[(dialect, priority)] = statement
    return statement


def ask_question(session: Session, *, case_id: int, question: CaseQuestion, now: datetime) -> None:
    """Leaves `question` on the case. An opt-out question replaces a pending opt-in one (it mutes);
    an opt-in question never replaces an opt-out one. Flushes one UPDATE."""
    condition: Any = _CASES.c.question.is_(None)
    if question == CaseQuestion.OPT_OUT:
        condition = condition | (_CASES.c.question == CaseQuestion.OPT_IN)
    session.execute(
        update(_CASES).where(_CASES.c.id == case_id, condition).values(question=question, question_at=now)
    )


def clear_questions(session: Session, *, contact_id: int, question: CaseQuestion) -> int:
    """Removes `question` from every case of the contact (it is answered); returns how many."""
    result = session.execute(
        update(_CASES)
        .where(_CASES.c.contact_id == contact_id, _CASES.c.question == question)
        .values(question=None, question_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pending_resubscribe_question(session: Session, *, contact_id: int, now: datetime) -> bool:
    """True when we asked the contact, less than RESUBSCRIBE_QUESTION_HOURS ago, whether they want
    our messages again, and they have not answered yet."""
    since = now - timedelta(hours=RESUBSCRIBE_QUESTION_HOURS)
    found = session.scalar(
        select(Case.id).where(
            Case.contact_id == contact_id, Case.question == CaseQuestion.OPT_IN, Case.question_at >= since
        ).limit(1)
    )
    return found is not None


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
    media: Sequence[MediaItem] = (),
    unseen: bool = False,
    contacts: Mapping[str, Contact] | None = None,
    recent: Recent | None = None,
) -> InboundResult:
    """Stores one inbound message exactly once and acts on its intent (see the module docstring).

    Flushes the contact (when new), the Inbound row, consent events, cancelled outbound rows, the
    case and its question, the stored auto-reply and one pending row per media item. A message
    with media always reaches a person: its case (opened even next to an opt-out or opt-in, which
    are still recorded) is at least high priority, since no triage can read a voice note or an
    image; media alone is a reply, never auto-answered. A SID already stored returns
    `duplicate=True` with no reply and changes nothing. Raises Invalid("From", ...) for an
    unreadable number. `now` is aware UTC. `unseen=True` says the caller found the SID not stored
    in this transaction (`stored_sids`), which spares one query; a concurrent transaction that
    stores it first still makes this one a duplicate (the SID is unique). `contacts` (by blind
    index, audiences.consent.contacts_by_index) and `recent` (recent_outbound, covering `now` and
    `settings.attribution_days` before it) are what a batch read for all its messages at once.
    """
    if not unseen and session.scalar(_INBOUND_BY_SID, {"sid": sid}) is not None:
        return InboundResult(None, None, duplicate=True)
    # `whatsapp:+502...` is the same person as the SMS number +502...: one contact, channel noted.
    channel = channel_of_address(from_number)
    contact = find_or_create_contact(
        session, phone=phone_of(from_number), settings=settings, now=now, known=contacts
    )
    decision = triage(body, contact.language, catalogue or keyword_table())
    intent = _consent_intent(session, decision, contact, now=now)
    days = settings.attribution_days
    if recent is not None and contact.id in recent:
        attributed = last_outbound_among(recent[contact.id], now=now, days=days)
    else:
        attributed = last_outbound(session, contact_id=contact.id, now=now, days=days)
    outbound_id, campaign_id = attributed or (None, None)
    unread = CasePriority.HIGH if media else CasePriority.NORMAL
    case_id: int | None = None
    inbound_id: int | None = None
    reply_kind: str | None = None
    with _duplicate_guard(session) as duplicate:
        if intent == Intent.OPT_OUT:
            reply_kind = _record_opt_out(session, contact, decision, sid=sid, channel=channel, now=now)
        elif intent == Intent.OPT_IN:
            reply_kind = _record_opt_in(session, contact, decision, sid=sid, channel=channel, now=now)
        else:
            case_id = open_or_update_case(
                session, contact=contact, intent=intent, campaign_id=campaign_id, now=now, at_least=unread
            )
            if decision.opt_out_question:
                ask_question(session, case_id=case_id, question=CaseQuestion.OPT_OUT, now=now)
            if intent in (Intent.HELP, Intent.URGENT):
                reply_kind = str(intent)
            elif decision.affirmation and contact.status == ContactStatus.OPTED_OUT:
                # a bare "sí" after a STOP: ask once whether they want our messages again
                if not pending_resubscribe_question(session, contact_id=contact.id, now=now):
                    ask_question(session, case_id=case_id, question=CaseQuestion.OPT_IN, now=now)
                    reply_kind = autoreplies.RESUBSCRIBE
        if media and case_id is None:  # an opt-out or opt-in with a voice note: a person listens
            case_id = open_or_update_case(
                session, contact=contact, intent=Intent.REPLY, campaign_id=campaign_id, now=now,
                at_least=unread,
            )
        inbound_id = inserted_id(
            session.execute(
                _INSERT_INBOUND,
                dict(
                    provider_sid=sid, contact_id=contact.id, to_number=to_number, channel=channel,
                    body=body, intent=intent,
                    cues=[*decision.cues, *media_cues(media)], outbound_id=outbound_id,
                    campaign_id=campaign_id, case_id=case_id, received_at=now,
                ),
            )
        )
        record_media(session, inbound_id=inbound_id, items=media, now=now)
        reply = None
        if reply_kind is not None:
            answer = autoreplies.compose(
                session, kind=reply_kind, language=contact.language, settings=settings,
                extra={"contact": {"name": contact.name or "", "language": contact.language}},
            )
            autoreplies.store(
                session, answer, contact_id=contact.id, case_id=case_id, now=now, channel=channel
            )
            reply = answer.text
    if duplicate[0]:
        return InboundResult(None, None, duplicate=True)
    return InboundResult(inbound_id, reply, intent=intent, case_id=case_id, cues=decision.cues)


def _consent_intent(session: Session, decision: Triage, contact: Contact, *, now: datetime) -> Intent:
    """The intent acted on: the triage's, except that a bare "sí" answering our pending re-subscribe
    question is an opt-in, and an opt-in from a blocked contact is a reply (a person decides)."""
    intent = decision.intent
    if (
        intent == Intent.REPLY and decision.affirmation and contact.status == ContactStatus.OPTED_OUT
        and pending_resubscribe_question(session, contact_id=contact.id, now=now)
    ):
        return Intent.OPT_IN
    if intent == Intent.OPT_IN and contact.status == ContactStatus.BLOCKED:
        return Intent.REPLY
    return intent


def _record_opt_out(
    session: Session, contact: Contact, decision: Triage, *, sid: str, channel: str, now: datetime
) -> str | None:
    """Opt-out first, before anything that could fail: consent event, status, every queued, held
    or unknown row cancelled, the contact's open opt-out questions answered. Returns the reply
    kind (a confirmation once; a second STOP is recorded but not answered again).

    A STOP on WhatsApp stops SMS as well, and one by SMS stops WhatsApp (audiences.consent.opt_out:
    safety first, the person asked us to stop, whatever the app)."""
    from audiences.consent import opt_out
    from campaign.blasts.delivery import cancel_pending

    already_out = contact.status == ContactStatus.OPTED_OUT
    opt_out(session, contact, channel=channel, keyword=_keyword(decision), source=sid, now=now)
    cancel_pending(session, contact_id=contact.id, reason="opted_out", now=now)
    clear_questions(session, contact_id=contact.id, question=CaseQuestion.OPT_OUT)
    clear_questions(session, contact_id=contact.id, question=CaseQuestion.OPT_IN)
    return None if already_out else autoreplies.OPT_OUT


def _record_opt_in(
    session: Session, contact: Contact, decision: Triage, *, sid: str, channel: str, now: datetime
) -> str:
    """Every explicit opt-in is recorded (consent event, status active, consent source and time);
    it also answers the contact's open questions. Returns the reply kind. An opt-in sent on
    WhatsApp is also the contact's WhatsApp opt-in."""
    from audiences.consent import opt_in

    opt_in(session, contact, channel=channel, keyword=_keyword(decision) or "si", source=sid, now=now)
    clear_questions(session, contact_id=contact.id, question=CaseQuestion.OPT_IN)
    clear_questions(session, contact_id=contact.id, question=CaseQuestion.OPT_OUT)
    return autoreplies.OPT_IN


def _keyword(decision: Triage) -> str | None:
    return decision.keyword[:80] if decision.keyword else None
