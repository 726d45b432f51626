"""Helpers for the hotline service tests: staff users and cases opened by a real inbound message."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.hotline.models import Case, User
from campaign.hotline.responses import InboundResult, receive_inbound
from tests.campaign.web.helpers import settings
from tests.factories import synthetic_phone

_sids = itertools.count(1)


def staff(session: Session, name: str, *, now: datetime, role: str = "hotline") -> User:
    """A staff user (synthetic; no real password hash: these tests never log in, and argon2 is slow
    on purpose)."""
    user = User(username=name, password_hash="not-a-hash", role=role, created_at=now)
    session.add(user)
    session.flush()
    return user


def receive(session: Session, body: str, *, now: datetime, phone: str) -> InboundResult:
    """One inbound message through the real service (consent, case, auto-reply)."""
    result = receive_inbound(
        session, sid=f"SMcase{next(_sids):026d}", from_number=phone, body=body, to_number="+50220000000",
        settings=settings(), now=now,
    )
    session.flush()
    return result


def open_case(
    session: Session, body: str = "hola, tengo una pregunta", *, now: datetime, phone: str | None = None
) -> Case:
    """The case a message from `phone` (a new synthetic number by default) opens or updates."""
    result = receive(session, body, now=now, phone=phone or synthetic_phone())
    found = session.scalar(select(Case).where(Case.id == result.case_id))
    assert found is not None, result
    return found
