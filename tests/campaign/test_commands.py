"""Every `campaign` command, each in a fresh process, on a fresh copy of a database.

The table below names each command with the key line (or JSON field) it must print and its exit
code. A command that is registered but missing from the table fails
`test_every_registered_command_is_in_the_table`, so a new command cannot escape this test.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tests.conftest import ROOT
from tests.processes import (
    SAMPLES,
    build_demo_database,
    copy_database,
    environment,
    free_port,
    run,
    run_for,
)

SLUG = "frontera-segura"
NEW_CAMPAIGN = (SAMPLES / "frontera-segura.yaml").read_text(encoding="utf-8").replace(
    "slug: frontera-segura", "slug: frontera-nueva"
)
PEOPLE_CSV = (
    "teléfono,nombre,idioma,departamento,consentimiento\n"
    "+50255550101,Persona Sintética Uno,es,San Marcos,feria de salud\n"
    "+50255550102,Persona Sintética Dos,mam,Huehuetenango,feria de salud\n"
)
AIRED_CSV = "date,time,spot,aired,notes\n2027-01-12,06:30,spot-coyotes,yes,\n"


@dataclass(frozen=True)
class Case:
    """One command line and what it must do."""

    argv: tuple[str, ...]
    expect: str | Callable[[Any], bool]  # a substring of stdout, or a check of its JSON
    db: str = "demo"  # demo (the demo's database), empty (schema only) or none (no file yet)
    code: int = 0
    stream: str = "stdout"
    before: tuple[tuple[str, ...], ...] = ()
    stdin: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None  # long-running: stop it after this long (or once `expect` shows)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        words = [Path(w).name for w in self.argv if not w.startswith("-")][:4]
        return " ".join(words) + ("" if self.code in (0, 1) else f" -> {self.code}")


def c(command: str, expect: str | Callable[[Any], bool], **kwargs: Any) -> Case:
    import shlex

    return Case(tuple(shlex.split(command)), expect, **kwargs)


CASES = [
    # root
    c("campaign --help", "Usage: campaign", db="none"),
    c("python -m campaign", "Usage: campaign", db="none", code=2),
    c("python {root}/scheduler.py --help", "Usage: ", db="none"),
    c("campaign init", "Database upgraded from empty to", db="none"),
    c("campaign init --json", lambda d: d["from"] == d["to"]),
    c("campaign config --json", lambda d: d["database_url"].startswith("sqlite:///")),
    # campaigns
    c("campaign create nueva.yaml --json", lambda d: d["slug"] == "frontera-nueva" and d["created"],
      files={"nueva.yaml": NEW_CAMPAIGN}),
    c("campaign list --json", lambda d: [r["slug"] for r in d] == [SLUG]),
    c(f"campaign show {SLUG}", SLUG),
    c(f"campaign preview {SLUG} --json", lambda d: d["campaign"] == SLUG and d["steps"]),
    # A copy of a campaign the demo already sent: its steps meet the frequency cap and WhatsApp's
    # rules, so the launch says so (the next case) and goes only when told to.
    c("campaign launch frontera-nueva --yes --json", "reaches nobody", code=1, stream="stderr",
      before=(("campaign", "create", "nueva.yaml"),), files={"nueva.yaml": NEW_CAMPAIGN}),
    c("campaign launch frontera-nueva --allow-empty --allow-partial --yes --json",
      lambda d: d["status"] == "scheduled",
      before=(("campaign", "create", "nueva.yaml"),), files={"nueva.yaml": NEW_CAMPAIGN}),
    c("campaign launch frontera-nueva --allow-empty --allow-partial", "pass --yes in scripts", code=2,
      stream="stderr",
      before=(("campaign", "create", "nueva.yaml"),), files={"nueva.yaml": NEW_CAMPAIGN}),
    c(f"campaign pause {SLUG} --json", lambda d: d["status"] == "paused"),
    c(f"campaign resume {SLUG} --json", lambda d: d["status"] == "running",
      before=(("campaign", "pause", SLUG),)),
    c(f"campaign cancel {SLUG} --json", lambda d: d["status"] == "cancelled"),
    c("campaign tick --now 2027-01-12T16:00:00Z --json", lambda d: d["now"].startswith("2027-01-12")),
    c("campaign scheduler --max-ticks 1", "Scheduler stopped after 1 tick"),
    c(f"campaign report {SLUG} --format json", lambda d: d["totals"]["sent"] > 0),
    c(f"campaign report {SLUG} --json", lambda d: d["campaign"] == SLUG and d["totals"]["sent"] > 0),
    c("campaign demo --contacts 60 --days 1", "Report matches the database", db="none"),
    c("campaign serve --port {port}", "Uvicorn running on", stream="stderr", seconds=180),
    # audiences
    c("campaign audiences import people.csv --json", lambda d: d["imported"] == 2, db="empty",
      files={"people.csv": PEOPLE_CSV}),
    c("campaign audiences import bare.csv", "no consent column", code=1, stream="stderr", db="empty",
      files={"bare.csv": "telefono\n+50255550101\n"}),
    c("campaign audiences count border_youth --json", lambda d: d["count"] > 0),
    c("campaign audiences segments --json", lambda d: any(s["slug"] == "border_youth" for s in d)),
    c("campaign audiences opt-in +50255550101 --source formulario --json",
      lambda d: d["status"] == "active"),
    c("campaign audiences opt-out +50255550101 --json", lambda d: d["status"] == "opted_out",
      before=(("campaign", "audiences", "opt-in", "+50255550101", "--source", "formulario"),)),
    c("campaign audiences sample --n 5 --out muestra.csv", "Wrote 5 rows", db="none"),
    c("campaign audiences segment add jovenes-sm 'department = \"San Marcos\"' --name 'Jóvenes SM' --json",
      lambda d: d["slug"] == "jovenes-sm" and d["count"] > 0),
    c("campaign audiences segment edit jovenes-sm --name 'Jóvenes de SM' --json",
      lambda d: d["name"] == "Jóvenes de SM" and d["count"] > 0,
      before=(("campaign", "audiences", "segment", "add", "jovenes-sm", 'department = "San Marcos"',
               "--name", "SM"),)),
    c("campaign audiences segment remove jovenes-sm --json", lambda d: d["removed"],
      before=(("campaign", "audiences", "segment", "add", "jovenes-sm", 'department = "San Marcos"',
               "--name", "SM"),)),
    c("campaign audiences segment remove border_youth", "built-in segment", code=1, stream="stderr"),
    # messages
    c("campaign messages load --json", lambda d: d["pack"] == "guatemala", db="empty"),
    c("campaign messages dump pack-out", "wrote 25 message file(s)"),
    c("campaign messages segments 'Hola, ¿cómo está?' --json", lambda d: d["segments"] == 1, db="none"),
    c("campaign messages lint --json", lambda d: d["errors"] == 0),
    c("campaign messages coverage --json", lambda d: "es" in d["totals"]),
    c("campaign messages export-translations --lang quc --out quc.xlsx", "to quc.xlsx"),
    c("campaign messages import-translations quc.xlsx --dry-run --json", lambda d: d["refused"] == [],
      before=(("campaign", "messages", "export-translations", "--lang", "quc", "--out", "quc.xlsx"),)),
    c("campaign messages approve respuesta-ayuda --lang cak --by 'Revisora Sintética'", "approved by"),
    c("campaign messages list --json", lambda d: len(d) == 25),
    c("campaign messages show derechos-mujer --json", lambda d: d["slug"] == "derechos-mujer"),
    c("campaign messages whatsapp bienvenida --lang es --content-sid HX0000000000000000000000000000000b "
      "--variables '1=organizacion' --category utility", "WhatsApp template HX"),
    # staff and hotline
    c("campaign users add ana --role hotline --password-stdin --json", lambda d: d["role"] == "hotline",
      stdin="una clave larga y sintética\n"),
    c("campaign users list --json", lambda d: [u["username"] for u in d] == ["demo-admin"]),
    c("campaign users disable demo-admin", "last active admin", code=1, stream="stderr"),
    c("campaign users enable demo-admin --json", lambda d: d["active"] is True),
    c("campaign users role demo-admin admin --json", lambda d: d["role"] == "admin"),
    c("campaign users reset-password demo-admin --password-stdin --json", lambda d: d["password_changed"],
      stdin="una clave nueva y sintética\n"),
    c("campaign inbox list --json", lambda d: len(d) > 0),
    c("campaign inbox export --out cases.csv", "written to cases.csv"),
    c("campaign inbox voice-note +50230000777 --json", lambda d: d["message_sid"] and d["case_id"] > 0),
    c("campaign inbox classify 'me están pegando' --json", lambda d: d["intent"] == "urgent", db="none"),
    c("campaign inbox classify --batch inbound.jsonl", '"intent": "opt_out"', db="none",
      files={"inbound.jsonl": '"STOP ALL"\n'}),
    # privacy (synthetic number)
    c("campaign privacy purge --json", lambda d: set(d) >= {"inbound_texts", "outbound_texts", "case_notes"}),
    c("campaign privacy erase +50255550101 --yes --json", lambda d: d["contact_id"] > 0,
      before=(("campaign", "audiences", "opt-in", "+50255550101", "--source", "formulario"),)),
    c("campaign keys rotate --json", lambda d: len(d["key_id"]) == 8),
    c("campaign keys new", "=", db="none"),
    # radio
    c(f"campaign radio plan {SLUG} --json", lambda d: d["planned"] == 0),
    c(f"campaign radio schedule {SLUG} --json", lambda d: d["counts"]["planned"] > 0),
    c("campaign radio log ejemplo-frontera-ayutla aired.csv --json", lambda d: d["aired"] == 1,
      files={"aired.csv": AIRED_CSV}),
    c("campaign radio calibrate --lang es --script spot-coyotes --seconds 27.5 --json",
      lambda d: d["syllables_per_second"] > 0),
    c(f"campaign radio export {SLUG} --format txt --out exports --json", lambda d: len(d["files"]) > 0),
    c("campaign radio stations load stations.yaml --json", lambda d: d["rows"] == 8, db="empty",
      files={"stations.yaml": (SAMPLES / "stations.yaml").read_text(encoding="utf-8")}),
    c("campaign radio stations list --json", lambda d: len(d) == 8),
    c("campaign radio audio synthetic-tone tono.mp3 --seconds 3", "tono.mp3", db="none"),
    c("campaign radio audio add spot-coyotes tono.wav --lang mam --json",
      lambda d: (d["status"], d["spot"], d["language"]) == ("added", "spot-coyotes", "mam"),
      before=(("campaign", "radio", "audio", "synthetic-tone", "tono.wav", "--seconds", "5"),)),
    c("campaign radio audio list --json",  # the demo's synthetic recording
      lambda d: [(r["spot"], r["language"]) for r in d] == [("spot-coyotes", "es")]),
    c("campaign radio audio remove spot-coyotes --lang es --yes --json", lambda d: d["removed"]),
    # usage errors: the usage line and one line, exit 2
    c("campaign audiences import", "error: missing argument FILE", code=2, stream="stderr", db="none"),
    c("campaign nosuch", "error: unknown command 'nosuch'", code=2, stream="stderr", db="none"),
    c("campaign radio export frontera-segura --out x", "error: missing option --format", code=2,
      stream="stderr", db="none"),
    c("campaign audiences sample --n many", "error: invalid value for --n", code=2, stream="stderr",
      db="none"),
    c(f"campaign report {SLUG} --format pdf", "error: --format:", code=2, stream="stderr"),
    c("campaign audiences import", "error: falta el argumento FILE", code=2, stream="stderr", db="none",
      env={"CAMPAIGN_LOCALE": "es"}),
    c("campaign list", "run `campaign init` first", code=1, stream="stderr", db="none"),
    c("campaign list --jsn", "did you mean --json?", code=2, stream="stderr", db="none"),
]


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database, made once by `campaign demo` in a fresh process."""
    return build_demo_database(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the schema and nothing else, made by `campaign init`."""
    folder = tmp_path_factory.mktemp("empty")
    path = folder / "campaign.db"
    result = run(["campaign", "init"], cwd=folder, env=environment(f"sqlite:///{path}"))
    assert result.returncode == 0, result.stderr
    return path


def _database(case: Case, request: pytest.FixtureRequest, folder: Path) -> str:
    if case.db == "none":
        return f"sqlite:///{folder / 'db' / 'campaign.db'}"
    template = request.getfixturevalue("demo_template" if case.db == "demo" else "empty_template")
    return copy_database(template, folder / "db")


def _check(case: Case, out: str) -> None:
    if isinstance(case.expect, str):
        assert case.expect in out, out[-3000:]
        return
    assert case.expect(json.loads(out)), out[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_command_in_a_fresh_process(case: Case, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    env = environment(_database(case, request, tmp_path), **case.env)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for argv in case.before:
        done = run(argv, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    argv = [word.replace("{port}", str(free_port())).replace("{root}", str(ROOT)) for word in case.argv]
    if case.seconds is not None:
        code, out, err = run_for(argv, cwd=tmp_path, env=env, seconds=case.seconds, ready=case.expect)
        assert code is None, f"{argv} ended by itself with {code}: {err[-2000:]}"
        _check(case, err if case.stream == "stderr" else out)
        return
    result = run(argv, cwd=tmp_path, env=env, input=case.stdin, timeout=600)  # a loaded CI machine is slow
    assert result.returncode == case.code, result.stdout[-2000:] + result.stderr[-2000:]
    _check(case, result.stderr if case.stream == "stderr" else result.stdout)
    if case.code == 2 and case.stream == "stderr":
        usage = "Uso: campaign" if case.env.get("CAMPAIGN_LOCALE") == "es" else "Usage: campaign"
        assert result.stderr.startswith(usage), result.stderr
        assert len(result.stderr.strip().splitlines()) == 2, result.stderr


@pytest.mark.parametrize("command", ["audiences import", "radio export", "messages segments", "report"])
def test_help_shows_arguments_and_types_in_words(command: str, tmp_path: Path) -> None:
    result = run(["campaign", *command.split(), "--help"], cwd=tmp_path, env=environment())
    assert result.returncode == 0, result.stderr
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage and usage.split()[-1].strip("[]").isupper(), usage
    assert "<bool>" not in result.stdout and "<str>" not in result.stdout, result.stdout
    assert "TEXT" in result.stdout or "PATH" in result.stdout


def _leaf_commands() -> set[str]:
    from campaign.cli import app

    def walk(command: Any, path: list[str]) -> list[str]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            return [" ".join(path)]
        return [leaf for name, sub in subcommands.items() for leaf in walk(sub, [*path, name])]

    return set(walk(typer.main.get_command(app), []))


def test_every_registered_command_is_in_the_table() -> None:
    tested = {" ".join(w for w in case.argv[1:] if not w.startswith("-")) for case in CASES}
    untested = sorted(
        leaf for leaf in _leaf_commands() if not any(t == leaf or t.startswith(leaf + " ") for t in tested)
    )
    assert untested == [], f"add these commands to CASES: {untested}"


ENTRY_POINTS = ["campaign.cli", "campaign.web.app", "campaign.demo", "campaign.__main__"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_loads_the_whole_model_registry(module: str, tmp_path: Path) -> None:
    from campaign.schema import metadata

    code = (
        f"import sys; sys.argv = ['campaign', '--help']\n"
        f"try:\n    import {module}\nexcept SystemExit:\n    pass\n"
        "from campaign.core.db import Base\n"
        "print(','.join(sorted(Base.metadata.tables)))\n"
    )
    result = run([sys.executable, "-c", code], cwd=tmp_path, env=environment())
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.strip().splitlines()[-1].split(","))
    assert loaded == set(metadata().tables)
