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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from campaign.blasts.models import Outbound
from campaign.core.config import Settings
from campaign.core.db import in_values
from campaign.hotline import autoreplies
from campaign.hotline.autoreplies import AUTO_REPLY_PROVIDER
from campaign.hotline.intents import KeywordTable, Triage, compile_catalogue, pack_lexicon
from campaign.hotline.media import MediaItem
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


Recent = dict[int, list[tuple[datetime, int, int | None]]]  # contact id -> (sent_at, id, campaign_id)


def recent_outbound(
    session: Session, *, contact_ids: Sequence[int], since: datetime, until: datetime
) -> Recent:
    """The messages sent to these contacts between `since` and `until` (auto-replies excluded), in
    one query for a batch of webhooks: `last_outbound_among` then picks per message the last
    one before it. Every contact asked for has an entry (maybe empty)."""
    out: Recent = {contact_id: [] for contact_id in contact_ids}
    if not out:
        return out
    rows = session.execute(
        _recent_outbound_query(session.get_bind().dialect.name),
        {"ids": sorted(out), "since": since, "until": until},
    ).all()
    for contact_id, sent_at, outbound_id, campaign_id in rows:
        out[contact_id].append((sent_at, outbound_id, campaign_id))
    return out


def last_outbound_among(
    sent: Sequence[tuple[datetime, int, int | None]], *, now: datetime, days: int
) -> tuple[int, int | None] | None:
    """(id, campaign_id) of the last message sent to the contact within `days` before `now`, among
    rows read by `recent_outbound` (the last by sent time, then id), or None."""
    since = now - timedelta(days=days)
    inside = [row for row in sent if since <= row[0] <= now]
    if not inside:
        return None
    _sent_at, outbound_id, campaign_id = max(inside, key=lambda row: (row[0], row[1]))
    return outbound_id, campaign_id


@cache
def _recent_outbound_query(dialect: str) -> Any:
    sent_at = Outbound.__table__.c.sent_at
    return select(Outbound.contact_id, Outbound.sent_at, Outbound.id, Outbound.campaign_id).where(
        in_values(Outbound.__table__.c.contact_id, "ids", dialect),
        Outbound.sent_at.is_not(None),
        Outbound.sent_at >= bindparam("since", type_=sent_at.type),
        Outbound.sent_at <= bindparam("until", type_=sent_at.type),
        (Outbound.provider.is_(None)) | (Outbound.provider != AUTO_REPLY_PROVIDER),
    )


_CASES = Case.__table__
_INBOUND = Inbound.__table__
_OUTBOUND = Outbound.__table__


def stored_sids(session: Session, sids: Sequence[str]) -> set[str]:
    """Which of these provider SIDs are stored already (one query for a batch of webhooks)."""
    if not sids:
        return set()
    statement = _stored_sids_query(session.get_bind().dialect.name)
    found = session.scalars(statement, {"sids": list(dict.fromkeys(sids))})
    return set(found)


@cache
def _stored_sids_query(dialect: str) -> Any:
    return select(_INBOUND.c.provider_sid).where(in_values(_INBOUND.c.provider_sid, "sids", dialect))


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
    statement = _case_upsert(session.get_bind().dialect.name, _case_priority(intent, at_least))
    values = {
        "contact_id": contact.id, "reason": str(intent), "language": contact.language,
        "campaign_id": campaign_id, "now": now,
    }
    return int(session.execute(statement, values).scalar_one())


def _case_priority(intent: Intent, at_least: CasePriority) -> CasePriority:
    return max(PRIORITY_OF.get(intent, CasePriority.NORMAL), at_least, key=PRIORITY_RANK.__getitem__)


def open_or_update_cases(
    session: Session, rows: Sequence[tuple[Contact, Intent, int | None, datetime, CasePriority]]
) -> dict[int, int]:
    """`open_or_update_case` for several contacts at once, each at most once: (contact, intent,
    campaign_id, now, at_least) per contact, in one upsert that locks their cases in this order.
    Returns contact id -> case id."""
    if not rows:
        return {}
    values: list[dict[str, Any]] = [
        {
            "contact_id": contact.id, "reason": str(intent), "language": contact.language,
            "campaign_id": campaign_id, "now": now,
            "priority": _case_priority(intent, at_least),
        }
        for contact, intent, campaign_id, now, at_least in rows
    ]
    if len(values) == 1:  # the statement of one message, prepared already on the connection
        one = values[0]
        statement = _case_upsert(session.get_bind().dialect.name, one.pop("priority"))
        return {one["contact_id"]: int(session.execute(statement, one).scalar_one())}
    found = session.execute(_cases_upsert(session.get_bind().dialect.name), values).all()
    return {contact_id: case_id for contact_id, case_id in found}


@cache
def _cases_upsert(dialect: str) -> Any:
    """The upsert of `open_or_update_cases`: `_case_upsert` with the priority a bound value of each
    row, compared by rank in SQL (urgent > high > normal), built once per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    def bound(name: str, column: str) -> Any:
        return bindparam(name, type_=_CASES.c[column].type)

    def rank(column: Any) -> Any:
        return sql_case({str(p): r for p, r in PRIORITY_RANK.items()}, value=column, else_=0)

    insert_ = postgresql.insert(_CASES) if dialect == "postgresql" else sqlite.insert(_CASES)
    statement = insert_.values(
        contact_id=bound("contact_id", "contact_id"), status=CaseStatus.NEW,
        priority=bound("priority", "priority"), reason=bound("reason", "reason"),
        language=bound("language", "language"), campaign_id=bound("campaign_id", "campaign_id"),
        waiting_since=bound("now", "waiting_since"), opened_at=bound("now", "opened_at"),
        updated_at=bound("now", "updated_at"),
    )
    keep = rank(_CASES.c.priority) >= rank(statement.excluded.priority)  # as high already: kept
    changes: dict[str, Any] = {
        "waiting_since": func.coalesce(_CASES.c.waiting_since, statement.excluded.waiting_since),
        "campaign_id": func.coalesce(_CASES.c.campaign_id, statement.excluded.campaign_id),
        "updated_at": statement.excluded.updated_at,
        "reason": sql_case((keep, _CASES.c.reason), else_=statement.excluded.reason),
        "priority": sql_case((keep, _CASES.c.priority), else_=statement.excluded.priority),
    }
    return statement.on_conflict_do_update(
        index_elements=[_CASES.c.contact_id], index_where=text(OPEN_CASE_WHERE), set_=changes
    ).returning(_CASES.c.contact_id, _CASES.c.id)


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
) -> InboundResult:
    """Stores one inbound message exactly once and acts on its intent (see the module docstring).

    Flushes the contact (when new), the Inbound row, consent events, cancelled outbound rows, the
    case and its question, the stored auto-reply and one pending row per media item. A message
    with media always reaches a person: its case (opened even next to an opt-out or opt-in, which
    are still recorded) is at least high priority, since no triage can read a voice note or an
    image; media alone is a reply, never auto-answered. A SID already stored (also by a concurrent
    transaction: the SID is unique) returns `duplicate=True` with no reply and changes nothing.
    Raises Invalid("From", ...) for an unreadable number. `now` is aware UTC. A batch of messages
    goes through campaign.hotline.intake.receive_batch, which this calls with one.
    """
    from campaign.hotline.intake import InboundMessage, receive_batch

    message = InboundMessage(sid, from_number, body, to_number, now, tuple(media))
    result: InboundResult = receive_batch(session, [message], settings=settings, catalogue=catalogue)[0]
    return result


def consent_intent(session: Session, decision: Triage, contact: Contact, *, now: datetime) -> Intent:
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


def record_opt_out(
    session: Session, contact: Contact, decision: Triage, *, sid: str, channel: str, now: datetime,
    events: list[dict[str, Any]],
) -> str | None:
    """Opt-out first, before anything that could fail: status, every queued, held or unknown row
    cancelled, the contact's open opt-out questions answered, and the consent event appended to
    `events` (audiences.consent.opt_out_rows: the caller inserts the batch's events before its
    transaction ends). Returns the reply kind (a confirmation once; a second STOP is recorded but
    not answered again).

    A STOP on WhatsApp stops SMS as well, and one by SMS stops WhatsApp (audiences.consent.opt_out:
    safety first, the person asked us to stop, whatever the app)."""
    from audiences.consent import opt_out_rows
    from campaign.blasts.delivery import cancel_pending

    already_out = contact.status == ContactStatus.OPTED_OUT
    opt_out_rows(
        session, contact, channel=channel, keyword=_keyword(decision), source=sid, now=now, events=events
    )
    cancel_pending(session, contact_id=contact.id, reason="opted_out", now=now)
    _clear_consent_questions(session, contact_id=contact.id)
    return None if already_out else autoreplies.OPT_OUT


def record_opt_in(
    session: Session, contact: Contact, decision: Triage, *, sid: str, channel: str, now: datetime
) -> str:
    """Every explicit opt-in is recorded (consent event, status active, consent source and time);
    it also answers the contact's open questions. Returns the reply kind. An opt-in sent on
    WhatsApp is also the contact's WhatsApp opt-in."""
    from audiences.consent import opt_in

    opt_in(session, contact, channel=channel, keyword=_keyword(decision) or "si", source=sid, now=now)
    _clear_consent_questions(session, contact_id=contact.id)
    return autoreplies.OPT_IN


_CLEAR_CONSENT_QUESTIONS = (
    update(_CASES)
    .where(
        _CASES.c.contact_id == bindparam("_contact"),
        _CASES.c.question.in_((CaseQuestion.OPT_OUT, CaseQuestion.OPT_IN)),
    )
    .values(question=None, question_at=None)
)


def _clear_consent_questions(session: Session, *, contact_id: int) -> None:
    """Answers both consent questions of every case of the contact (a clear STOP or ALTA), in one
    UPDATE built once (`clear_questions` twice, on every opt-out and opt-in)."""
    session.execute(_CLEAR_CONSENT_QUESTIONS, {"_contact": contact_id})


def _keyword(decision: Triage) -> str | None:
    return decision.keyword[:80] if decision.keyword else None
