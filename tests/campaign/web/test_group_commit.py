"""Group commit: units submitted together share transactions, a failing unit fails alone, and
nobody is answered before the commit that holds their write."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, unit_of_work
from campaign.web.group_commit import GroupCommit
from tests.campaign.web.helpers import NOW


def record(session, actions):
    """A batch function: one audit row per payload; the payload 'boom' raises."""
    out = []
    for action in actions:
        if action == "boom":
            raise ValueError("a bad unit")
        session.execute(insert(AuditEvent).values(actor="test", action=action, at=NOW))
        out.append(f"stored {action}")
    return out


def run_all(engine, payloads, *, max_batch=50, unit_of_work_factory=None):
    async def main():
        with ThreadPoolExecutor(2) as executor:
            factory = unit_of_work_factory or (lambda: unit_of_work(engine))
            group = GroupCommit(factory, executor, max_batch=max_batch, parallel=1)
            outcomes = await asyncio.gather(
                *(group.submit(record, payload) for payload in payloads), return_exceptions=True
            )
            return outcomes, group

    return asyncio.run(main())


def stored(engine) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return sorted(session.scalars(select(AuditEvent.action)))


def test_concurrent_units_share_transactions_and_each_gets_its_own_result(engine):
    payloads = [f"a{i:02d}" for i in range(40)]
    outcomes, group = run_all(engine, payloads, max_batch=16)
    assert outcomes == [f"stored {p}" for p in payloads]
    assert stored(engine) == payloads
    # the first unit starts a batch alone; the rest queue behind it in batches of at most 16
    assert group.batches < len(payloads) and group.largest == 16


def test_a_failing_unit_fails_alone_and_stores_nothing(engine):
    payloads = ["a1", "a2", "boom", "a3"]
    outcomes, _ = run_all(engine, payloads)
    assert [type(o).__name__ if isinstance(o, Exception) else o for o in outcomes] == [
        "stored a1", "stored a2", "ValueError", "stored a3",
    ]
    assert stored(engine) == ["a1", "a2", "a3"]


def test_nobody_is_answered_when_the_commit_fails(engine):
    """A result is only handed back after its transaction committed: here no commit succeeds."""

    @contextlib.contextmanager
    def failing_commit():
        with make_sessionmaker(engine)() as session:
            yield session
            session.flush()
            session.rollback()
            raise OSError("the database went away at commit")

    outcomes, group = run_all(engine, ["a1", "a2", "a3"], unit_of_work_factory=failing_commit)
    assert all(isinstance(o, OSError) for o in outcomes)
    assert stored(engine) == [] and group.batches == 0


@pytest.mark.parametrize("max_batch", [1, 3])
def test_every_unit_is_answered_whatever_the_batch_size(engine, max_batch):
    payloads = [f"b{i}" for i in range(7)]
    outcomes, _ = run_all(engine, payloads, max_batch=max_batch)
    assert outcomes == [f"stored {p}" for p in payloads]
