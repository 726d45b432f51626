"""Hotline case services: list and filter, thread, reply, notes, assign, resolve/reopen, reveal.

Every service takes `session` keyword-only, flushes, never commits, and audits staff actions with
campaign.core.audit.record_audit (never a phone number or a message body in the audit detail).
Phone numbers are masked ("+502 ****-1234") unless revealed, and a reveal is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus
from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.core.audit import record_audit
from campaign.core.errors import Invalid, InvalidTransition, NotFound
from campaign.core.i18n import _
from campaign.hotline.models import (
    CASE_TRANSITIONS,
    Case,
    CaseNote,
    CasePriority,
    CaseQuestion,
    CaseStatus,
    Inbound,
    User,
)
from messages.models import Message

REPLY_PRIORITY = 10
MAX_REPLY_CHARS = 1600


def mask_phone(e164: str | None) -> str:
    """"+50255551234" -> "+502 ****-1234" (country code and last four digits only)."""
    if not e164:
        return ""
    digits = "".join(c for c in e164 if c.isdigit())
    last = digits[-4:]
    try:
        import phonenumbers

        country = str(phonenumbers.parse(e164).country_code)
    except Exception:  # noqa: BLE001 - an odd number still gets masked, with a short prefix
        country = digits[:3]
    return f"+{country} ****-{last}"


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
        raise Invalid(field, f"{value!r} is not one of {', '.join(allowed)}")
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
        raise NotFound(f"case {case_id} not found")
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


def thread(session: Session, *, contact_id: int) -> list[ThreadItem]:
    """Every inbound and outbound message of the contact, oldest first, with campaign and message
    names (planned blasts never sent are left out)."""
    items: list[ThreadItem] = []
    inbound = session.execute(
        select(Inbound, Campaign.name)
        .outerjoin(Campaign, Campaign.id == Inbound.campaign_id)
        .where(Inbound.contact_id == contact_id)
    )
    for row, campaign_name in inbound:
        items.append(
            ThreadItem(
                "in", row.received_at, row.body, None, str(row.intent), campaign_name, None, None, False,
                tuple(row.cues or ()),
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
        raise InvalidTransition(f"case {found.id}", str(found.status), str(target))
    found.status = target


def reply(session: Session, *, case_id: int, user: User, body: str, now: datetime) -> Outbound:
    """Queues a staff reply in the case's thread (priority 10: ahead of blasts), marks the case
    open and answered, audits it. The caller commits, then sends it with dispatch.send_now.
    Raises Invalid("body") for an empty or too long text, Invalid("contact") when the contact
    opted out or is blocked (a STOP stops every message)."""
    from messages.encoding import analyze
    from messages.rendering import normalize_text

    text = normalize_text(body.strip())
    if not text:
        raise Invalid("body", "the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise Invalid("body", f"longer than {MAX_REPLY_CHARS} characters")
    found = get_case(session, case_id)
    contact = session.get(Contact, found.contact_id)
    assert contact is not None
    if contact.status != ContactStatus.ACTIVE:
        raise Invalid("contact", f"the contact is {contact.status}: no message may be sent")
    info = analyze(text)
    outbound = Outbound(
        contact_id=contact.id, case_id=found.id, campaign_id=None, language=contact.language, body=text,
        encoding=info.encoding, segments=info.segments, priority=REPLY_PRIORITY, status=OutboundStatus.QUEUED,
        send_after=now, created_at=now,
    )
    session.add(outbound)
    if found.status == CaseStatus.NEW:
        _transition(found, CaseStatus.OPEN)
    if found.assignee_id is None:
        found.assignee_id = user.id
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
        raise Invalid("note", "the note is empty")
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
    """Gives the case to a user (None = nobody). Raises NotFound for an unknown or inactive user."""
    found = get_case(session, case_id)
    if assignee_id is not None:
        assignee = session.get(User, assignee_id)
        if assignee is None or not assignee.active:
            raise NotFound(f"user {assignee_id} not found")
    found.assignee_id = assignee_id
    found.updated_at = now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.assign", now=now, target_type="case",
        target_id=found.id, detail={"assignee_id": assignee_id},
    )
    return found


def set_status(session: Session, *, case_id: int, status: str, user: User, now: datetime) -> Case:
    """Resolves or reopens a case (new > open > resolved; resolved > open). Raises Invalid for an
    unknown status, InvalidTransition for a move the state machine forbids."""
    try:
        target = CaseStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in CaseStatus)
        raise Invalid("status", f"{status!r} is not one of {choices}") from None
    found = get_case(session, case_id)
    before = str(found.status)
    if target == CaseStatus.OPEN and before == CaseStatus.RESOLVED:
        other = session.scalar(
            select(Case.id).where(
                Case.contact_id == found.contact_id, Case.id != found.id,
                Case.status.in_((CaseStatus.NEW, CaseStatus.OPEN)),
            )
        )
        if other is not None:  # one open case per contact (uq_cases_open_contact)
            raise Invalid("status", _("the contact already has open case %(id)d: continue there", id=other))
    _transition(found, target)
    found.resolved_at = now if target == CaseStatus.RESOLVED else None
    if target == CaseStatus.RESOLVED:
        found.waiting_since = None
    found.updated_at = now
    session.flush()
    record_audit(
        session, actor=user.username, user_id=user.id, action="case.status", now=now, target_type="case",
        target_id=found.id, detail={"from": before, "to": target.value},
    )
    return found


def resolve(session: Session, *, case_id: int, user: User, now: datetime) -> Case:
    """Marks the case resolved (the contact may receive blasts again, unless the case still holds
    an unanswered opt-out question: see answer_opt_out_question)."""
    return set_status(session, case_id=case_id, status=CaseStatus.RESOLVED, user=user, now=now)


def reopen(session: Session, *, case_id: int, user: User, now: datetime) -> Case:
    """Reopens a resolved case."""
    return set_status(session, case_id=case_id, status=CaseStatus.OPEN, user=user, now=now)


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
        raise Invalid("question", f"case {case_id} has no open opt-out question")
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
