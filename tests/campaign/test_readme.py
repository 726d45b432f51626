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
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: password prompts read the pseudo-terminal
    )
    os.close(follower)
    os.write(leader, answers.encode())
    out, err = process.communicate(timeout=300)
    os.close(leader)
    return process.returncode, out, err


@pytest.mark.slow
def test_every_readme_command_runs_as_written_on_the_demo_database(tmp_path_factory):
    import shlex
    import urllib.request

    from tests.processes import (
        build_demo_database,
        campaign_command,
        copy_database,
        environment,
        free_port,
        run,
        run_for,
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
            code, out, err = run_for(argv, cwd=work, env=env, seconds=15, ready=LONG_RUNNING[prefix] or None)
            if prefix == "campaign serve" and code is None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as page:
                    assert page.status == 200
            if code is not None:
                failures.append(f"{command} ended by itself -> exit {code}: {err[-500:]}")
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
