"""Closing cases: an outcome is required, follow-ups reopen the case by themselves (the tick)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.blasts.scheduling import tick
from campaign.core.audit import AuditEvent
from campaign.core.config import get_settings
from campaign.core.db import make_sessionmaker
from campaign.core.errors import Invalid, InvalidTransition
from campaign.hotline import locks, outcomes
from campaign.hotline.locks import CaseHeld
from campaign.hotline.models import Case, CaseNote, CaseOutcome, CaseStatus, Referral
from tests.campaign.hotline.cases import open_case, staff
from tests.campaign.web.helpers import NOW


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"outcome": None}, "outcome"),
        ({"outcome": "solved"}, "outcome"),
        ({"outcome": "referred"}, "referred_to"),
        ({"outcome": "referred", "referred_to": "embassy"}, "referred_to"),
        ({"outcome": "no_answer"}, "attempts"),
        ({"outcome": "no_answer", "attempts": 0}, "attempts"),
        ({"outcome": "information", "follow_up_at": NOW - timedelta(hours=1)}, "follow_up_at"),
        ({"outcome": "information", "follow_up_at": NOW + timedelta(days=400)}, "follow_up_at"),
    ],
)
def test_resolving_needs_a_complete_outcome(session, fields, field):
    ana = staff(session, "ana", now=NOW)
    case = open_case(session, now=NOW)
    with pytest.raises(Invalid) as refused:
        outcomes.resolve(session, case_id=case.id, user=ana, now=NOW, **fields)
    assert refused.value.field == field
    assert session.get(Case, case.id).status == CaseStatus.NEW


def test_resolve_records_the_outcome_releases_the_lock_and_is_audited(session):
    ana = staff(session, "ana", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    outcomes.resolve(
        session, case_id=case.id, user=ana, now=NOW, outcome="referred", referred_to="sosep",
        follow_up_at=NOW + timedelta(days=3),
    )
    found = session.get(Case, case.id)
    assert (found.status, found.outcome, found.referred_to) == (CaseStatus.RESOLVED, "referred", "sosep")
    assert found.resolved_at == NOW and found.follow_up_at == NOW + timedelta(days=3)
    assert locks.lock_state(session, case_id=case.id, user_id=ana.id, now=NOW).holder is None
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.resolve"))
    assert event.detail["outcome"] == "referred" and event.detail["referred_to"] == "sosep"
    with pytest.raises(InvalidTransition):
        outcomes.resolve(session, case_id=case.id, user=ana, now=NOW, outcome="information")


def test_no_one_resolves_a_case_someone_else_is_answering(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    with pytest.raises(CaseHeld):
        outcomes.resolve(session, case_id=case.id, user=beto, now=NOW, outcome="not_a_case")
    session.expire_all()
    assert session.get(Case, case.id).status == CaseStatus.NEW


def test_reopen_clears_the_outcome_but_not_when_the_contact_has_another_open_case(session):
    ana = staff(session, "ana", now=NOW)
    first = open_case(session, now=NOW)
    outcomes.resolve(session, case_id=first.id, user=ana, now=NOW, outcome="no_answer", attempts=3)
    assert first.attempts == 3
    outcomes.reopen(session, case_id=first.id, user=ana, now=NOW + timedelta(hours=1))
    assert (first.status, first.outcome, first.attempts, first.resolved_at) == (
        CaseStatus.OPEN, None, None, None,
    )
    later = NOW + timedelta(hours=2)
    outcomes.resolve(session, case_id=first.id, user=ana, now=later, outcome="wrong_number")
    from audiences.models import Contact

    phone = session.get(Contact, first.contact_id).phone
    second = open_case(session, "otra vez yo", now=NOW + timedelta(hours=3), phone=phone)
    assert second.id != first.id
    with pytest.raises(Invalid, match=f"#{second.id}"):
        outcomes.reopen(session, case_id=first.id, user=ana, now=NOW + timedelta(hours=4))


def test_the_tick_reopens_a_case_on_its_follow_up_date_once(engine):
    maker = make_sessionmaker(engine)
    with maker.begin() as session:
        ana = staff(session, "ana", now=NOW)
        case = open_case(session, now=NOW)
        outcomes.resolve(
            session, case_id=case.id, user=ana, now=NOW, outcome="information",
            follow_up_at=NOW + timedelta(days=2),
        )
        case_id = case.id
    settings = get_settings()
    assert tick(engine, None, now=NOW + timedelta(days=1), settings=settings).follow_ups == 0
    due = NOW + timedelta(days=2, minutes=1)
    assert tick(engine, None, now=due, settings=settings).follow_ups == 1
    assert tick(engine, None, now=due + timedelta(minutes=1), settings=settings).follow_ups == 0
    with maker() as session:
        found = session.get(Case, case_id)
        assert found.status == CaseStatus.OPEN and found.reason == "follow_up"
        assert found.waiting_since == NOW + timedelta(days=2)  # waiting since the date it was due
        assert found.follow_up_at is None and found.outcome is None
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.follow_up"))
        assert event.actor == "scheduler" and event.detail["reopened"] is True


def test_a_follow_up_due_while_another_case_is_open_is_noted_on_that_case(session):
    from audiences.models import Contact

    ana = staff(session, "ana", now=NOW)
    old = open_case(session, now=NOW)
    outcomes.resolve(
        session, case_id=old.id, user=ana, now=NOW, outcome="referred", referred_to=Referral.PGN,
        follow_up_at=NOW + timedelta(days=1),
    )
    phone = session.get(Contact, old.contact_id).phone
    current = open_case(session, "hola de nuevo", now=NOW + timedelta(hours=5), phone=phone)
    assert outcomes.reopen_due_follow_ups(session, now=NOW + timedelta(days=1)) == 1
    session.expire_all()
    assert session.get(Case, old.id).status == CaseStatus.RESOLVED
    kept = session.get(Case, old.id)
    assert kept.outcome == CaseOutcome.REFERRED and kept.follow_up_at is None
    note = session.scalar(select(CaseNote).where(CaseNote.case_id == current.id))
    assert f"#{old.id}" in note.body
