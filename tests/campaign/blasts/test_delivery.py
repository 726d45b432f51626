"""Delivery status: the outbound state machine, monotonic updates (invariant 5), opt-out on 21610."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from audiences.models import ConsentEvent, ContactStatus
from campaign.blasts.delivery import apply_status_update, cancel_pending, is_forward, transition
from campaign.blasts.models import OUTBOUND_TRANSITIONS, Outbound, OutboundStatus
from campaign.core.errors import InvalidTransition
from tests.factories import make_blast, make_contact, make_outbound

NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)
S = OutboundStatus
PROGRESS = {S.QUEUED: 0, S.SENDING: 1, S.UNKNOWN: 1, S.SENT: 2}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_transition_follows_the_table(current, target):
    row = Outbound(status=current)
    if target in OUTBOUND_TRANSITIONS[current]:
        transition(row, target, now=NOW)
        assert row.status == target and row.status_at == NOW
    else:
        with pytest.raises(InvalidTransition):
            transition(row, target, now=NOW)
        assert row.status == current


@pytest.mark.parametrize(
    ("current", "target", "forward"),
    [
        (S.SENDING, S.SENT, True),
        (S.SENT, S.DELIVERED, True),
        (S.SENDING, S.DELIVERED, True),  # the callback beat our own record of the send
        (S.DELIVERED, S.SENT, False),  # a late `sent` never overwrites `delivered`
        (S.DELIVERED, S.UNDELIVERED, False),
        (S.UNDELIVERED, S.DELIVERED, False),
        (S.FAILED, S.SENT, False),
        (S.SENT, S.SENT, False),
        (S.SENT, S.SENDING, False),
        (S.UNKNOWN, S.SENT, True),
        (S.QUEUED, S.DELIVERED, False),  # never claimed: a callback cannot be about it
        (S.CANCELLED, S.DELIVERED, False),
    ],
)
def test_is_forward(current, target, forward):
    assert is_forward(current, target) is forward


@given(st.lists(st.sampled_from([S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED]), max_size=8))
def test_status_never_regresses_whatever_the_callback_order(updates):
    row = Outbound(status=S.SENDING)
    seen = [row.status]
    for status in updates:
        if is_forward(row.status, status):
            row.status = status
        seen.append(row.status)
    terminal_reached = False
    for before, after in itertools.pairwise(seen):
        if terminal_reached:
            assert after == before
        if before in PROGRESS and after in PROGRESS:
            assert PROGRESS[after] >= PROGRESS[before]
        terminal_reached = terminal_reached or after in {S.DELIVERED, S.UNDELIVERED, S.FAILED}


def test_apply_status_update_is_monotonic(session):
    row = make_outbound(session, status=S.SENDING)
    assert apply_status_update(session, row, S.SENT, now=NOW) is True
    assert row.sent_at == NOW
    later = NOW + timedelta(seconds=30)
    assert apply_status_update(session, row, S.DELIVERED, now=later) is True
    assert apply_status_update(session, row, S.SENT, now=later + timedelta(seconds=5)) is False
    assert apply_status_update(session, row, "undelivered", error_code="30003", now=later) is False
    session.commit()
    stored = session.get(Outbound, row.id)
    session.refresh(stored)
    assert (stored.status, stored.delivered_at, stored.error_code) == (S.DELIVERED, later, None)


def test_undelivered_keeps_the_error_code_and_is_terminal(session):
    row = make_outbound(session, status=S.SENT)
    assert apply_status_update(session, row, S.UNDELIVERED, error_code="30005", now=NOW)
    assert (row.status, row.error_code) == (S.UNDELIVERED, "30005")
    assert not apply_status_update(session, row, S.DELIVERED, now=NOW)
    assert row.status == S.UNDELIVERED


def test_error_21610_opts_the_contact_out_and_cancels_their_queue(session):
    contact = make_contact(session)
    other = make_contact(session)
    occurrence = make_blast(session)
    failed = make_outbound(session, contact=contact, status=S.SENT)
    queued = make_outbound(session, contact=contact, occurrence=occurrence)
    untouched = make_outbound(session, contact=other, occurrence=occurrence)
    assert apply_status_update(session, failed, S.FAILED, error_code="21610", now=NOW)
    session.commit()
    session.expire_all()
    assert contact.status == ContactStatus.OPTED_OUT
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)).all()
    assert [e.kind for e in events] == ["opt_out"] and events[0].channel == "provider"
    assert session.get(Outbound, queued.id).status == S.CANCELLED
    assert session.get(Outbound, queued.id).skip_reason == "opted_out"
    assert session.get(Outbound, untouched.id).status == S.QUEUED


def test_cancel_pending_cancels_queued_held_and_unknown_rows_of_that_contact_only(session):
    contact = make_contact(session)
    occurrence = make_blast(session)
    rows = [
        make_outbound(session, contact=contact, occurrence=occurrence),
        # a hotline reply held until the next send window
        make_outbound(session, contact=contact, send_after=NOW + timedelta(hours=12)),
        make_outbound(session, contact=contact, status=S.UNKNOWN),  # reconcile must not re-send it
        make_outbound(session, contact=contact, status=S.SENDING),
        make_outbound(session, contact=contact, status=S.DELIVERED),
        make_outbound(session, occurrence=occurrence),
    ]
    assert cancel_pending(session, contact_id=contact.id, reason="opted_out", now=NOW) == 3
    session.commit()
    session.expire_all()
    statuses = [session.scalar(select(Outbound.status).where(Outbound.id == r.id)) for r in rows]
    assert statuses == [S.CANCELLED, S.CANCELLED, S.CANCELLED, S.SENDING, S.DELIVERED, S.QUEUED]
    # a late callback for the unknown row cannot bring it back
    assert is_forward(S.CANCELLED, S.SENT) is False
