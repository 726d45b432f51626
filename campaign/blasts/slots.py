"""One rate limit per sender for the whole deployment: send slots leased in small blocks.

The limit is a schedule. A store shared by every process (a PostgreSQL row, a Redis key, or memory
for a single process on SQLite) holds, per sender, `next_at`: the time on the store's clock of the
first send slot nobody has taken. A process leases a block of `n` slots in one atomic step,
start = max(next_at, store now - n / rate) and next_at = start + n / rate, and sends at its slots start,
start + 1/rate, ... and never before them. Every slot is handed out once, so the deployment as a
whole never sends faster than `rate`, however many processes share it and without any of them
knowing how many there are.

- Blocks are small (BLOCK_SECONDS of sending, MIN_BLOCK slots at least), so the store sees about
  ten leases per second in all and processes interleave fairly. A process leases its next block
  while it still holds a whole one, so its own sending does not pause at block boundaries nor
  when a lease is slow.
- A process that dies takes with it only the slots it had leased (at most two blocks and the one
  slot its next sender waits for: a fifth of a second of sending at high rates); the others lease
  after them and the deployment is back to the full rate a moment later. Nothing has to notice
  the death.
- A slot is never used late by more than `late` = LATE_SECONDS - 1/rate (one slot interval at
  rates below 200/s): a process that was descheduled skips the slots it overslept rather than
  send them bunched with other processes' on-time slots. In any 1 s window, then, at most
  rate * (1 + late) + 1 <= rate * 1.01 requests leave (rates of 200/s and more), even on an
  overloaded machine, plus at most 0.5 % from the clock mapping (below). The rest of the 2 % the
  provider allows is left for what happens between our slot and the provider's clock (the
  request built, written, carried, read): the chaos harness, on an overloaded machine, saw 511
  arrivals in one 1 s window at 500/s with 2 % of lateness allowed. Unused slots are lost, never
  lent: over any span the limit errs towards sending less (an overloaded machine sends below the
  rate, never above it).
- A lease may take the slots of the last block's span that nobody took (start = max(next_at,
  now - span)): when every process was late at once (a slow store, a busy machine), the deployment
  takes them, and uses only those not yet `late`.
- Slot times are on the store's clock, mapped to this process's monotonic clock with the offset
  measured at the quickest recent lease (error: half its round trip), so machines whose clocks
  disagree still share one schedule. A slow lease (a new connection opened inside it, a busy
  database) would map its slots early or late by up to half its round trip, bunching them with
  other processes' slots: its offset is not used while a quicker one is recent (OFFSET_AGING).
  Before its first lease a process asks the store for its clock alone (a lease of no slots), so
  the connection is open and the first lease is quick too: a process restarted during a blast
  (the chaos trials kill them) otherwise mapped its first block with the connection's setup
  inside the round trip, and sent up to 5 % over the rate in a 1 s window.
- What error remains is bounded: half the round trip the offset was measured over (aged). Beyond
  OFFSET_TOLERANCE (2.5 ms: half a percent of a 1 s window for its two edges), the whole slots that
  close to a block's edges are not used (none at low rates, where that is less than a slot), so
  a process whose round trips are all slow (started on an overloaded machine, a distant database)
  sends only inside its own block, and less, instead of into its neighbours'. While the mapping
  is that uncertain, each lease is preceded by a clock probe, so one quick round trip is enough
  to use whole blocks again.
- When the store cannot be reached, nothing is sent: `acquire` waits and retries the lease.

Thread-safe; `acquire` for threads, `acquire_async` for an asyncio loop. `clock`, `sleep` and
`background` (how a lease runs ahead of need) are injectable for tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine

from campaign.core.config import Settings
from campaign.core.db import is_postgres

log = logging.getLogger(__name__)

BLOCK_SECONDS = 0.1  # sending time leased at once
MIN_BLOCK = 3  # slots leased at once at least (low rates: fewer leases, slow leases hidden)
LATE_SECONDS = 0.01  # the 1 % of a 1 s window a late slot may take, its own interval included
RETRY_SECONDS = 0.5  # wait before leasing again after the store failed
KEY_TTL_SECONDS = 3600  # Redis: a sender idle this long starts afresh (next_at is then in the past anyway)
# A lease's clock offset replaces the one in use when its round trip is no longer than that one's
# plus this much per second since it was measured (clocks drift, NTP slews; 1 ms per second).
OFFSET_AGING = 0.001
# How far the clock mapping may be wrong (half the round trip it was measured over, aged) before a
# block's edge slots go unused: each edge of a 1 s window may then gain this much of a second.
OFFSET_TOLERANCE = 0.0025


class SlotStore(Protocol):
    """Where the deployment's schedule lives. `lease` is atomic across every process using it."""

    name: str

    def lease(self, sender: str, span: float) -> tuple[float, float]:
        """Takes `span` seconds of slots for `sender`: returns (start, store now) in seconds on the
        store's clock; the caller owns [start, start + span). start = max(next_at, now - span): slots
        nobody took in the last `span` seconds (every process was late at once) may still be
        leased, and are used only while not later than the limiter's `late`."""
        ...


class MemoryStore:
    """One process only (SQLite deployments): the schedule in memory."""

    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def lease(self, sender: str, span: float) -> tuple[float, float]:
        with self._lock:
            now = self._clock()
            start = max(self._next.get(sender, now), now - span)
            self._next[sender] = start + span
            return start, now


_PG_LEASE = text(
    """
    INSERT INTO sender_rates AS r (sender, next_at)
    VALUES (:sender, extract(epoch FROM clock_timestamp())::float8 + :span)
    ON CONFLICT (sender) DO UPDATE
        SET next_at = greatest(r.next_at, excluded.next_at - 2 * :span) + :span
    RETURNING r.next_at - :span AS start, extract(epoch FROM clock_timestamp())::float8 AS now
    """
)


class PostgresStore:
    """The schedule in the `sender_rates` table: one upsert per lease (the row lock serialises
    concurrent leases of one sender; other senders do not wait)."""

    name = "postgresql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lease(self, sender: str, span: float) -> tuple[float, float]:
        with self.engine.begin() as connection:
            # No wait for the WAL flush: a lease lost in a database crash only repeats a fraction
            # of a second of slots once; a busy disk must not stall every sender.
            connection.execute(text("SET LOCAL synchronous_commit = off"))
            row = connection.execute(_PG_LEASE, {"sender": sender, "span": span}).one()
        return float(row.start), float(row.now)


_REDIS_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = tonumber(redis.call('GET', KEYS[1]) or '0')
if start < now - tonumber(ARGV[1]) then start = now - tonumber(ARGV[1]) end
redis.call('SET', KEYS[1], string.format('%.6f', start + tonumber(ARGV[1])), 'EX', tonumber(ARGV[2]))
return {string.format('%.6f', start), string.format('%.6f', now)}
"""


class RedisStore:
    """The schedule in Redis (`CAMPAIGN_REDIS_URL`): one Lua script per lease, atomic on the server,
    on the server's clock."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self.client.register_script(_REDIS_LEASE)

    def lease(self, sender: str, span: float) -> tuple[float, float]:
        start, now = self._script(keys=[f"campaign:rate:{sender}"], args=[span, KEY_TTL_SECONDS])
        return float(start), float(now)


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="rate-lease", daemon=True).start()


class SlotLimiter:
    """At most `rate` requests per second for one sender, shared through `store` (see the module
    docstring). `reserve()` takes the next slot; `acquire()` / `acquire_async()` wait for one.

    The next block is leased in the background (`background`, a thread by default) while a whole
    block is still held, so neither a sender nor an event loop waits for the store while slots
    remain; only an empty schedule waits for a lease.
    """

    def __init__(
        self,
        store: SlotStore,
        sender: str,
        rate: float,
        *,
        block_seconds: float = BLOCK_SECONDS,
        late_seconds: float = LATE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        background: Callable[[Callable[[], None]], None] = _in_a_thread,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.store, self.sender, self.rate = store, sender, float(rate)
        self.block = max(MIN_BLOCK, math.floor(self.rate * block_seconds))
        # rate * (1 + late) + 1 slots at most in a 1 s window: late = LATE_SECONDS - one interval
        self.late = max(late_seconds - 1.0 / self.rate, 1.0 / self.rate)
        self._clock, self._sleep, self._background = clock, sleep, background
        # The slots leased, in order, as blocks [first slot's time on this process's clock, slots left].
        self._blocks: deque[list[float]] = deque()
        self._held = 0
        self._changed = threading.Condition()
        self._leasing = False
        self.leases = 0
        self.skipped = 0  # slots not used because they were already late
        self.trimmed = 0  # slots not used because the clock mapping was too uncertain at their lease
        # This process's clock minus the store's, from the lease with the shortest round trip
        # (aged by OFFSET_AGING): (offset, its round trip, when measured); None before any lease.
        self._offset: tuple[float, float, float] | None = None

    def _uncertainty(self) -> float:
        """How far the clock mapping in use may be wrong, in seconds (infinite before any lease)."""
        if self._offset is None:
            return math.inf
        _, trip, measured = self._offset
        return trip / 2 + (self._clock() - measured) * OFFSET_AGING

    def _measure(self, span: float) -> float:
        """Leases `span` seconds of slots; returns the start on this process's clock."""
        sent = self._clock()
        start, store_now = self.store.lease(self.sender, span)
        back = self._clock()
        trip = back - sent
        best = self._offset
        if best is None or trip <= best[1] + (back - best[2]) * OFFSET_AGING:
            best = self._offset = ((sent + back) / 2 - store_now, trip, back)
        return start + best[0]

    def _lease(self) -> None:
        """One lease (the caller set `_leasing`); on failure logs and waits RETRY_SECONDS, so that
        nobody spins on a store that is down.

        The block is mapped to this process's clock with an error of up to `_uncertainty()`, either
        way: its first and last slots could then go out inside other processes' blocks. Slots that
        close to its edges (beyond OFFSET_TOLERANCE) are not used, so this process sends only inside
        its own block. A process started on a busy machine, whose first round trips are slow, thus
        sends less at first instead of too much; a quick lease later maps the clock closely again.
        """
        try:
            if self._uncertainty() > OFFSET_TOLERANCE:  # the store's clock alone first: opens the
                self._measure(0.0)  # connection, and a quick probe saves a block from being trimmed
            local_start = self._measure(self.block / self.rate)
            # Whole slots only: less than one slot of error per edge is the bound's "+ 1" below,
            # and trimming it would cost a low rate most of its block (10/s leases 3 slots).
            edge = max(0, math.floor((self._uncertainty() - OFFSET_TOLERANCE) * self.rate))
            usable = self.block - 2 * edge
            with self._changed:
                if usable > 0:
                    self._blocks.append([local_start + edge / self.rate, float(usable)])
                    self._held += usable
                self.trimmed += self.block - max(0, usable)
                self.leases += 1
        except Exception as exc:  # noqa: BLE001 - any store failure: send nothing, retry
            log.warning("rate limit store %s failed: %s", self.store.name, type(exc).__name__)
            self._sleep(RETRY_SECONDS)
        finally:
            with self._changed:
                self._leasing = False
                self._changed.notify_all()

    def _take(self) -> tuple[float | None, bool]:
        """Under the lock: drops late slots, returns (the next slot or None, whether the caller must
        lease now); starts a background lease when at most a block is left."""
        floor = self._clock() - self.late
        while self._blocks and self._blocks[0][0] < floor:  # late slots: skipped, in O(1) per block
            first, left = self._blocks[0]
            late = min(int(left), math.ceil((floor - first) * self.rate))
            self.skipped += late
            self._held -= late
            if late >= left:
                self._blocks.popleft()
            else:
                self._blocks[0] = [first + late / self.rate, left - late]
        if self._held:
            if self._held <= self.block and not self._leasing:
                self._leasing = True
                self._background(self._lease)
            first, left = self._blocks[0]
            if left <= 1:
                self._blocks.popleft()
            else:
                self._blocks[0] = [first + 1 / self.rate, left - 1]
            self._held -= 1
            return first, False
        if self._leasing:
            return None, False
        self._leasing = True
        return None, True

    def reserve(self) -> float:
        """Takes the next slot not already late; returns its time on this process's clock (it may
        lie in the future: wait until then). Blocks only while no slot is leased."""
        while True:
            with self._changed:
                at, lease_now = self._take()
                if at is not None:
                    return at
                if not lease_now:
                    self._changed.wait(RETRY_SECONDS)
                    continue
            self._lease()

    async def _reserve_async(self) -> float:
        while True:
            with self._changed:
                at, lease_now = self._take()
            if at is not None:
                return at
            if lease_now:
                await asyncio.to_thread(self._lease)
            else:
                await asyncio.sleep(0.005)

    def overdue(self, at: float) -> bool:
        """True when the slot at `at` is too late to use now (see `late` in the module docstring)."""
        return self._clock() - at > self.late

    def acquire(self) -> float:
        """Blocks until a slot is due and returns its time (this process's monotonic clock). A slot
        overslept by more than `late` (this thread was descheduled) is dropped and the next one
        taken."""
        while True:
            at = self.reserve()
            wait = at - self._clock()
            if wait > 0:
                self._sleep(wait)
            if not self.overdue(at):
                return at
            self.skipped += 1

    async def acquire_async(self) -> float:
        """`acquire` for an asyncio task: never blocks the loop on the store."""
        while True:
            at = await self._reserve_async()
            wait = at - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.overdue(at):
                return at
            self.skipped += 1


def sender_key(settings: Settings, channel: str = "sms") -> str:
    """The sender a rate limit belongs to: the provider and its From number or Messaging Service;
    for WhatsApp the WhatsApp sender (its own limit, whatever the SMS number does)."""
    if channel == "whatsapp":
        sender = settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid
        return f"{settings.provider}:whatsapp:{sender}"
    if settings.provider == "twilio":
        return f"twilio:{settings.twilio_messaging_service_sid or settings.twilio_from}"
    return settings.provider


def slot_store(engine: Engine, settings: Settings) -> SlotStore:
    """Redis when CAMPAIGN_REDIS_URL is set, else PostgreSQL when that is the database, else memory
    (SQLite: one process)."""
    if settings.redis_url:
        return RedisStore(settings.redis_url)
    if is_postgres(engine):
        return PostgresStore(engine)
    return MemoryStore()


_limiters: dict[tuple[Any, ...], SlotLimiter] = {}
_limiters_lock = threading.Lock()


def rate_limiter(engine: Engine, settings: Settings, *, channel: str = "sms") -> SlotLimiter:
    """This process's limiter for the configured sender of `channel` and rate (one per store,
    sender and rate, kept for the life of the process so that leased slots are not thrown away
    between calls)."""
    where = settings.redis_url or engine.url.render_as_string(hide_password=True)
    key = (where, sender_key(settings, channel), float(settings.rate_per_second))
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = SlotLimiter(slot_store(engine, settings), key[1], settings.rate_per_second)
            _limiters[key] = limiter
        return limiter
