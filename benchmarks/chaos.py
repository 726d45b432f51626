"""Chaos harness: blasts through several scheduler processes on PostgreSQL against the fake Twilio
server with random latency and faults, SIGKILLing processes at random points (issue 15).

Each trial: a scratch PostgreSQL database with `--messages` queued blast rows (synthetic contacts),
`--processes` workers each running `campaign tick --now T` over and over (the real entry point; a
killed one is started again), a killer that SIGKILLs a random running worker every
`--kill-every` seconds on average, and the fake server answering with random latency and, for
`--faults` of the requests, a transient error, a slow answer, or a connection dropped before or after
accepting the message. Afterwards one last pass (reconcile past the lease, then dispatch, faults
off) settles what the killed workers left, and the fake server's ledger and the database must agree:

- 0 lost: every row is `sent` with the SID of one accepted message (or `failed` after its last
  attempt, and then absent from the ledger);
- 0 sent twice: no outbound id accepted twice by the provider;
- every unknown outcome reconciled: no row left `queued`, `sending` or `unknown`;
- the rate limit (`--rate`, shared by the workers) never exceeded by more than 2 % in any 1 s
  window of arrivals at the provider (sliding, starting at each arrival).

    python benchmarks/chaos.py [--trials 100] [--messages 10000] [--processes 3] [--rate 200]

`make test` runs 5 small trials (tests/campaign/blasts/test_chaos.py). Prints one line per trial and
the totals; exits 1 when any trial broke an invariant.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _bench import emit  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from campaign.blasts.dispatch import DEFAULT_LEASE_SECONDS, dispatch_due, reconcile  # noqa: E402
from campaign.blasts.models import Outbound, OutboundStatus  # noqa: E402
from campaign.core.db import make_engine  # noqa: E402
from campaign.providers.twilio import TwilioProvider  # noqa: E402
from campaign.schema import metadata  # noqa: E402
from tests.fakes.twilio_server import FakeTwilio, twilio_settings  # noqa: E402

PG_URL = os.environ.get("CAMPAIGN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)  # 10:05 in Guatemala: inside every send window
UNSETTLED = (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNKNOWN)
KEYS = ("CAMPAIGN_DATA_KEY", "CAMPAIGN_INDEX_KEY")


def scratch_database(name: str) -> str:
    from sqlalchemy.engine import make_url

    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def queue_blast(engine: Any, n: int) -> None:
    """n synthetic contacts (+502 5555 xxxx style numbers, made up) and one due blast row each."""
    import dispatch as bench_dispatch  # benchmarks/dispatch.py: the same bulk insert

    bench_dispatch.queue_rows(engine, n, 0)


def outbound_of(message: dict[str, Any]) -> int:
    query = parse_qs(urlsplit(message["status_callback"] or "").query)
    return int(query["outbound"][0])


def worst_window(stamps: list[float]) -> int:
    """The most arrivals in any 1 s window starting at an arrival."""
    return _worst(stamps)[0]


def _worst(stamps: list[float]) -> tuple[int, int]:
    """(the most arrivals in any 1 s window starting at an arrival, where that window starts)."""
    worst, at, j = 0, 0, 0
    for i, start in enumerate(stamps):
        while j < len(stamps) and stamps[j] < start + 1.0:
            j += 1
        if j - i > worst:
            worst, at = j - i, i
    return worst, at


def describe_window(messages: list[dict[str, Any]], rate: float, events: list[tuple[float, str]]) -> str:
    """The busiest 1 s window of arrivals, per client connection and in 50 ms steps: where an excess
    over the rate came from (one connection bunching, or every one a little early)."""
    ordered = sorted(messages, key=lambda m: m["received"])
    count, first = _worst([m["received"] for m in ordered])
    window = ordered[first:first + count]
    start = window[0]["received"]
    steps = Counter(int((m["received"] - start) / 0.05) for m in window)
    peers = Counter(m.get("peer") for m in window)
    lag = max(m["handled"] - m["received"] for m in window)
    near = [f"{what} at {at - start:+.2f} s" for at, what in events if -2 < at - start < 1.5]
    return (
        f"  window of {count} (rate {rate:g}): per 50 ms "
        + " ".join(str(steps.get(i, 0)) for i in range(20))
        + f"\n  connections {len(peers)}, busiest {peers.most_common(3)}, "
        f"handler lag up to {lag * 1000:.0f} ms\n  workers: {', '.join(near) or 'no start or kill'}"
    )


class Workers:
    """`count` slots, each running `campaign tick --now NOW` again and again until stopped."""

    def __init__(self, count: int, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.log = (cwd / f"chaos-workers-{os.getpid()}.log").open("ab")  # their stderr, for a failed trial
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.kills = 0
        self.events: list[tuple[float, str]] = []  # (time.monotonic(), "start 2" / "kill 1")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, slot: int) -> None:
        command = [str(Path(sys.executable).parent / "campaign"), "tick", "--now", NOW.isoformat()]
        while not self._stop.is_set():
            with self._lock:
                process = subprocess.Popen(
                    command, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log
                )
                self.processes[slot] = process
                self.events.append((time.monotonic(), f"start {slot}"))
            process.wait()
            time.sleep(0.2)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def kill_one(self, rng: random.Random) -> None:
        with self._lock:
            alive = [p for p in self.processes if p is not None and p.poll() is None]
            if alive:
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                self.kills += 1
                self.events.append((time.monotonic(), f"kill {self.processes.index(victim)}"))

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for process in self.processes:
                if process is not None and process.poll() is None:
                    process.kill()
        for thread in self._threads:
            thread.join(timeout=30)


def trial(number: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed + number)
    name = f"campaign_chaos_{os.getpid()}_{number}"
    url = scratch_database(name)
    engine = make_engine(url)
    try:
        metadata().create_all(engine)
        queue_blast(engine, args.messages)
        origin = time.monotonic()  # the provider's clock runs from NOW, as the workers' --now says
        clock = lambda: NOW + timedelta(seconds=time.monotonic() - origin)  # noqa: E731
        with FakeTwilio(hang_seconds=2.0, clock=clock) as fake:
            fake.chaos(seed=args.seed + number, faults=args.faults, max_latency=args.max_latency)
            # The workers read what the harness wrote: same personal-data keys (campaign.core.crypto).
            env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_") or k in KEYS}
            env.update(
                CAMPAIGN_DATABASE_URL=url,
                CAMPAIGN_PROVIDER="twilio",
                CAMPAIGN_LOCALE="en",
                CAMPAIGN_TWILIO_ACCOUNT_SID=fake.account_sid,
                CAMPAIGN_TWILIO_AUTH_TOKEN=fake.auth_token,
                CAMPAIGN_TWILIO_FROM="+15005550006",
                CAMPAIGN_TWILIO_API_BASE=fake.base_url,
                CAMPAIGN_PUBLIC_URL="https://campaign.example.org",
                CAMPAIGN_RATE_PER_SECOND=str(args.rate),
                CAMPAIGN_CONCURRENCY="32",
                CAMPAIGN_BLAST_MAX_PER_HOUR="100000000",
            )
            workers = Workers(args.processes, env, workdir)
            started = time.monotonic()
            workers.start()
            deadline = started + args.messages / args.rate * 3 + 60
            # Until nothing is left to send but the rows killed workers held (those wait for the
            # lease): no due queued row, no unknown one, and the sending ones unchanged for 3 s.
            still, last = 0, None
            with engine.connect() as connection:
                while time.monotonic() < deadline and still < 3:
                    time.sleep(1.0)
                    if rng.random() < 1 / args.kill_every:
                        workers.kill_one(rng)
                    counts = dict(
                        connection.execute(
                            select(Outbound.status, func.count())
                            .where(Outbound.send_after <= NOW)
                            .group_by(Outbound.status)
                        ).all()
                    )
                    connection.commit()
                    busy = counts.get(OutboundStatus.QUEUED, 0) + counts.get(OutboundStatus.UNKNOWN, 0)
                    sending = counts.get(OutboundStatus.SENDING, 0)
                    still = still + 1 if busy == 0 and sending == last else 0
                    last = sending
            workers.stop()
            seconds = time.monotonic() - started
            # Arrivals as the kernel stamped them (tests/fakes/twilio_server.py); when the handler
            # threads saw them too, for comparison (a stalled harness bunches those).
            stamps = sorted(m["received"] for m in fake.messages)
            handled = sorted(m["handled"] for m in fake.messages)
            # The last pass: past every lease and backoff, faults off (settles, never re-sends).
            fake.chaos(seed=0, faults=0.0, max_latency=0.0)
            settings = twilio_settings(fake, rate_per_second=args.rate, concurrency=32)
            provider = TwilioProvider(settings, timeout=10)
            later = NOW
            for _ in range(12):
                later += timedelta(seconds=DEFAULT_LEASE_SECONDS + 1)
                reconcile(engine, provider, now=later)
                dispatch_due(engine, provider, now=later, settings=settings)
                with engine.connect() as connection:
                    left = connection.execute(
                        select(func.count()).where(Outbound.status.in_(UNSETTLED))
                    ).scalar_one()
                if left == 0:
                    break
            with engine.connect() as connection:
                rows = connection.execute(select(Outbound.id, Outbound.status, Outbound.provider_sid)).all()
        accepted = Counter(outbound_of(m) for m in fake.messages)
        sid_of = {m["sid"]: outbound_of(m) for m in fake.messages}
        twice = sum(1 for count in accepted.values() if count > 1)
        unsettled = sum(1 for r in rows if r.status in UNSETTLED)
        lost = 0
        for row in rows:
            if row.status in (OutboundStatus.SENT, OutboundStatus.DELIVERED):
                lost += sid_of.get(row.provider_sid) != row.id
            elif row.status == OutboundStatus.FAILED:
                lost += row.id in accepted  # the provider has it, we say failed
            else:
                lost += 1
        worst = worst_window(stamps)
        allowed = args.rate * 1.02
        if worst > allowed:
            print(describe_window(fake.messages, args.rate, workers.events), flush=True)
        return {
            "trial": number,
            "messages": len(rows),
            "accepted": len(fake.messages),
            "during_chaos": len(stamps),
            "lost": lost,
            "twice": twice,
            "unsettled": unsettled,
            "kills": workers.kills,
            "seconds": round(seconds, 1),
            "worst_window": worst,
            "worst_window_handled": worst_window(handled),
            "rate_ok": worst <= allowed,
            "ok": lost == 0 and twice == 0 and unsettled == 0 and worst <= allowed,
        }
    finally:
        engine.dispose()
        drop_database(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--faults", type=float, default=0.05, help="share of requests that fail somehow")
    parser.add_argument("--max-latency", type=float, default=0.1, help="random provider latency, seconds")
    parser.add_argument("--kill-every", type=float, default=5.0, help="mean seconds between SIGKILLs")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    results = []
    for number in range(1, args.trials + 1):
        result = trial(number, args, workdir)
        results.append(result)
        print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    failed = [r for r in results if not r["ok"]]
    total = {k: sum(r[k] for r in results) for k in ("messages", "lost", "twice", "unsettled", "kills")}
    print(f"{len(results)} trials, {len(failed)} failed: {total}")
    emit(
        "chaos trials passed",
        len(results) - len(failed),
        unit="trials",
        target=len(results),
        better="higher",
        passed=not failed,
        **total,
        worst_window=max(r["worst_window"] for r in results),
        rate=args.rate,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
