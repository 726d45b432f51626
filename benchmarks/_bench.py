"""The one convention every benchmark follows so that `make bench` can gather its figures.

A benchmark prints, for each figure it measures, one line on stdout:

    BENCH {"figure": "...", "value": 1234.5, "unit": "req/s", "target": 1000, "better": "higher",
           "baseline": 410.2, "baseline_label": "one transaction per request", "passed": true}

`emit()` below writes it; a script may also print the line itself (it is plain JSON after the
word BENCH). See benchmarks/README.md. Files in benchmarks/ whose name starts with `_` are
helpers, not benchmarks.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any, Literal

PREFIX = "BENCH "

# Personal data is encrypted at rest: benchmarks (and the servers they start, which inherit the
# environment) use fresh random keys, never a deployment's, unless keys are given.
for _name in ("CAMPAIGN_DATA_KEY", "CAMPAIGN_INDEX_KEY"):
    os.environ.setdefault(_name, base64.urlsafe_b64encode(os.urandom(32)).decode())


def meets(value: float, target: float, better: Literal["higher", "lower"]) -> bool:
    """True when `value` reaches `target` in the direction that is better."""
    return value >= target if better == "higher" else value <= target


def emit(
    figure: str,
    value: float,
    *,
    unit: str,
    target: float | None,
    better: Literal["higher", "lower"],
    baseline: float | None = None,
    baseline_label: str | None = None,
    passed: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Prints one BENCH line for `figure` and returns it. `baseline` is the same figure measured in
    the same run by the naive or previous way (None when the figure has none). `passed` defaults to
    the comparison of `value` with `target`; pass it when more than the figure decides (0 lost).
    `extra` holds anything worth keeping in var/bench.json (load average, counts)."""
    if passed is None:
        passed = True if target is None else meets(value, target, better)
    record = {
        "figure": figure,
        "value": round(float(value), 4),
        "unit": unit,
        "target": target,
        "better": better,
        "baseline": None if baseline is None else round(float(baseline), 4),
        "baseline_label": baseline_label,
        "passed": bool(passed),
        "loadavg": round(os.getloadavg()[0], 2),
        **extra,
    }
    print(PREFIX + json.dumps(record, ensure_ascii=False), flush=True)
    sys.stdout.flush()
    return record


def encryption_modes() -> list[tuple[str, Any]]:
    """(label, keyring) to measure a figure with personal-data encryption on and, in the same run,
    off: fresh random keys, then a keyring that stores values as they are (the cost before
    encryption; its blind index is the number itself). Issue 12: at most 25 % more."""
    from campaign.core.crypto import Keyring

    class Plain(Keyring):
        def encrypt(self, text: str) -> str:
            return text

        def decrypt(self, token: str) -> str:
            return token

        def blind_index(self, e164: str) -> str:
            return e164

    return [
        ("encrypted", Keyring([os.urandom(32)], os.urandom(32), "benchmark")),
        ("plain", Plain([os.urandom(32)], os.urandom(32), "benchmark")),
    ]


def emit_overhead(
    figure: str,
    encrypted: float,
    plain: float,
    *,
    cpu_encrypted: float | None = None,
    cpu_plain: float | None = None,
    cpu_note: str = "",
) -> dict[str, Any]:
    """The BENCH line of encryption's cost: percent more wall time than without it (target 25 %).
    With `cpu_encrypted` and `cpu_plain` (process CPU seconds of the same two runs), a second line
    gives the same cost in CPU time, which other work on a shared machine disturbs far less than
    wall time. Returns the CPU record when there is one, else the wall one."""
    overhead = _percent(encrypted, plain)
    print(f"{figure} (wall): encrypted {encrypted:.2f} s, plain {plain:.2f} s -> {overhead:+.1f} % "
          "(target <= 25 %)")
    record = emit(figure, overhead, unit="%", target=25.0, better="lower", baseline=0.0,
                  baseline_label="no encryption, same run", encrypted_s=round(encrypted, 3),
                  plain_s=round(plain, 3))
    if cpu_encrypted is None or cpu_plain is None:
        return record
    cpu_overhead = _percent(cpu_encrypted, cpu_plain)
    print(f"{figure} (CPU{cpu_note}): encrypted {cpu_encrypted:.2f} s, plain {cpu_plain:.2f} s -> "
          f"{cpu_overhead:+.1f} % (target <= 25 %)")
    return emit(f"{figure} (CPU{cpu_note})", cpu_overhead, unit="%", target=25.0, better="lower",
                baseline=0.0, baseline_label="no encryption, same run",
                encrypted_cpu_s=round(cpu_encrypted, 3), plain_cpu_s=round(cpu_plain, 3))


def _percent(value: float, base: float) -> float:
    return 100.0 * (value - base) / base if base > 0 else 0.0
