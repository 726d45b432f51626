"""Runs `campaign ...` the way a user does: a fresh process per command, against a given database.

Nothing the test process imported can leak into the command (the class of bug an in-process
runner hides). The environment is the test's own (the conftest already cleared CAMPAIGN_* and
set a temporary working directory), plus the database URL and English output unless told.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def campaign_executable() -> list[str]:
    """The installed `campaign` console script next to this interpreter (else `python -m campaign`)."""
    script = BIN / "campaign"
    return [str(script)] if script.exists() else [sys.executable, "-m", "campaign"]


def run_cli(
    *args: str,
    db_url: str | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`campaign *args` in a new process; returns the completed process (stdout, stderr, returncode)."""
    environment = dict(os.environ)
    environment.setdefault("CAMPAIGN_LOCALE", "en")
    environment["COLUMNS"] = environment.get("COLUMNS", "200")
    if db_url is not None:
        environment["CAMPAIGN_DATABASE_URL"] = db_url
    environment.update(env or {})
    return subprocess.run(
        [*campaign_executable(), *args],
        capture_output=True,
        text=True,
        env=environment,
        input=input,
        timeout=timeout,
        check=False,
    )


def run_json(
    *args: str, db_url: str | None = None, env: dict[str, str] | None = None, input: str | None = None
) -> Any:
    """`campaign *args` (which must print JSON and exit 0) in a new process; returns the parsed JSON."""
    result = run_cli(*args, db_url=db_url, env=env, input=input)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr or result.stdout}"
    return json.loads(result.stdout)
