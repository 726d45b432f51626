"""The README stays useful: its quick start and configuration table match the code."""

from __future__ import annotations

import re

import pytest

from campaign.core.config import Settings
from tests.conftest import ROOT


def test_readme_configuration_table_lists_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CAMPAIGN_[A-Z_]+)` \|", readme, flags=re.MULTILINE))
    expected = {f"CAMPAIGN_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected, (
        f"missing from README: {sorted(expected - documented)}; "
        f"documented but not settings: {sorted(documented - expected)}"
    )


def test_every_setting_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_quick_start_is_two_make_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


# --- The README is executable (issue 10) -------------------------------------------------------
#
# Every command of the fenced blocks in "How each role uses it" runs as written, in order, on a
# copy of the demo's database, each in a fresh process, from a scratch folder where the shipped
# folders are visible (so `campaign/samples/...` resolves) and whatever a command writes stays.
# Long-running commands are started, probed and stopped. A command that asks (launch, passwords)
# gets its answers on a pseudo-terminal, as a person would type them.

ROLE_SECTION = ("## How each role uses it", "## Configuration")
SHIPPED = ("campaign", "audiences", "messages", "tests", "benchmarks", "scheduler.py")
PASSWORD = "una clave larga y sintética"
ANSWERS = {  # command prefix -> what a person types at its prompts
    "campaign launch": "y\n",
    "campaign users add": f"{PASSWORD}\n{PASSWORD}\n",
    "campaign users reset-password": f"{PASSWORD} 2\n{PASSWORD} 2\n",
}
LONG_RUNNING = {  # command prefix -> the line that shows it is up
    "campaign serve": "Uvicorn running on",
    "campaign scheduler": "Scheduler running",
    "python scheduler.py": "",
}


def readme_commands() -> list[str]:
    """The commands of the role sections' fenced blocks, comments and continuation lines dropped."""
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(ROLE_SECTION[0], 1)[1].split(ROLE_SECTION[1], 1)[0]
    commands = []
    for block in section.split("```")[1::2]:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def test_the_readme_role_sections_have_commands_for_every_role():
    commands = readme_commands()
    roles = ("campaign launch", "campaign messages", "campaign radio", "campaign serve", "campaign users")
    for needed in roles:
        assert any(c.startswith(needed) for c in commands), needed


def _with_answers(argv: list[str], *, cwd, env, answers: str):
    """Runs argv on a pseudo-terminal and types each line of `answers` once it is asked for.

    A password prompt (getpass) flushes the terminal's pending input before it reads, so a line
    typed ahead is lost: each line is typed when new output (a prompt) shows, and typed again if
    the command still waits, silent, three seconds later (the flush ate it)."""
    import os
    import pty
    import select
    import subprocess
    import time

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # no controlling terminal: password prompts read the pseudo-terminal
    )
    os.close(follower)
    assert process.stdout is not None and process.stderr is not None
    streams = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    lines = answers.splitlines(keepends=True)
    typed, last_output, last_typed = 0, 0.0, 0.0
    deadline = time.monotonic() + 300
    open_fds = set(streams)
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 0.2)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                streams[fd].extend(chunk)
                last_output = time.monotonic()
            else:
                open_fds.discard(fd)
        now = time.monotonic()
        if (
            process.poll() is None
            and typed < len(lines)
            and last_output > last_typed
            and now - last_output > 0.3
        ):
            os.write(leader, lines[typed].encode())
            typed, last_typed = typed + 1, now
        elif process.poll() is None and 0 < typed and now - max(last_output, last_typed) > 3:
            os.write(leader, lines[typed - 1].encode())  # the prompt flushed it: type it again
            last_typed = now
    if open_fds:
        process.kill()
    process.wait(timeout=30)
    os.close(leader)
    out, err = (bytes(streams[f.fileno()]).decode(errors="replace") for f in (process.stdout, process.stderr))
    return process.returncode, out, err


def _start_probe_stop(argv: list[str], *, cwd, env, ready: str, port: int) -> str | None:
    """Starts a long-running command, waits (at most two minutes) until `ready` shows in its
    output (or, with no `ready`, until it has run a while), probes the web app when it is one,
    then stops it. Returns what went wrong, or None."""
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.processes import campaign_command

    command = [*campaign_command(), *argv[1:]] if argv[0] == "campaign" else [sys.executable, *argv[1:]]
    log = cwd / ".long-running.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + (120 if ready else 10)
            while time.monotonic() < deadline and process.poll() is None:
                if ready and ready in log.read_text():
                    break
                time.sleep(0.2)
            if process.poll() is not None:
                return f"ended by itself with exit {process.returncode}: {log.read_text()[-500:]}"
            if ready and ready not in log.read_text():
                return f"did not show {ready!r} within two minutes: {log.read_text()[-500:]}"
            if argv[:2] == ["campaign", "serve"]:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as page:
                    if page.status != 200:
                        return f"/login answered {page.status}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return None


@pytest.mark.slow
def test_every_readme_command_runs_as_written_on_the_demo_database(tmp_path_factory):
    import shlex

    from tests.processes import (
        build_demo_database,
        campaign_command,
        copy_database,
        environment,
        free_port,
        run,
    )

    demo = build_demo_database(tmp_path_factory.mktemp("readme-demo"))
    work = tmp_path_factory.mktemp("readme")
    for name in SHIPPED:
        (work / name).symlink_to(ROOT / name)
    port = free_port()
    env = environment(copy_database(demo, work / "var"), CAMPAIGN_PORT=str(port))
    failures = []
    for command in readme_commands():
        argv = shlex.split(command)
        prefix = next((p for p in LONG_RUNNING if command.startswith(p)), None)
        if prefix is not None:
            problem = _start_probe_stop(argv, cwd=work, env=env, ready=LONG_RUNNING[prefix], port=port)
            if problem:
                failures.append(f"{command} -> {problem}")
            continue
        answers = next((a for p, a in ANSWERS.items() if command.startswith(p)), None)
        if answers is not None:
            full = [*campaign_command(), *argv[1:]]
            code, out, err = _with_answers(full, cwd=work, env=env, answers=answers)
        else:
            done = run(argv, cwd=work, env=env, timeout=300)
            code, out, err = done.returncode, done.stdout, done.stderr
        if code != 0:
            failures.append(f"{command} -> exit {code}: {(err or out)[-500:]}")
    assert failures == [], "\n".join(failures)
