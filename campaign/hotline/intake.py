"""Set-based intake of a batch of inbound messages: what `receive_inbound` does, for many at once.

Contract (the rules themselves are campaign/hotline/responses.py's; this module only batches them):
- A batch is handled in a fixed order: messages by sender number (arrival order for one sender),
  the senders' contacts read, and the new ones created, in one upsert; every new message's
  Inbound row inserted in one statement that skips a SID already stored (`ON CONFLICT DO
  NOTHING`, in SID order); then, message by message in sender order, the consent changes, cases,
  questions and auto-replies of the messages that were inserted. A SID stored before, twice in
  the batch, or by a concurrent transaction first is a duplicate: nothing else happens for it.
  No savepoint per message: the insert that cannot conflict decides.
- Lock order: new contacts by blind index, Inbound rows by SID, then contacts and cases by sender
  number, so concurrent batches wait for each other instead of deadlocking.
- Services flush, never commit; `now` of each message is aware UTC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from audiences.phones import PhoneNumber, normalize_phone
from campaign.blasts.channels import channel_of_address, phone_of
from campaign.core.config import Settings
from campaign.core.crypto import blind_index
from campaign.core.errors import Invalid
from campaign.hotline import autoreplies
from campaign.hotline.intents import KeywordTable, Triage, triage
from campaign.hotline.media import MediaItem, media_cues, record_media
from campaign.hotline.models import CasePriority, CaseQuestion, Inbound, Intent


@dataclass(frozen=True)
class InboundMessage:
    """One authenticated inbound message, as the provider sent it. `now` is aware UTC."""

    sid: str
    from_number: str
    body: str
    to_number: str | None
    now: datetime
    media: tuple[MediaItem, ...] = ()


@dataclass
class _Planned:
    position: int
    message: InboundMessage
    contact: Contact
    channel: str
    decision: Triage
    intent: Intent
    outbound_id: int | None
    campaign_id: int | None
    inbound_id: int | None = None
    changed: bool = False  # intent acted on differs from the one inserted


def receive_batch(
    session: Session, messages: Sequence[InboundMessage], *, settings: Settings,
    catalogue: KeywordTable | None = None,
) -> list[Any]:
    """Stores each message once per SID and acts on it (campaign/hotline/responses.py); returns one
    InboundResult per message, in order (a duplicate: no reply, `duplicate=True`). Raises
    Invalid("From", ...) when a new message's number cannot be read. Flushes only."""
    from audiences.consent import find_or_create_contacts, insert_consent_events
    from campaign.hotline.responses import (
        InboundResult,
        consent_intent,
        keyword_table,
        last_outbound_among,
        open_or_update_cases,
        recent_outbound,
        stored_sids,
    )

    results: list[Any] = [InboundResult(None, None, duplicate=True)] * len(messages)
    order = sorted(range(len(messages)), key=lambda i: messages[i].from_number)
    seen = stored_sids(session, [m.sid for m in messages])
    fresh = []
    for i in order:
        if messages[i].sid not in seen:
            seen.add(messages[i].sid)  # the same SID twice in one batch: the first one only
            fresh.append(i)
    if not fresh:
        return results
    indexes: dict[int, str] = {}
    numbers: dict[str, PhoneNumber] = {}
    for i in fresh:
        number = _number(messages[i].from_number)
        indexes[i] = index = blind_index(number.e164)
        numbers.setdefault(index, number)
    contacts = find_or_create_contacts(session, numbers, now=min(messages[i].now for i in fresh))
    instants = [messages[i].now for i in fresh]
    days = settings.attribution_days
    recent = recent_outbound(
        session, contact_ids=sorted({c.id for c in contacts.values()}),
        since=min(instants) - timedelta(days=days), until=max(instants),
    )
    table = catalogue or keyword_table()
    planned = []
    for i in fresh:
        message = messages[i]
        contact = contacts[indexes[i]]
        decision = _triage(message.body, contact.language, table)
        intent = consent_intent(session, decision, contact, now=message.now)
        outbound_id, campaign_id = last_outbound_among(recent[contact.id], now=message.now, days=days) or (
            None, None
        )
        planned.append(_Planned(
            i, message, contact, channel_of_address(message.from_number), decision, intent, outbound_id,
            campaign_id,
        ))
    _insert_inbound(session, planned)
    updates: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []  # consent events of opt-outs, inserted together at the end
    acted: set[int] = set()
    run: list[_Planned] = []  # consecutive messages that only open or update a case, one per contact

    def act(plans: list[_Planned], cases: dict[int, int]) -> None:
        for plan in plans:
            case_id = cases.get(plan.contact.id)
            result = _act(session, plan, settings=settings, replies=replies, events=events, case_id=case_id)
            results[plan.position] = result
            if result.case_id is not None or plan.changed:
                updates.append({"_id": plan.inbound_id, "case_id": result.case_id, "intent": plan.intent})

    def flush_run() -> None:
        cases = open_or_update_cases(
            session, [(p.contact, p.intent, p.campaign_id, p.message.now, CasePriority.NORMAL) for p in run]
        )
        act(run, cases)
        run.clear()

    for plan in planned:
        if plan.inbound_id is None:  # a concurrent transaction stored this SID first
            continue
        if plan.contact.id in acted:
            flush_run()
            # an earlier message of the batch may have changed the contact's consent or questions
            intent = consent_intent(session, plan.decision, plan.contact, now=plan.message.now)
            plan.changed, plan.intent = intent != plan.intent, intent
        acted.add(plan.contact.id)
        if plan.intent in (Intent.OPT_OUT, Intent.OPT_IN) or plan.message.media:
            flush_run()
            act([plan], {})
        else:
            run.append(plan)  # its case upserted with the run's (sender order: the lock order)
    flush_run()
    if updates:
        session.execute(_SET_CASE, updates)
    autoreplies.store_many(session, replies)
    insert_consent_events(session, events)
    return results


_TRIAGED: dict[tuple[str, str | None], tuple[KeywordTable, Triage]] = {}
TRIAGE_MEMO_CHARS = 160  # short texts repeat ("STOP", "SI", "AYUDA", "gracias"): remembered


def _triage(body: str, language: str | None, table: KeywordTable) -> Triage:
    """`triage` (pure), remembered for short texts with the table that decided them: most replies
    are a few words that many people send, and triage is the costliest step of a message."""
    if len(body) > TRIAGE_MEMO_CHARS:
        return triage(body, language, table)
    held = _TRIAGED.get((body, language))
    if held is not None and held[0] is table:
        return held[1]
    decision = triage(body, language, table)
    if len(_TRIAGED) >= 4096:
        _TRIAGED.clear()
    _TRIAGED[(body, language)] = (table, decision)
    return decision


@lru_cache(maxsize=8192)
def _number(from_number: str) -> PhoneNumber:
    """The sender's number normalized (pure, so kept: a batch meets the same senders again and again).
    Raises Invalid("From", ...) when it cannot be read."""
    try:
        return normalize_phone(phone_of(from_number))
    except Invalid as exc:
        raise Invalid("From", exc.reason) from exc


def _insert_inbound(session: Session, planned: list[_Planned]) -> None:
    """One INSERT of every planned message, in SID order, skipping SIDs already stored (by another
    transaction: this one waits for it to end); sets `inbound_id` of those inserted."""
    rows = [
        {
            "provider_sid": p.message.sid, "contact_id": p.contact.id, "to_number": p.message.to_number,
            "channel": p.channel, "body": p.message.body, "intent": p.intent,
            "cues": [*p.decision.cues, *media_cues(p.message.media)], "outbound_id": p.outbound_id,
            "campaign_id": p.campaign_id, "case_id": None, "received_at": p.message.now,
        }
        for p in sorted(planned, key=lambda p: p.message.sid)
    ]
    dialect = session.get_bind().dialect.name
    params: Any = rows
    if dialect == "postgresql":  # one array per column (see _insert_statement)
        params = {name: [row[name] for row in rows] for name in _INBOUND_COLUMNS}
        params["cues"] = [json.dumps(cues, ensure_ascii=False) for cues in params["cues"]]
    inserted = dict(session.execute(_insert_statement(dialect), params).all())
    for plan in planned:
        plan.inbound_id = inserted.get(plan.message.sid)


def _act(
    session: Session, plan: _Planned, *, settings: Settings, replies: list[dict[str, Any]],
    events: list[dict[str, Any]], case_id: int | None,
) -> Any:
    """The consent change, case and question of one stored message (responses.py); its auto-reply
    is composed and added to `replies` (stored with the batch's others). `case_id`: the contact's
    case, already opened or updated for this message (a reply, without media), else None."""
    from campaign.hotline.responses import (
        InboundResult,
        ask_question,
        open_or_update_case,
        pending_resubscribe_question,
        record_opt_in,
        record_opt_out,
    )

    message, contact, decision, intent = plan.message, plan.contact, plan.decision, plan.intent
    now, media = message.now, message.media
    unread = CasePriority.HIGH if media else CasePriority.NORMAL
    reply_kind: str | None = None
    sid, channel = message.sid, plan.channel
    if intent == Intent.OPT_OUT:
        reply_kind = record_opt_out(
            session, contact, decision, sid=sid, channel=channel, now=now, events=events
        )
    elif intent == Intent.OPT_IN:
        reply_kind = record_opt_in(session, contact, decision, sid=sid, channel=channel, now=now)
    elif case_id is None:
        case_id = open_or_update_case(
            session, contact=contact, intent=intent, campaign_id=plan.campaign_id, now=now, at_least=unread
        )
    if case_id is not None and intent not in (Intent.OPT_OUT, Intent.OPT_IN):
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
            session, contact=contact, intent=Intent.REPLY, campaign_id=plan.campaign_id, now=now,
            at_least=unread,
        )
    assert plan.inbound_id is not None
    record_media(session, inbound_id=plan.inbound_id, items=media, now=now)
    reply = None
    if reply_kind is not None:
        answer = autoreplies.compose(
            session, kind=reply_kind, language=contact.language, settings=settings,
            extra={"contact": {"name": contact.name or "", "language": contact.language}},
        )
        replies.append(
            autoreplies.row(answer, contact_id=contact.id, case_id=case_id, now=now, channel=channel)
        )
        reply = answer.text
    return InboundResult(plan.inbound_id, reply, intent=intent, case_id=case_id, cues=decision.cues)


_INBOUND = Inbound.__table__
_SET_CASE = (
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("_id"))
    .values(case_id=bindparam("case_id"), intent=bindparam("intent"))
)


_INBOUND_COLUMNS = (
    "provider_sid", "contact_id", "to_number", "channel", "body", "intent", "cues", "outbound_id",
    "campaign_id", "case_id", "received_at",
)


@cache
def _insert_statement(dialect: str) -> Any:
    """INSERT of Inbound rows that skips a stored SID and returns (SID, id) of those inserted,
    built once per dialect. On PostgreSQL the rows come as one array per column, unnested (`cues`
    as JSON text): the statement's text is the same whatever the batch's size, so psycopg keeps
    its conversion and PostgreSQL its plan (prepared), where a multi-row VALUES of a new length
    was converted and planned again each batch (measured: 19 % of a batch's CPU). On SQLite:
    executed with a list of rows (one statement, insertmanyvalues)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect != "postgresql":
        return sqlite.insert(_INBOUND).on_conflict_do_nothing(index_elements=["provider_sid"]).returning(
            _INBOUND.c.provider_sid, _INBOUND.c.id
        )

    def unnested(name: str) -> Any:
        if name == "cues":
            return cast(func.unnest(bindparam(name, type_=postgresql.ARRAY(Text))), postgresql.JSONB)
        return func.unnest(bindparam(name, type_=postgresql.ARRAY(_INBOUND.c[name].type)))

    rows = select(*(unnested(name).label(name) for name in _INBOUND_COLUMNS))
    return (
        postgresql.insert(_INBOUND)
        .from_select(list(_INBOUND_COLUMNS), rows)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(_INBOUND.c.provider_sid, _INBOUND.c.id)
    )
