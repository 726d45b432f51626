"""Retry backoff with jitter for transient provider errors (the send rate itself: campaign.blasts.slots)."""

from __future__ import annotations

import random

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


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
