"""Pacing of provider requests: a thread-safe token bucket, and retry backoff with jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts of at most `capacity`.

    Reservation style: `acquire()` takes a token even when the bucket is empty (the balance goes
    negative) and sleeps until that token would have arrived, so waiting threads are served in
    order and the long-run rate is exact. `clock` and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(capacity))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()

    def reserve(self) -> float:
        """Takes one token; returns how many seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Blocks until one token is available; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


def backoff_seconds(
    attempt: int,
    *,
    rand: float,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
) -> float:
    """Delay before retry number `attempt` (1 = first retry): exponential, capped, "equal jitter".

    `rand` in [0, 1) spreads retries so a rate-limited burst does not come back all at once:
    the delay lies in [d/2, d) where d = min(cap, base * 2**(attempt-1)).
    """
    exponent = max(0, attempt - 1)
    delay = min(cap, base * (2.0 ** min(exponent, 30)))
    return delay / 2 + (delay / 2) * rand


def jitter_for(outbound_id: int, attempt: int, seed: int = 0) -> float:
    """A reproducible jitter fraction in [0, 1) for one row and attempt (tests can predict it)."""
    return random.Random(f"{seed}:{outbound_id}:{attempt}").random()
