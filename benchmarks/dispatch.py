"""Dispatch benchmark: throughput and rate-limit accuracy against the local Twilio-speaking server.

Targets (issue 4): with 50 ms simulated provider latency, at least 200 messages per second from one
process; the configured rate limit held within 2% over a minute (15 s with --quick). Also prints
the speed-up over a sequential loop over the twilio client measured in the same run.

    python benchmarks/dispatch.py [--quick] [--db URL] [--latency 0.05] [--rate 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from audiences.models import Contact  # noqa: E402
from campaign.blasts.dispatch import dispatch_due  # noqa: E402
from campaign.blasts.models import Campaign, Outbound  # noqa: E402
from campaign.core.config import get_settings  # noqa: E402
from campaign.core.db import make_engine  # noqa: E402
from campaign.providers.twilio import TwilioProvider  # noqa: E402
from campaign.schema import metadata  # noqa: E402
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)
BODY = "Oferta de trabajo en la capital? Puede ser trata. Llama gratis al 1572. Responde BAJA para salir."


def start_fake(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake server in its own process, so its threads do not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_server", "--latency", str(latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def fresh_database(url: str | None, workdir: Path):
    if url is None:
        url = f"sqlite:///{workdir}/bench.db"
    engine = make_engine(url)
    metadata().drop_all(engine)
    metadata().create_all(engine)
    return engine


def queue_rows(engine, n: int, start: int) -> None:
    """n contacts and n due blast rows of a running campaign (window all day), inserted in bulk."""
    with engine.begin() as connection:
        campaign_id = connection.execute(
            insert(Campaign).values(
                slug=f"bench-{start}", name="bench", status="running", timezone="America/Guatemala",
                window_start=dtime(0, 0), window_end=dtime(23, 59), weekend_window={}, variables={}, spec={},
                created_at=NOW, updated_at=NOW,
            ).returning(Campaign.id)
        ).scalar_one()
        contacts = [
            {"phone": f"+5024{start + i:07d}", "language": "es", "status": "active", "custom": {},
             "created_at": NOW, "updated_at": NOW}
            for i in range(n)
        ]
        connection.execute(insert(Contact), contacts)
        ids = connection.execute(
            text("SELECT id FROM contacts WHERE phone >= :lo ORDER BY id"), {"lo": f"+5024{start:07d}"}
        ).scalars().all()[:n]
        connection.execute(insert(Outbound), [
            {"contact_id": cid, "campaign_id": campaign_id, "body": BODY, "segments": 1, "priority": 0,
             "status": "queued", "send_after": NOW, "attempts": 0, "created_at": NOW}
            for cid in ids
        ])


def settings_for(base_url: str, *, rate: float, concurrency: int):
    return get_settings(
        provider="twilio", twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006", twilio_api_base=base_url, rate_per_second=rate,
        concurrency=concurrency, batch_size=500, public_url="https://campaign.example.org",
    )


class StampedProvider(TwilioProvider):
    """The twilio provider, noting when each request leaves (after the token bucket)."""

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.stamps: list[float] = []

    def send(self, request):
        self.stamps.append(time.perf_counter())
        return super().send(request)


def worst_window(stamps: list[float], rate: float, *, window: float) -> float:
    """Largest relative deviation from `rate` over consecutive windows of `window` seconds."""
    worst, start, i = 0.0, stamps[0], 0
    while start + window <= stamps[-1]:
        j = i
        while j < len(stamps) and stamps[j] < start + window:
            j += 1
        worst = max(worst, abs((j - i) / window - rate) / rate)
        i, start = j, start + window
    return worst


def sequential_baseline(base_url: str, n: int) -> float:
    """The naive way: one twilio client create after another. Returns messages per second."""
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = base_url
    started = time.perf_counter()
    for i in range(n):
        client.messages.create(to=f"+5025{i:07d}", from_="+15005550006", body=BODY)
    return n / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hold the rate for 15 s instead of 60 s")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=200.0, help="configured rate limit to hold (msg/s)")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    hold_seconds = 15 if args.quick else 60
    fake, base_url = start_fake(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engine = fresh_database(args.db, Path(tmp))
            print(f"provider latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, "
                  f"database {engine.url.get_backend_name()}")

            baseline = sequential_baseline(base_url, 60 if args.quick else 150)
            print(f"sequential twilio client loop: {baseline:7.1f} msg/s")

            n = 3000 if args.quick else 6000
            queue_rows(engine, n, 0)
            settings = settings_for(base_url, rate=100_000.0, concurrency=args.concurrency)
            provider = TwilioProvider(settings)
            started = time.perf_counter()
            result = dispatch_due(engine, provider, now=NOW, settings=settings)
            elapsed = time.perf_counter() - started
            throughput = result.sent / elapsed
            ok = throughput >= 200 and result.sent == n
            print(f"throughput (no rate limit): {result.sent} sent in {elapsed:.1f} s = "
                  f"{throughput:7.1f} msg/s (target >= 200) "
                  f"ratio vs sequential {throughput / baseline:.1f}x  "
                  f"{'OK' if ok else 'MISSED'}")

            n = int(args.rate * hold_seconds)
            queue_rows(engine, n, 1_000_000)
            settings = settings_for(base_url, rate=args.rate, concurrency=args.concurrency)
            provider = StampedProvider(settings)
            started = time.perf_counter()
            result = dispatch_due(engine, provider, now=NOW, settings=settings)
            elapsed = time.perf_counter() - started
            # The rate the provider sees: requests leaving per second, first to last.
            stamps = sorted(provider.stamps)
            achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            deviation = abs(achieved - args.rate) / args.rate
            worst = worst_window(stamps, args.rate, window=5.0)
            held = deviation <= 0.02 and result.sent == n
            print(f"rate limit {args.rate:.0f} msg/s held over {stamps[-1] - stamps[0]:.1f} s "
                  f"({elapsed:.1f} s with claims and records): {achieved:7.2f} msg/s, deviation "
                  f"{deviation * 100:.2f}% (target <= 2%), worst 5 s window {worst * 100:.1f}%  "
                  f"{'OK' if held else 'MISSED'}")
            engine.dispose()
            return 0 if ok and held else 1
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
