"""Benchmark: a signed webhook stays fast while 60 staff log in at once (SQLite, one uvicorn worker).

Before this target (issue 12) the login hashed the password (argon2, 64 MiB, tens of ms of CPU)
inside the SQLite write lock: 60 concurrent logins delayed a signed inbound webhook from 0.06 s
to 10-23 s, beyond Twilio's 15 s timeout. Now the hash runs with no lock held, at most half the
CPUs at once, and the login writes in one short transaction.

Figure: the slowest signed inbound webhook (sent every 100 ms) during a storm of 60 concurrent
logins; target < 1 s. Baseline, same run: the slowest webhook with no login at all.
All users, passwords and numbers are synthetic.

    python benchmarks/login_storm.py [--logins 60]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from _bench import emit  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

TOKEN = "bench-signing-key"
PASSWORD = "bench password not real"
TARGET_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(db_url: str, users: int) -> None:
    from campaign.core.db import make_engine, make_sessionmaker, utcnow
    from campaign.hotline.models import User
    from campaign.hotline.users import hash_password
    from campaign.schema import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    digest = hash_password(PASSWORD)  # one hash for all: seeding is not what is measured
    with make_sessionmaker(engine).begin() as session:
        for n in range(users):
            user = User(username=f"staff{n:03d}", password_hash=digest, role="hotline", created_at=utcnow())
            session.add(user)
    engine.dispose()


def start_server(db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CAMPAIGN_DATABASE_URL": db_url,
        "CAMPAIGN_SANDBOX_AUTH_TOKEN": TOKEN,
        "CAMPAIGN_PROVIDER": "sandbox",
        "CAMPAIGN_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    command = [
        sys.executable, "-m", "uvicorn", "campaign.web.app:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=str(ROOT), start_new_session=True)


def wait_ready(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


class WebhookProbe(threading.Thread):
    """Sends a signed inbound webhook every `period` seconds; records each one's latency."""

    def __init__(self, base: str, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.base, self.period = base, period
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()
        self.validator = RequestValidator(TOKEN)
        self.counter = 0

    def run(self) -> None:
        url = f"{self.base}/twilio/inbound"
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                self.counter += 1
                params = {
                    "MessageSid": f"SM{os.getpid():08x}{self.counter:024x}",
                    "AccountSid": "AC" + "0" * 32,
                    "From": f"+50255{self.counter % 10000:06d}",
                    "To": "+50220000000",
                    "Body": "hola, tengo una pregunta",
                    "NumMedia": "0",
                }
                headers = {
                    "X-Twilio-Signature": self.validator.compute_signature(url, params),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                started = time.perf_counter()
                response = client.post(url, content=urlencode(params), headers=headers)
                self.latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    self.failures += 1
                self.stop.wait(self.period)


def one_login(base: str, n: int, results: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as client:
        page = client.get("/login").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match
        data = {"username": f"staff{n:03d}", "password": PASSWORD, "csrf_token": match.group(1)}
        results.append(client.post("/login", data=data).status_code)


def measure(base: str, logins: int) -> tuple[float, float, float, list[int]]:
    quiet = WebhookProbe(base)
    quiet.start()
    time.sleep(3)
    quiet.stop.set()
    quiet.join()
    storm = WebhookProbe(base)
    storm.start()
    results: list[int] = []
    threads = [threading.Thread(target=one_login, args=(base, n, results)) for n in range(logins)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    storm_seconds = time.perf_counter() - started
    time.sleep(0.5)
    storm.stop.set()
    storm.join()
    if quiet.failures or storm.failures:
        raise SystemExit(f"webhooks failed: {quiet.failures} quiet, {storm.failures} during the storm")
    return max(storm.latencies), max(quiet.latencies), storm_seconds, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="login-storm-") as folder:
        db_url = f"sqlite:///{folder}/storm.db"
        prepare(db_url, args.logins)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db_url, port)
        try:
            wait_ready(base)
            worst, quiet_worst, storm_seconds, results = measure(base, args.logins)
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = results.count(303)
    print(f"{args.logins} concurrent logins took {storm_seconds:.2f} s ({ok} succeeded)")
    print(f"slowest signed webhook: {worst:.3f} s during the storm, {quiet_worst:.3f} s without logins")
    emit(
        f"slowest signed webhook during {args.logins} concurrent logins (SQLite)",
        worst,
        unit="s",
        target=TARGET_SECONDS,
        better="lower",
        baseline=quiet_worst,
        baseline_label="no logins (same run)",
        passed=worst <= TARGET_SECONDS and ok == args.logins,
        logins_seconds=round(storm_seconds, 2),
        logins_ok=ok,
    )


if __name__ == "__main__":
    main()
