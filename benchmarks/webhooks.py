"""Benchmark: provider webhooks at scale, status callbacks and inbound SMS, through uvicorn.

Targets (issue 15), each with p99 < 100 ms and 0 lost (every request answered 2xx is checked in
the database afterwards, one by one):
- status callbacks on PostgreSQL with N uvicorn workers: >= 1,500 callbacks/s;
- inbound messages on PostgreSQL with N uvicorn workers: >= 1,000 messages/s;
- inbound messages on SQLite, one worker: >= 300 messages/s.
The baseline, measured in the same run against the same load, is one transaction per request
(`CAMPAIGN_WEBHOOK_BATCH_MAX=1`, the engine before group commit).

The status stream is what a blast brings back: for each message `queued`, `sent` and then
`delivered` (or `undelivered` with an error code), shuffled so that the callbacks of one message
arrive out of order and at the same time; half of the messages have no SID stored yet (matched
by the `outbound` parameter of the callback URL, as when a callback overtakes the send's answer);
5 % of the callbacks are for SIDs nobody knows. Afterwards every answered callback's status must
be reached or passed (invariant 5: status only moves forward). The inbound stream is a realistic
mix of replies, AYUDA, STOP and SI from a few thousand synthetic numbers, new ones included.

wrk (Debian package) replays pre-signed requests (benchmarks/wrk/signed_requests.lua), each
once, and records which were answered 2xx: the server (benchmarks/_webhook_server.py) echoes
the request's sequence number. All numbers are synthetic.

    python benchmarks/webhooks.py [--only status-pg,inbound-pg,inbound-sqlite] [--seconds 15]
                                  [--workers 2] [--concurrency 32] [--no-baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _bench import emit  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

TOKEN = "bench-signing-key"
P99_TARGET_MS = 100.0
PG_URL = os.environ.get("CAMPAIGN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
INBOUND_BODIES = [
    "hola, ¿dónde puedo pedir ayuda?",
    "gracias por la información",
    "AYUDA",
    "¿es real esta oferta de trabajo?",
    "STOP",
    "SI",
    "me interesa saber más sobre mis derechos",
]
RANK = {"sending": 1, "sent": 2, "delivered": 3, "undelivered": 3}
TWILIO_TO_OURS = {"queued": "sent", "sent": "sent", "delivered": "delivered", "undelivered": "undelivered"}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # status | inbound
    backend: str  # postgresql | sqlite
    target: float
    unit: str


SCENARIOS = {
    "status-pg": Scenario("status-pg", "status", "postgresql", 1500.0, "callbacks/s"),
    "inbound-pg": Scenario("inbound-pg", "inbound", "postgresql", 1000.0, "messages/s"),
    "inbound-sqlite": Scenario("inbound-sqlite", "inbound", "sqlite", 300.0, "messages/s"),
}


@dataclass(frozen=True)
class Request:
    path: str  # path and query, as posted
    params: dict[str, str]
    row: int | None = None  # status: the outbound row it is about (None: unknown SID)
    status: str | None = None  # status: our status it maps to


@dataclass
class Measurement:
    answered: int
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    lost: int
    wrong_final: int
    server_cpu_s: float
    load_before: float
    load_after: float
    wrapped: bool


# --- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database at head revision: a SQLite file, or a PostgreSQL database dropped after."""
    from campaign.core.db import make_engine
    from campaign.schema import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:6]}.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_outbound(engine: Engine, rows: int) -> None:
    """`rows` synthetic contacts, each with one outbound message being sent; even rows have the
    provider SID stored already, odd ones not yet."""
    from campaign.core.db import bulk_insert, unit_of_work

    with unit_of_work(engine) as session:
        bulk_insert(
            session, "contacts", ["id", "phone", "custom", "status", "created_at", "updated_at"],
            ((i, f"+5024{i:07d}", "{}", "active", NOW, NOW) for i in range(1, rows + 1)),
            datetime_columns=("created_at", "updated_at"),
        )
        bulk_insert(
            session, "outbound",
            ["id", "contact_id", "body", "segments", "priority", "status", "send_after", "attempts",
             "provider", "provider_sid", "created_at"],
            (
                (i, i, "Mensaje sintético de prueba", 1, 0, "sending", NOW, 1, "twilio",
                 status_sid(i) if i % 2 == 0 else None, NOW)
                for i in range(1, rows + 1)
            ),
            datetime_columns=("send_after", "created_at"),
        )
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT setval('contacts_id_seq', :n)"), {"n": rows})
            session.execute(text("SELECT setval('outbound_id_seq', :n)"), {"n": rows})
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
        connection.commit()


def status_sid(row: int) -> str:
    return f"SMst{row:030d}"


# --- requests ----------------------------------------------------------------------------------


def status_requests(first_row: int, rows: int, rng: random.Random) -> list[Request]:
    """Three callbacks per message, shuffled within blocks of 64 messages; 5 % unknown SIDs."""
    out: list[Request] = []
    block: list[Request] = []
    for row in range(first_row, first_row + rows):
        final = "undelivered" if rng.random() < 0.2 else "delivered"
        for twilio_status in ("queued", "sent", final):
            params = {
                "MessageSid": status_sid(row),
                "AccountSid": "AC" + "0" * 32,
                "MessageStatus": twilio_status,
                "To": f"+5024{row:07d}",
            }
            if twilio_status == "undelivered":
                params["ErrorCode"] = "30003"
            ours = TWILIO_TO_OURS[twilio_status]
            block.append(Request(f"/twilio/status?outbound={row}", params, row, ours))
        if rng.random() < 0.15:  # about 5 % of callbacks: a SID we never sent
            sid = f"SMxx{rng.getrandbits(96):030x}"
            params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "MessageStatus": "delivered"}
            block.append(Request("/twilio/status", params))
        if len(block) >= 192:
            rng.shuffle(block)
            out.extend(block)
            block = []
    rng.shuffle(block)
    out.extend(block)
    return out


def inbound_requests(start: int, count: int, rng: random.Random) -> list[Request]:
    """Inbound SMS from 3,000 synthetic numbers (most of them new at first), unique SIDs."""
    out = []
    for i in range(start, start + count):
        params = {
            "MessageSid": f"SMin{i:030d}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+5023{rng.randrange(3000):07d}",
            "To": "+50220000000",
            "Body": rng.choice(INBOUND_BODIES),
            "NumMedia": "0",
        }
        out.append(Request("/twilio/inbound", params))
    return out


def write_requests(path: Path, requests: list[Request], public_url: str) -> None:
    validator = RequestValidator(TOKEN)
    with path.open("w", encoding="utf-8") as handle:
        for seq, request in enumerate(requests):
            signature = validator.compute_signature(public_url + request.path, request.params)
            handle.write(f"{seq}\t{request.path}\t{signature}\t{urlencode(request.params)}\n")


# --- server and load ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int, workers: int, batch_max: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CAMPAIGN_DATABASE_URL": db_url,
        "CAMPAIGN_SANDBOX_AUTH_TOKEN": TOKEN,
        "CAMPAIGN_PROVIDER": "sandbox",
        "CAMPAIGN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CAMPAIGN_LOCALE": "es",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("CAMPAIGN_WEBHOOK_BATCH_MAX", None)
    if batch_max is not None:
        env["CAMPAIGN_WEBHOOK_BATCH_MAX"] = str(batch_max)
    command = [
        sys.executable, "-m", "uvicorn", "_webhook_server:make_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]
    return subprocess.Popen(command, env=env, cwd=str(ROOT), start_new_session=True)


def wait_ready(port: int, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its children (the uvicorn workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_wrk(port: int, requests_file: Path, answered_file: Path, seconds: int, concurrency: int) -> dict:
    script = HERE / "wrk" / "signed_requests.lua"
    output = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
         f"http://127.0.0.1:{port}", "--", str(requests_file), str(answered_file)],
        capture_output=True, text=True, check=True,
    ).stdout
    found = re.search(
        r"RESULT requests=(\d+) non2xx=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) "
        r"p50=([\d.]+) p99=([\d.]+) max=([\d.]+) wrapped=(\w+)",
        output,
    )
    if not found:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    values = found.groups()
    return {
        "requests": int(values[0]), "errors": sum(int(v) for v in values[1:6]),
        "p50": float(values[6]), "p99": float(values[7]), "max": float(values[8]),
        "wrapped": values[9] == "true",
    }


# --- checks ------------------------------------------------------------------------------------


def check_status(engine: Engine, requests: list[Request], answered: set[int]) -> tuple[int, int]:
    """(lost, wrong_final): answered callbacks whose status the row has not reached, and messages
    whose three callbacks were all answered but whose final status is not the last one's."""
    from campaign.blasts.models import Outbound

    with engine.connect() as connection:
        stored = dict(connection.execute(select(Outbound.id, Outbound.status)).all())
    lost = 0
    per_row: dict[int, list[str]] = {}
    for seq, request in enumerate(requests):
        if request.row is None or seq not in answered:
            continue
        per_row.setdefault(request.row, []).append(str(request.status))
        if RANK.get(str(stored.get(request.row)), 0) < RANK[str(request.status)]:
            lost += 1
    wrong = 0
    for row, statuses in per_row.items():
        if len(statuses) == 3:
            final = "undelivered" if "undelivered" in statuses else "delivered"
            wrong += stored.get(row) != final
    return lost, wrong


def check_inbound(engine: Engine, requests: list[Request], answered: set[int]) -> int:
    """Answered inbound messages that are not in the database."""
    from campaign.hotline.models import Inbound

    with engine.connect() as connection:
        stored = set(connection.execute(select(Inbound.provider_sid)).scalars())
    return sum(1 for seq in answered if requests[seq].params["MessageSid"] not in stored)


# --- one measurement ---------------------------------------------------------------------------


def measure(scenario: Scenario, args: argparse.Namespace, batch_max: int | None, folder: Path) -> Measurement:
    from campaign.core.db import make_engine

    rng = random.Random(15)
    workers = 1 if scenario.backend == "sqlite" else args.workers
    ceiling = 6000 if scenario.kind == "status" else 4000  # more than can be answered: none sent twice
    planned = args.seconds * ceiling
    with scratch_database(scenario.backend, folder) as url:
        engine = make_engine(url)
        if scenario.kind == "status":
            rows = planned // 3 + 1
            warm_rows = 1000
            seed_outbound(engine, rows + warm_rows)
            warm = status_requests(rows + 1, warm_rows, rng)
            requests = status_requests(1, rows, rng)
        else:
            warm = inbound_requests(10_000_000, 2000, rng)
            requests = inbound_requests(0, planned, rng)
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        requests_file, warm_file = folder / "requests.txt", folder / "warm.txt"
        answered_file = folder / "answered.txt"
        write_requests(requests_file, requests, public)
        write_requests(warm_file, warm, public)
        server = start_server(url, port, workers, batch_max)
        try:
            wait_ready(port)
            run_wrk(port, warm_file, folder / "warm-answered.txt", 2, args.concurrency)
            cpu_before = process_tree_cpu(server.pid)
            load_before = os.getloadavg()[0]
            result = run_wrk(port, requests_file, answered_file, args.seconds, args.concurrency)
            load_after = os.getloadavg()[0]
            server_cpu = process_tree_cpu(server.pid) - cpu_before
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        answered = {int(line) for line in answered_file.read_text().split()}
        if scenario.kind == "status":
            lost, wrong = check_status(engine, requests, answered)
        else:
            lost, wrong = check_inbound(engine, requests, answered), 0
        engine.dispose()
    return Measurement(
        answered=len(answered), rate=len(answered) / args.seconds, p50_ms=result["p50"],
        p99_ms=result["p99"], max_ms=result["max"], errors=result["errors"], lost=lost, wrong_final=wrong,
        server_cpu_s=server_cpu, load_before=load_before, load_after=load_after, wrapped=result["wrapped"],
    )


def describe(label: str, m: Measurement, unit: str) -> str:
    cpu_ms = 1000 * m.server_cpu_s / max(1, m.answered)
    return (
        f"  {label:<34} {m.rate:7.0f} {unit}  p50 {m.p50_ms:6.1f} ms  p99 {m.p99_ms:6.1f} ms  "
        f"max {m.max_ms:6.0f} ms  answered {m.answered}  errors {m.errors}  lost {m.lost}"
        + (f"  wrong final {m.wrong_final}" if m.wrong_final else "")
        + f"  server CPU {cpu_ms:.2f} ms/req  load {m.load_before:.1f}->{m.load_after:.1f}"
        + ("  (request file exhausted!)" if m.wrapped else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="uvicorn workers (PG)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections of the load generator")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-transaction-per-request run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk): the load generator of this benchmark")
        return 1
    names = [name for name in args.only.split(",") if name]
    failed = False
    for name in names:
        scenario = SCENARIOS[name]
        workers = 1 if scenario.backend == "sqlite" else args.workers
        print(f"{name}: {scenario.kind} on {scenario.backend}, {workers} uvicorn worker(s), "
              f"{args.concurrency} connections, {args.seconds} s (load average {os.getloadavg()[0]:.1f}, "
              f"{os.cpu_count()} CPUs)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            grouped = measure(scenario, args, None, Path(tmp))
            print(describe("group commit (default)", grouped, scenario.unit), flush=True)
            baseline = None
            if not args.no_baseline:
                baseline = measure(scenario, args, 1, Path(tmp))
                print(describe("baseline: one transaction per request", baseline, scenario.unit), flush=True)
        passed = (
            grouped.rate >= scenario.target and grouped.p99_ms < P99_TARGET_MS and grouped.lost == 0
            and grouped.wrong_final == 0 and grouped.errors == 0 and not grouped.wrapped
        )
        failed |= not passed
        print(f"  target >= {scenario.target:.0f} {scenario.unit}, p99 < {P99_TARGET_MS:.0f} ms, 0 lost: "
              f"{'PASS' if passed else 'FAIL'}", flush=True)
        emit(
            f"{scenario.kind} webhooks, {scenario.backend}, {workers} worker(s)", grouped.rate,
            unit=scenario.unit, target=scenario.target, better="higher",
            baseline=baseline.rate if baseline else None, baseline_label="one transaction per request",
            passed=passed, p99_ms=grouped.p99_ms, lost=grouped.lost, errors=grouped.errors,
            baseline_p99_ms=baseline.p99_ms if baseline else None,
            server_cpu_ms_per_request=round(1000 * grouped.server_cpu_s / max(1, grouped.answered), 3),
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
