"""Hotline case services: list and filter, thread, reply, notes, assign, reveal.

Resolving with an outcome, reopening and follow-ups live in campaign/hotline/outcomes.py; who is
answering a case (its lock) in campaign/hotline/locks.py.

Every service takes `session` keyword-only, flushes, never commits, and audits staff actions with
campaign.core.audit.record_audit (never a phone number or a message body in the audit detail).
Phone numbers are masked ("+502 ****-1234") unless revealed, and a reveal is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiences.models import ConsentEvent, ConsentKind, Contact, ContactStatus
from audiences.phones import mask_phone
from campaign.blasts.channels import SMS, WHATSAPP
from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.core.audit import record_audit
from campaign.core.errors import Invalid, InvalidTransition, NotFound
from campaign.core.i18n import _
from campaign.hotline import locks
from campaign.hotline.labels import label
from campaign.hotline.locks import DEFAULT_LOCK_MINUTES
from campaign.hotline.media import media_of
from campaign.hotline.models import (
    CASE_TRANSITIONS,
    Case,
    CaseNote,
    CasePriority,
    CaseQuestion,
    CaseStatus,
    Inbound,
    InboundMedia,
    Intent,
    User,
)
from messages.models import Message

REPLY_PRIORITY = 10
MAX_REPLY_CHARS = 1600


@dataclass(frozen=True)
class CaseSummary:
    """One row of the inbox."""

    id: int
    status: str
    priority: str
    reason: str | None
    language: str | None
    contact_id: int
    phone_masked: str
    contact_name: str | None
    campaign_id: int | None
    campaign_name: str | None
    assignee: str | None
    waiting_since: datetime | None
    opened_at: datetime
    last_body: str | None
    inbound_count: int


def _status_values(value: str | None, allowed: Sequence[str], field: str) -> str | None:
    if value in (None, "", "all"):
        return None
    if value not in allowed:
        raise Invalid(
            field, _("%(value)r is not one of %(allowed)s", value=value, allowed=", ".join(allowed))
        )
    return value


def list_cases(
    session: Session,
    *,
    status: str | None = None,
    priority: str | None = None,
    language: str | None = None,
    campaign_id: int | None = None,
    assignee_id: int | None = None,
    open_only: bool = False,
    limit: int = 500,
) -> list[CaseSummary]:
    """Cases, urgent first, then high (help requests), then normal; within each the longest
    waiting. Filters are optional; an unknown status or priority raises Invalid naming the filter."""
    status = _status_values(status, [s.value for s in CaseStatus], "status")
    priority = _status_values(priority, [p.value for p in CasePriority], "priority")
    last_inbound = (
        select(Inbound.body)
        .where(Inbound.contact_id == Case.contact_id)
        .order_by(Inbound.received_at.desc(), Inbound.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    count_inbound = (
        select(func.count(Inbound.id)).where(Inbound.case_id == Case.id).correlate(Case).scalar_subquery()
    )
    query = (
        select(Case, Contact.phone, Contact.name, Campaign.name, User.username, last_inbound, count_inbound)
        .join(Contact, Contact.id == Case.contact_id)
        .outerjoin(Campaign, Campaign.id == Case.campaign_id)
        .outerjoin(User, User.id == Case.assignee_id)
    )
    if status:
        query = query.where(Case.status == status)
    elif open_only:
        query = query.where(Case.status.in_((CaseStatus.NEW, CaseStatus.OPEN)))
    if priority:
        query = query.where(Case.priority == priority)
    if language:
        query = query.where(Case.language == language)
    if campaign_id is not None:
        query = query.where(Case.campaign_id == campaign_id)
    if assignee_id is not None:
        query = query.where(Case.assignee_id == assignee_id)
    query = query.order_by(
        sql_case(
            (Case.priority == CasePriority.URGENT, 0), (Case.priority == CasePriority.HIGH, 1), else_=2
        ),
        sql_case((Case.status == CaseStatus.RESOLVED, 1), else_=0),
        sql_case((Case.waiting_since.is_(None), 1), else_=0),
        Case.waiting_since,
        Case.opened_at,
        Case.id,
    ).limit(limit)
    return [
        CaseSummary(
            id=c.id, status=str(c.status), priority=str(c.priority), reason=c.reason, language=c.language,
            contact_id=c.contact_id, phone_masked=mask_phone(phone), contact_name=name,
            campaign_id=c.campaign_id, campaign_name=campaign_name, assignee=assignee,
            waiting_since=c.waiting_since, opened_at=c.opened_at, last_body=body, inbound_count=n or 0,
        )
        for c, phone, name, campaign_name, assignee, body, n in session.execute(query)
    ]


def get_case(session: Session, case_id: int) -> Case:
    """The case with this id; raises NotFound."""
    found = session.get(Case, case_id)
    if found is None:
        raise NotFound(_("case %(case)d not found", case=case_id))
    return found


@dataclass(frozen=True)
class ThreadItem:
    """One message of a contact's thread, in either direction."""

    direction: str  # "in" | "out"
    at: datetime
    body: str
    status: str | None
    intent: str | None
    campaign_name: str | None
    message_slug: str | None
    language: str | None
    automatic: bool
    cues: tuple[str, ...] = ()  # what the triage found in an inbound message
    media: tuple[InboundMedia, ...] = ()  # voice notes and images of an inbound message
    case_id: int | None = None  # the case an inbound message went to (its media are served there)


def thread(session: Session, *, contact_id: int) -> list[ThreadItem]:
    """Every inbound and outbound message of the contact, oldest first, with campaign and message
    names (planned blasts never sent are left out)."""
    items: list[ThreadItem] = []
    inbound = session.execute(
        select(Inbound, Campaign.name)
        .outerjoin(Campaign, Campaign.id == Inbound.campaign_id)
        .where(Inbound.contact_id == contact_id)
    )
    received = list(inbound)
    attached = media_of(session, (row.id for row, _name in received))
    for row, campaign_name in received:
        items.append(
            ThreadItem(
                "in", row.received_at, row.body, None, str(row.intent), campaign_name, None, None, False,
                tuple(row.cues or ()), tuple(attached.get(row.id, ())), row.case_id,
            )
        )
    outbound = session.execute(
        select(Outbound, Campaign.name, Message.slug)
        .outerjoin(Campaign, Campaign.id == Outbound.campaign_id)
        .outerjoin(Message, Message.id == Outbound.message_id)
        .where(
            Outbound.contact_id == contact_id,
            (Outbound.case_id.is_not(None))
            | Outbound.status.notin_((OutboundStatus.QUEUED, OutboundStatus.SKIPPED, OutboundStatus.CANCELLED,
                                      OutboundStatus.EXPIRED)),
        )
    )
    for sent, campaign_name, slug in outbound:
        items.append(
            ThreadItem(
                "out", sent.sent_at or sent.created_at, sent.body, str(sent.status), None, campaign_name,
                slug, sent.language, sent.provider == "twiml",
            )
        )
    items.sort(key=lambda item: item.at)
    return items


def notes(session: Session, *, case_id: int) -> list[tuple[CaseNote, str | None]]:
    """The case's internal notes with their authors' usernames, oldest first."""
    return list(
        session.execute(
            select(CaseNote, User.username)
            .outerjoin(User, User.id == CaseNote.author_id)
            .where(CaseNote.case_id == case_id)
            .order_by(CaseNote.created_at, CaseNote.id)
        ).all()
    )


def _transition(found: Case, target: CaseStatus) -> None:
    if target not in CASE_TRANSITIONS[CaseStatus(found.status)]:
        raise InvalidTransition(_("case %(case)d", case=found.id), str(found.status), str(target))
    found.status = target


REPLY_AFTER_OPT_OUT = timedelta(hours=24)


def reply_refusal(session: Session, contact: Contact, *, now: datetime) -> str | None:
    """Why no reply may go to `contact` now (None when it may).

    A blocked contact gets nothing. An opted-out contact gets a reply only when it answers their
    own message: one they sent after their latest opt-out (not the opt-out itself) and within the
    last 24 hours. A STOP always wins over what came before it.
    """
    if contact.status == ContactStatus.ACTIVE:
        return None
    if contact.status == ContactStatus.OPTED_OUT:
        opted_out_at = session.scalar(
            select(func.max(ConsentEvent.at)).where(
                ConsentEvent.contact_id == contact.id, ConsentEvent.kind == ConsentKind.OPT_OUT
            )
        )
        since = now - REPLY_AFTER_OPT_OUT
        conditions = [
            Inbound.contact_id == contact.id,
            Inbound.intent != Intent.OPT_OUT,
            Inbound.received_at >= since,
            Inbound.received_at <= now,
        ]
        if opted_out_at is not None:
            conditions.append(Inbound.received_at > opted_out_at)
        if session.scalar(select(Inbound.id).where(*conditions).limit(1)) is not None:
            return None
        return _(
            "The contact opted out: a reply may only answer a message they sent in the last 24 hours "
            "after opting out."
        )
    return _("The contact is %(status)s: no message may be sent.", status=label(contact.status))


def reply_channel(session: Session, *, contact_id: int, now: datetime) -> str:
    """The channel a staff reply goes by: WhatsApp when the contact's latest message came by
    WhatsApp within the last 24 h (a conversation they opened there), else SMS."""
    from campaign.blasts.channels import whatsapp_window_open

    latest = session.scalar(
        select(Inbound.channel).where(Inbound.contact_id == contact_id, Inbound.received_at <= now)
        .order_by(Inbound.received_at.desc(), Inbound.id.desc()).limit(1)
    )
    if latest == WHATSAPP and contact_id in whatsapp_window_open(session, [contact_id], now):
        return WHATSAPP
    return SMS


def reply(
    session: Session,
    *,
    case_id: int,
    user: User,
    body: str,
    now: datetime,
    policy: str = "exact",
    lock_minutes: int = DEFAULT_LOCK_MINUTES,
) -> Outbound:
    """Queues a staff reply in the case's thread (priority 10: ahead of blasts), marks the case
    open and answered (the first answer's time is kept for the dashboard), audits it. The text is
    sent as the encoding `policy` of the contact's language makes it (messages.encoding, the same
    rule as `campaign messages segments` and the reply box's counter). The caller commits, then
    sends it with dispatch.send_now.

    Raises Invalid("body") for an empty or too long text, Invalid("contact") when no message may go
    to the contact (see `reply_refusal`), CaseHeld when another staff member holds the case (the
    user takes the lock when it is free)."""
    from messages.encoding import apply_policy
    from messages.rendering import normalize_text

    text = normalize_text(body.strip())
    if not text:
        raise Invalid("body", _("the reply is empty"))
    if len(text) > MAX_REPLY_CHARS:
        raise Invalid("body", _("longer than %(n)d characters", n=MAX_REPLY_CHARS))
    found = get_case(session, case_id)
    contact = session.get(Contact, found.contact_id)
    assert contact is not None
    refusal = reply_refusal(session, contact, now=now)
    if refusal:
        raise Invalid("contact", refusal)
    locks.require(session, case_id=found.id, user=user, now=now, lock_minutes=lock_minutes)
    info = apply_policy(text, policy)
    channel = reply_channel(session, contact_id=contact.id, now=now)
    outbound = Outbound(
        contact_id=contact.id, case_id=found.id, campaign_id=None, language=contact.language, body=info.text,
        encoding=info.encoding, segments=info.segments, priority=REPLY_PRIORITY, status=OutboundStatus.QUEUED,
        send_after=now, created_at=now, channel=channel,
        # should WhatsApp refuse it (window closed meanwhile, not a user), the person gets the SMS
        fallback_channel=SMS if channel == WHATSAPP else None,
    )
    session.add(outbound)
    if found.status == CaseStatus.NEW:
        _transition(found, CaseStatus.OPEN)
    if found.assignee_id is None:
        found.assignee_id = user.id
    if found.first_answer_at is None:
        found.first_answer_at = now
    found.waiting_since = None
    found.updated_at = now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.reply", now=now, target_type="case",
        target_id=found.id, detail={"outbound_id": outbound.id, "segments": info.segments},
    )
    return outbound


def add_note(session: Session, *, case_id: int, user: User, body: str, now: datetime) -> CaseNote:
    """Adds an internal note (never sent to the contact). Raises Invalid("note") when empty."""
    text = body.strip()
    if not text:
        raise Invalid("note", _("the note is empty"))
    found = get_case(session, case_id)
    note = CaseNote(case_id=found.id, author_id=user.id, body=text, created_at=now)
    session.add(note)
    found.updated_at = now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.note", now=now, target_type="case",
        target_id=found.id,
    )
    return note


def assign(session: Session, *, case_id: int, assignee_id: int | None, user: User, now: datetime) -> Case:
    """Gives the case to a user (None = nobody): a reassignment, audited with the previous
    assignee. Whoever holds the case's lock, unless it is the new assignee, loses it (their page
    says so on its next refresh). Raises NotFound for an unknown or inactive user."""
    found = get_case(session, case_id)
    if assignee_id is not None:
        assignee = session.get(User, assignee_id)
        if assignee is None or not assignee.active:
            raise NotFound(_("user %(id)d not found", id=assignee_id))
    before = found.assignee_id
    found.assignee_id = assignee_id
    found.updated_at = now
    session.flush()
    if found.locked_by_id is not None and found.locked_by_id != assignee_id:
        locks.release(session, case_id=found.id)
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.assign", now=now, target_type="case",
        target_id=found.id, detail={"assignee_id": assignee_id, "from_assignee_id": before},
    )
    return found


def reveal_phone(
    session: Session, *, case_id: int, actor: str, now: datetime, user_id: int | None = None
) -> str:
    """The contact's full number (E.164); the reveal is audited."""
    found = get_case(session, case_id)
    contact = session.get(Contact, found.contact_id)
    assert contact is not None
    record_audit(
        session, actor=actor, user_id=user_id, action="contact.reveal", now=now, target_type="contact",
        target_id=contact.id, detail={"case_id": found.id},
    )
    return contact.phone


def answer_opt_out_question(
    session: Session, *, case_id: int, user: User, opted_out: bool, now: datetime
) -> Case:
    """Staff answer the case's open question "did this contact ask to stop messages?".

    Yes: the contact is opted out (a consent event by this user, channel web) and every queued,
    held or unknown row of theirs cancelled. No: the question is removed, and the contact may
    receive blasts again once no open case mutes them. Either way the question leaves every case
    of the contact, and the answer is audited. Raises Invalid("question") when the case holds no
    such question. Flushes.
    """
    from audiences.consent import opt_out
    from campaign.blasts.delivery import cancel_pending
    from campaign.hotline.responses import clear_questions

    found = get_case(session, case_id)
    if found.question != CaseQuestion.OPT_OUT:
        raise Invalid("question", _("case %(case_id)s has no open opt-out question", case_id=case_id))
    contact = session.get(Contact, found.contact_id)
    assert contact is not None
    if opted_out:
        event = opt_out(session, contact, channel="web", keyword=None, source=f"case {found.id}", now=now)
        event.recorded_by = user.username
        cancel_pending(session, contact_id=contact.id, reason="opted_out", now=now)
    clear_questions(session, contact_id=contact.id, question=CaseQuestion.OPT_OUT)
    found.updated_at = now
    session.flush()
    session.refresh(found)
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.opt_out_question", now=now,
        target_type="case", target_id=found.id, detail={"opted_out": opted_out},
    )
    return found
