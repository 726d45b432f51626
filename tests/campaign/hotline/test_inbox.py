"""Inbox services: order by priority (urgent, high, normal), and the mute an unclear opt-out keeps."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from audiences.models import Contact
from campaign.blasts.eligibility import blast_eligible
from campaign.hotline import inbox
from campaign.hotline.models import Case, CasePriority, CaseQuestion, CaseStatus
from tests.campaign.web.helpers import NOW
from tests.factories import make_contact


def _case(session, priority, *, waiting_minutes, status=CaseStatus.NEW, question=None):
    contact = make_contact(session)
    case = Case(
        contact_id=contact.id, status=status, priority=priority, reason="reply",
        waiting_since=NOW - timedelta(minutes=waiting_minutes), opened_at=NOW, updated_at=NOW,
        question=question,
    )
    session.add(case)
    session.flush()
    return case


def _eligible(session, contact_id) -> bool:
    return session.scalar(select(Contact.id).where(Contact.id == contact_id, blast_eligible())) is not None


def test_inbox_lists_urgent_then_high_then_normal_each_longest_waiting_first(session):
    normal_old = _case(session, CasePriority.NORMAL, waiting_minutes=90)
    high_new = _case(session, CasePriority.HIGH, waiting_minutes=5)
    urgent = _case(session, CasePriority.URGENT, waiting_minutes=1)
    high_old = _case(session, CasePriority.HIGH, waiting_minutes=60)
    listed = [c.id for c in inbox.list_cases(session)]
    assert listed == [urgent.id, high_old.id, high_new.id, normal_old.id]
    assert [c.id for c in inbox.list_cases(session, priority="high")] == [high_old.id, high_new.id]


def test_a_pending_opt_out_question_keeps_the_contact_muted_after_the_case_is_resolved(session):
    plain = _case(session, CasePriority.NORMAL, waiting_minutes=1, status=CaseStatus.RESOLVED)
    unclear = _case(
        session, CasePriority.NORMAL, waiting_minutes=1, status=CaseStatus.RESOLVED,
        question=CaseQuestion.OPT_OUT,
    )
    assert _eligible(session, plain.contact_id) is True
    assert _eligible(session, unclear.contact_id) is False
