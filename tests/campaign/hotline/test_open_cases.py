"""At most one open hotline case per contact: the partial unique index, the migration that merges
duplicates left by older versions, and a reopen that would make a second open case."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from campaign.core.db import UTCDateTime, make_sessionmaker
from campaign.core.errors import Invalid
from campaign.hotline.models import Case, CasePriority, CaseStatus, Inbound, Role, User
from campaign.hotline.outcomes import reopen, resolve
from campaign.hotline.webhooks import handle_inbound
from campaign.schema import alembic_config, upgrade
from tests.campaign.web.helpers import NOW, inbound_params, inbound_url, settings, sign
from tests.factories import make_contact, synthetic_phone


def open_case(session, contact_id: int, **values) -> int:
    row = {"contact_id": contact_id, "status": CaseStatus.NEW, "priority": CasePriority.NORMAL,
           "opened_at": NOW, "updated_at": NOW, **values}
    return session.execute(insert(Case).returning(Case.id), [row]).scalar_one()


def test_database_refuses_a_second_open_case_for_a_contact(session):
    contact = make_contact(session)
    open_case(session, contact.id)
    open_case(session, contact.id, status=CaseStatus.RESOLVED)  # resolved ones do not count
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            open_case(session, contact.id, status=CaseStatus.OPEN)
    other = make_contact(session)
    open_case(session, other.id)


def test_many_messages_through_one_connection_share_one_case(session):
    """The case upsert names its partial index by the index's own SQL: once psycopg prepares the
    statement (after 5 runs on a connection), bound values could no longer be matched to it."""
    phone = synthetic_phone()
    for n in range(15):
        params = inbound_params("AYUDA" if n % 2 else f"mensaje sintético {n}", phone=phone)
        handle_inbound(session, url=inbound_url(), params=params, signature=sign(inbound_url(), params),
                       settings=settings(), now=NOW + timedelta(minutes=n))
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    assert set(session.scalars(select(Inbound.case_id))) == {session.scalar(select(Case.id))}


def test_reopening_a_case_while_another_is_open_is_refused_naming_it(session):
    contact = make_contact(session)
    user = User(username="ana", password_hash="x", role=Role.HOTLINE)
    session.add(user)
    old = open_case(session, contact.id)
    resolve(session, case_id=old, user=user, now=NOW, outcome="information")
    new = open_case(session, contact.id, opened_at=NOW + timedelta(hours=1))
    with pytest.raises(Invalid) as info:
        reopen(session, case_id=old, user=user, now=NOW + timedelta(hours=2))
    assert info.value.field == "status" and str(new) in info.value.reason
    assert session.get(Case, old).status == CaseStatus.RESOLVED
    resolve(session, case_id=new, user=user, now=NOW + timedelta(hours=3), outcome="information")
    assert reopen(session, case_id=old, user=user, now=NOW + timedelta(hours=4)).status == CaseStatus.OPEN


# The tables as revision 0001 made them (later revisions may add columns the models know of).
_contacts_0001 = sa.table(
    "contacts", *(sa.column(n) for n in ("id", "phone", "custom", "status", "created_at", "updated_at"))
)
_cases_0001 = sa.table(
    "cases",
    *(sa.column(n) for n in ("id", "contact_id", "status", "priority")),
    sa.column("waiting_since", UTCDateTime()), sa.column("opened_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_inbound_0001 = sa.table(
    "inbound",
    *(sa.column(n) for n in ("provider_sid", "contact_id", "case_id", "body", "intent", "received_at")),
)


def test_upgrade_merges_duplicate_open_cases_into_the_oldest(migrated_engine):
    command.upgrade(alembic_config(migrated_engine), "0001")
    stamps = {"created_at": NOW.replace(tzinfo=None), "updated_at": NOW.replace(tzinfo=None)}
    with migrated_engine.begin() as connection:

        def contact(phone: str) -> int:
            values = {"phone": phone, "custom": "{}", "status": "active", **stamps}
            return connection.execute(
                sa.insert(_contacts_0001).values(values).returning(_contacts_0001.c.id)
            ).scalar_one()

        def case(contact_id: int, **values) -> int:
            row = {"contact_id": contact_id, "status": "new", "priority": "normal", "opened_at": NOW,
                   "updated_at": NOW, **values}
            return connection.execute(
                sa.insert(_cases_0001).values(row).returning(_cases_0001.c.id)
            ).scalar_one()

        twice, once = contact(synthetic_phone()), contact(synthetic_phone())
        first = case(twice, waiting_since=NOW + timedelta(minutes=5))
        second = case(twice, priority="urgent", waiting_since=NOW, opened_at=NOW + timedelta(minutes=1))
        alone = case(once)
        for n, case_id in enumerate([first, second, second]):
            connection.execute(sa.insert(_inbound_0001).values(
                provider_sid=f"SMmig{n}", contact_id=twice, case_id=case_id, body="sintético", intent="reply",
                received_at=NOW.replace(tzinfo=None),
            ))
    upgrade(migrated_engine)
    with make_sessionmaker(migrated_engine)() as session:
        kept, merged, untouched = (session.get(Case, i) for i in (first, second, alone))
        assert kept.status == CaseStatus.NEW and kept.priority == CasePriority.URGENT
        assert kept.waiting_since == NOW
        assert merged.status == CaseStatus.RESOLVED and merged.resolved_at is not None
        assert untouched.status == CaseStatus.NEW
        assert set(session.scalars(select(Inbound.case_id))) == {first}  # the thread is whole
