"""Public keys stay on loopback, however the web app is started: the development secret key and the
sandbox provider (whose signing key is public) never answer beyond 127.0.0.1.

Runs `uvicorn --factory` the way an operator would (a subprocess, `--host 0.0.0.0`, `--workers`), and
reaches it from another process on this machine's own non-loopback address when it has one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from campaign.core.errors import Invalid
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.live_server import free_port

PROBE = textwrap.dedent(
    """
    import socket, sys, urllib.request, urllib.error
    port = int(sys.argv[1])
    def status(host, headers=None):
        request = urllib.request.Request(f"http://{host}:{port}/login", headers=headers or {})
        try:
            return urllib.request.urlopen(request, timeout=20).status
        except urllib.error.HTTPError as error:
            return error.code
    try:  # UDP connect sends no packet: it only picks this host's own address
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))
        own = probe.getsockname()[0]
    except OSError:
        own = "127.0.0.1"
    print("loopback", status("127.0.0.1"))
    print("forwarded", status("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}))
    print("own", own if own.startswith("127.") else status(own))
    """
)


def _uvicorn(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "uvicorn", "campaign.web.app:create_app", "--factory",
        "--host", "0.0.0.0", "--port", str(port), "--log-level", "warning", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1]
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(port)], capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0 and "loopback 200" in done.stdout:
            return
        time.sleep(0.5)
    raise AssertionError("uvicorn did not start")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uvicorn_factory_on_all_interfaces_answers_only_loopback_with_public_keys(db_url, workers):
    port = free_port()
    server = _uvicorn(port, {"CAMPAIGN_DATABASE_URL": db_url}, "--workers", workers)
    try:
        _wait(port, server)
        answers = dict(
            line.split(" ", 1)
            for line in subprocess.run(
                [sys.executable, "-c", PROBE, str(port)],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.splitlines()
        )
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert answers["loopback"] == "200"
    assert answers["forwarded"] == "503"  # through a proxy: from anywhere
    if not answers["own"].startswith("127."):  # a machine with only loopback cannot show this part
        assert answers["own"] == "503", answers
    assert "refused a request from beyond this machine" in stderr


def test_the_factory_refuses_a_public_url_beyond_loopback_with_public_keys(db_url):
    with pytest.raises(Invalid, match="CAMPAIGN_PUBLIC_URL.*sandbox provider's signing key is public"):
        create_app(settings(public_url="https://campaign.example.org"))
    with pytest.raises(Invalid, match="CAMPAIGN_SECRET_KEY"):
        create_app(settings(provider="twilio", public_url="https://campaign.example.org"))
    port = free_port()
    server = _uvicorn(
        port, {"CAMPAIGN_DATABASE_URL": db_url, "CAMPAIGN_PUBLIC_URL": "https://campaign.example.org"}
    )
    _, stderr = server.communicate(timeout=120)
    assert server.returncode != 0
    assert "sandbox provider's signing key is public" in stderr


def test_a_real_key_with_twilio_serves_everyone(db_url):
    app = create_app(
        settings(
            provider="twilio",
            public_url="https://campaign.example.org",
            secret_key="a-long-random-key-for-this-test-only",
            twilio_auth_token="not-a-real-token",
        )
    )
    assert not any(m.cls.__name__ == "LoopbackGuard" for m in app.user_middleware)


def test_serve_refuses_the_sandbox_beyond_loopback_even_with_a_real_key(db_url):
    from tests.subprocess_cli import run_cli

    done = run_cli(
        "serve", "--host", "0.0.0.0", "--port", str(free_port()),
        db_url=db_url, env={"CAMPAIGN_SECRET_KEY": "a-long-random-key-for-this-test-only"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "sandbox provider's signing key is public" in done.stderr
