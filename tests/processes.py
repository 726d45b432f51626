"""Runs the real entry points in fresh processes: `campaign ...`, `python scheduler.py`, servers.

A fresh process per command is how people run the engine, so nothing a test imported earlier can
hide a missing import (issue 10, defect 1). The environment is the test's (conftest isolates it:
English output, a temporary database); `database_url` points the command at a given database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
CAMPAIGN = BIN / "campaign"


def campaign_command() -> list[str]:
    """The installed `campaign` console script (as users run it), else `python -m campaign`."""
    return [str(CAMPAIGN)] if CAMPAIGN.exists() else [sys.executable, "-m", "campaign"]


def environment(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The test's environment for a child process (its PATH first finds this venv's tools)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    if database_url is not None:
        env["CAMPAIGN_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Runs one command to completion (argv[0] `campaign` means the installed command)."""
    command = [*campaign_command(), *argv[1:]] if argv and argv[0] == "campaign" else list(argv)
    if command and command[0] == "python":
        command[0] = sys.executable
    return subprocess.run(
        command, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_for(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], seconds: float, ready: str | None = None
) -> tuple[int | None, str, str]:
    """Runs a long-running command (scheduler, serve) until `ready` shows in its output or
    `seconds` pass, then stops it with SIGTERM. Returns (exit code if it ended by itself, else
    None; stdout; stderr)."""
    command = [*campaign_command(), *argv[1:]] if argv[0] == "campaign" else list(argv)
    if command[0] == "python":
        command[0] = sys.executable
    out_path, err_path = cwd / ".run-for.out", cwd / ".run-for.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            if ready and ready in out_path.read_text() + err_path.read_text():
                break
            time.sleep(0.1)
        code = process.poll()
        if code is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return code, out_path.read_text(), err_path.read_text()


def build_demo_database(folder: Path, *, contacts: int = 300, days: int = 1) -> Path:
    """Runs `campaign demo` in a fresh process into `folder/var/campaign.db`; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "var" / "campaign.db"
    result = run(
        ["campaign", "demo", "--contacts", str(contacts), "--days", str(days)],
        cwd=folder,
        env=environment(f"sqlite:///{path}"),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return path


def copy_database(template: Path, folder: Path) -> str:
    """A private copy of a SQLite database file (with its WAL, if any); returns its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "campaign.db"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copyfile(source, Path(f"{target}{suffix}"))
    return f"sqlite:///{target}"


SAMPLES = ROOT / "campaign" / "samples"
