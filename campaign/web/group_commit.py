"""Group commit: webhooks arriving together share one transaction, and each is answered after it.

Contract:
- A request submits a unit of work (already authenticated: the signature is checked before
  anything is submitted) and waits. A batch of units runs in one transaction on a worker thread,
  commits once, and only then does each request get its result: nothing is answered before the
  commit that makes it durable.
- A batch is whatever arrived while the previous batches ran, and on the same turn of the event
  loop (at most `max_batch`): no added delay when the server is idle (one turn of the loop),
  bigger batches when it is busy. Starting a batch on the next turn rather than at once matters:
  the answers of a finished batch free a slot, and without it the first request of the next
  turn took the slot alone (batches of 3 or 4 messages on average with 16 requests in flight).
- Units name a batch function `run(session, payloads) -> results` (same order). Units with the
  same function run together, so a function may work set-based (status callbacks: one locking
  SELECT and one UPDATE for the whole batch).
- A failing unit does not sink the others: when a batch raises (a bad request that slipped
  through, a deadlock between two batches), it is rolled back and each unit runs again alone in
  its own transaction; the failing one raises to its own request only.
- `parallel` batches at most run at once per process (each with its own connection): on
  PostgreSQL four, so that batches overlap their round trips and commits; on SQLite one (a
  single writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
P = TypeVar("P")
R = TypeVar("R")
BatchFunction = Callable[[Session, Sequence[Any]], Sequence[Any]]


@dataclass
class _Unit:
    run: BatchFunction
    payload: Any
    future: asyncio.Future[Any]


class GroupCommit:
    """Runs submitted units of work in shared transactions (see the module docstring).

    `unit_of_work` opens one writing transaction (commits on success); `executor` runs the
    blocking batches. Create it inside the event loop that will submit to it.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], contextlib.AbstractContextManager[Session]],
        executor: Executor,
        *,
        max_batch: int,
        parallel: int,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._executor = executor
        self._max_batch = max(1, max_batch)
        self._parallel = max(1, parallel)
        self._queue: deque[_Unit] = deque()
        self._running = 0
        self._starting = False
        self.batches = 0  # for tests and the benchmark: how many transactions were committed
        self.largest = 0

    async def submit(self, run: Callable[[Session, Sequence[P]], Sequence[R]], payload: P) -> R:
        """Queues one unit and returns its result once its batch has committed (or raises its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Unit(run, payload, future))
        if not self._starting:
            # Started on the loop's next turn, not now: the other requests that became ready on
            # this turn (answers of the last batch going out, new requests read) join this batch
            # instead of each starting a batch of one as soon as a batch slot is free.
            self._starting = True
            asyncio.get_running_loop().call_soon(self._start_soon)
        return await future

    def _start_soon(self) -> None:
        self._starting = False
        self._start_batches()

    def _start_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue and self._running < self._parallel:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            self._running += 1
            loop.create_task(self._run(batch))

    async def _run(self, batch: list[_Unit]) -> None:
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(self._executor, self._execute, batch)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except BaseException as exc:  # noqa: BLE001 - every waiting request must hear of it
            outcomes = [exc] * len(batch)
        finally:
            self._running -= 1
        for unit, outcome in zip(batch, outcomes, strict=True):
            if unit.future.done():  # the request went away (client disconnected)
                continue
            if isinstance(outcome, BaseException):
                unit.future.set_exception(outcome)
            else:
                unit.future.set_result(outcome)
        self._start_batches()

    def _execute(self, batch: list[_Unit]) -> list[Any]:
        """Worker thread: the whole batch in one transaction, else each unit alone."""
        try:
            with self._unit_of_work() as session:
                results = self._apply(session, batch)
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            return results
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.info(
                "webhook batch of %d failed (%s): running each alone", len(batch), type(exc).__name__,
                exc_info=True,
            )
        outcomes: list[Any] = []
        for unit in batch:
            try:
                with self._unit_of_work() as session:
                    (result,) = self._apply(session, [unit])
                self.batches += 1
            except Exception as exc:  # noqa: BLE001 - this unit's own error, for its own request
                result = exc
            outcomes.append(result)  # only now: after its commit, or as the error it got
        return outcomes

    @staticmethod
    def _apply(session: Session, batch: list[_Unit]) -> list[Any]:
        """Runs each batch function once over its units' payloads; results in the batch's order."""
        results: list[Any] = [None] * len(batch)
        for run, positions in _by_function(batch):
            outputs = run(session, [batch[i].payload for i in positions])
            if len(outputs) != len(positions):
                raise RuntimeError(f"{run!r} returned {len(outputs)} results for {len(positions)} payloads")
            for i, output in zip(positions, outputs, strict=True):
                results[i] = output
        return results


def _by_function(batch: list[_Unit]) -> Iterator[tuple[BatchFunction, list[int]]]:
    groups: dict[BatchFunction, list[int]] = {}
    for i, unit in enumerate(batch):
        groups.setdefault(unit.run, []).append(i)
    yield from groups.items()
