"""Case locks: one person answers a case; idle locks end; takeovers are explicit and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.hotline import inbox, locks
from campaign.hotline.locks import CaseHeld
from tests.campaign.hotline.cases import open_case, staff
from tests.campaign.web.helpers import NOW


def test_the_first_to_open_holds_the_case_and_others_see_who(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    mine = locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    assert mine.mine and mine.holder == "ana" and mine.expires_at == NOW + timedelta(minutes=10)
    seen = locks.acquire(session, case_id=case.id, user=beto, now=NOW + timedelta(minutes=1))
    assert not seen.mine and seen.held_by_other and seen.holder == "ana"
    assert locks.holders(session, [case.id], now=NOW) == {case.id: "ana"}


def test_an_idle_lock_ends_and_activity_keeps_it(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW + timedelta(minutes=8))  # typing
    still = locks.acquire(session, case_id=case.id, user=beto, now=NOW + timedelta(minutes=17))
    assert still.holder == "ana"  # 9 minutes after her last activity
    later = NOW + timedelta(minutes=18, seconds=1)
    assert locks.lock_state(session, case_id=case.id, user_id=beto.id, now=later).holder is None
    assert locks.holders(session, [case.id], now=later) == {}
    taken = locks.acquire(session, case_id=case.id, user=beto, now=later)
    assert taken.mine and taken.holder == "beto"
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "case.takeover")) is None


def test_a_shorter_lock_setting_ends_it_sooner(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW, lock_minutes=2)
    later = NOW + timedelta(minutes=3)
    assert locks.acquire(session, case_id=case.id, user=beto, now=later, lock_minutes=2).mine


def test_takeover_is_audited_and_the_previous_holder_learns_it(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    state = locks.take_over(session, case_id=case.id, user=beto, now=NOW + timedelta(minutes=2))
    assert state.mine and state.holder == "beto"
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.takeover"))
    assert event.actor == "beto" and event.target_id == case.id
    assert event.detail == {"from_user_id": ana.id, "from": "ana"}
    told = locks.takeovers_from(session, user_id=ana.id, since=NOW)
    assert [(t.case_id, t.by) for t in told] == [(case.id, "beto")]
    assert locks.takeovers_from(session, user_id=beto.id, since=NOW) == []
    assert locks.takeovers_from(session, user_id=ana.id, since=NOW + timedelta(minutes=3)) == []
    assert not locks.acquire(session, case_id=case.id, user=ana, now=NOW + timedelta(minutes=3)).mine


def test_taking_a_free_case_is_not_a_takeover(session):
    ana = staff(session, "ana", now=NOW)
    case = open_case(session, now=NOW)
    assert locks.take_over(session, case_id=case.id, user=ana, now=NOW).mine
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "case.takeover")) is None


def test_reply_needs_the_lock_and_takes_it_when_free(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    inbox.reply(session, case_id=case.id, user=ana, body="Hola, le escuchamos.", now=NOW)
    assert locks.lock_state(session, case_id=case.id, user_id=ana.id, now=NOW).mine
    with pytest.raises(CaseHeld, match="ana"):
        inbox.reply(session, case_id=case.id, user=beto, body="Hola", now=NOW + timedelta(minutes=1))


def test_release_and_reassignment_end_the_lock(session):
    ana, beto = staff(session, "ana", now=NOW), staff(session, "beto", now=NOW)
    case = open_case(session, now=NOW)
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    locks.release(session, case_id=case.id, user_id=beto.id)  # not hers to release
    assert locks.lock_state(session, case_id=case.id, user_id=ana.id, now=NOW).mine
    locks.release(session, case_id=case.id, user_id=ana.id)
    assert locks.lock_state(session, case_id=case.id, user_id=ana.id, now=NOW).holder is None
    locks.acquire(session, case_id=case.id, user=ana, now=NOW)
    inbox.assign(session, case_id=case.id, assignee_id=beto.id, user=ana, now=NOW)
    assert locks.lock_state(session, case_id=case.id, user_id=ana.id, now=NOW).holder is None
    assert case.assignee_id == beto.id
