"""`campaign users ...` and `campaign inbox ...` through the CLI runner."""

from __future__ import annotations

import csv
import json

from openpyxl import load_workbook
from sqlalchemy import select

from campaign.cli import app
from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker
from campaign.hotline.models import User
from campaign.hotline.users import authenticate
from campaign.hotline.webhooks import handle_inbound
from tests.campaign.web.helpers import NOW, count, inbound_params, inbound_url, settings, sign


def receive(engine, body, phone):
    params = inbound_params(body, phone=phone)
    with make_sessionmaker(engine).begin() as session:
        handle_inbound(
            session,
            url=inbound_url(),
            params=params,
            signature=sign(inbound_url(), params),
            settings=settings(),
            now=NOW,
        )


def test_users_add_from_stdin_then_list(cli, engine):
    result = cli.invoke(
        app,
        ["users", "add", "Ana", "--role", "hotline", "--password-stdin", "--json"],
        input="una clave larga y segura\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["role"] == "hotline"
    with make_sessionmaker(engine).begin() as session:
        assert authenticate(session, username="ana", password="una clave larga y segura", now=NOW) is not None
        assert "una clave" not in session.scalar(select(User.password_hash))
    listed = cli.invoke(app, ["users", "list", "--json"])
    assert [u["username"] for u in json.loads(listed.stdout)] == ["ana"]


def test_users_add_prompts_twice_and_refuses_bad_input(cli, engine):
    mismatch = cli.invoke(
        app, ["users", "add", "luis", "--role", "manager"], input="clave-uno-larga\nclave-dos-larga\n"
    )
    assert mismatch.exit_code != 0 and "password" in mismatch.output
    bad_role = cli.invoke(
        app, ["users", "add", "luis", "--role", "jefe", "--password-stdin"], input="x" * 12 + "\n"
    )
    assert bad_role.exit_code != 0 and "role" in bad_role.output
    short = cli.invoke(
        app, ["users", "add", "luis", "--role", "manager", "--password-stdin"], input="corta\n"
    )
    assert short.exit_code != 0 and "password" in short.output
    ok = cli.invoke(
        app, ["users", "add", "luis", "--role", "manager"], input="clave-uno-larga\nclave-uno-larga\n"
    )
    assert ok.exit_code == 0, ok.output
    again = cli.invoke(
        app, ["users", "add", "luis", "--role", "admin", "--password-stdin"], input="y" * 12 + "\n"
    )
    assert again.exit_code != 0 and "already exists" in again.output
    with make_sessionmaker(engine)() as session:
        assert count(session, User) == 1


def test_inbox_list_and_masked_or_revealed_export(cli, engine, tmp_path):
    receive(engine, "hola", "+50230000701")
    receive(engine, "auxilio", "+50230000702")
    listed = cli.invoke(app, ["inbox", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["priority"] for r in rows] == ["urgent", "normal"]
    assert rows[0]["phone"] == "+502 ****-0702"
    urgent_only = json.loads(cli.invoke(app, ["inbox", "list", "--priority", "urgent", "--json"]).stdout)
    assert len(urgent_only) == 1
    assert "status" in cli.invoke(app, ["inbox", "list", "--status", "closed"]).output

    masked = tmp_path / "cases.csv"
    assert cli.invoke(app, ["inbox", "export", "--out", str(masked)]).exit_code == 0
    text = masked.read_text()
    assert "+502 ****-0701" in text and "+50230000701" not in text
    revealed = tmp_path / "cases.xlsx"
    result = cli.invoke(app, ["inbox", "export", "--out", str(revealed), "--reveal"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(revealed).active
    phones = [row[5] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(phones) == ["+50230000701", "+50230000702"]
    with make_sessionmaker(engine)() as session:
        exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "cases.export")).all()
    assert [e.detail["revealed"] for e in exports] == [False, True]
    assert "+5023" not in json.dumps([e.detail for e in exports])
    bad = cli.invoke(app, ["inbox", "export", "--out", str(tmp_path / "cases.pdf")])
    assert bad.exit_code != 0 and "--out" in bad.output
    assert list(csv.reader(masked.open()))[0][0] == "id"


def test_serve_refuses_the_development_secret_beyond_loopback(cli, monkeypatch):
    """A forged session cookie would open every case: the well-known key never leaves loopback."""
    refused = cli.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: CAMPAIGN_SECRET_KEY: refusing to serve on 0.0.0.0")
    monkeypatch.setenv("CAMPAIGN_PROVIDER", "twilio")
    with_twilio = cli.invoke(app, ["serve", "--host", "127.0.0.1", "--port", "8999"])
    assert with_twilio.exit_code == 1 and "CAMPAIGN_SECRET_KEY" in with_twilio.stderr


def test_inbox_classify_text_json_and_batch_in_a_fresh_process(tmp_path):
    from tests.subprocess_cli import run_cli, run_json

    people = run_cli("inbox", "classify", "toy encerrada xfa ayuda")
    assert people.returncode == 0, people.stderr
    assert "intent: urgent" in people.stdout and "danger:" in people.stdout

    assert run_json("inbox", "classify", "nesesito ayuda", "--json") == {
        "intent": "help", "priority": "high", "cues": ["help:nesesito ayuda"],  # as written
    }

    messages = ["me pegan", "STOP ALL", "hola", "ALTA", "ST\u200bOP", "no me pega"]
    batch = tmp_path / "inbound.jsonl"
    batch.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages), encoding="utf-8")
    result = run_cli("inbox", "classify", "--batch", str(batch), "--lang", "es")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["intent"] for r in rows] == ["urgent", "opt_out", "reply", "opt_in", "opt_out", "help"]
    assert all(set(r) == {"intent", "priority", "cues"} for r in rows)
    assert [r["priority"] for r in rows] == ["urgent", "normal", "normal", "normal", "normal", "high"]

    stdin = run_cli("inbox", "classify", "--batch", "-", input='"auxilio"\n')
    assert json.loads(stdin.stdout)["intent"] == "urgent"


def test_inbox_classify_refuses_bad_input_naming_it():
    from tests.subprocess_cli import run_cli

    neither = run_cli("inbox", "classify")
    assert neither.returncode == 2 and "TEXT or --batch" in neither.stderr
    language = run_cli("inbox", "classify", "hola", "--lang", "zz")
    assert language.returncode == 2 and "quc" in language.stderr
    assert run_cli("inbox", "classify", "hola", "--lang", "K'iche'").returncode == 0  # a name works too
    spanish = run_cli("inbox", "classify", "me pegan", env={"CAMPAIGN_LOCALE": "es"})
    assert "intención: urgent" in spanish.stdout


def test_inbox_classify_batch_names_the_bad_line(tmp_path):
    from tests.subprocess_cli import run_cli

    batch = tmp_path / "bad.jsonl"
    batch.write_text('"hola"\n{"text": "no es un texto"}\n', encoding="utf-8")
    result = run_cli("inbox", "classify", "--batch", str(batch))
    assert result.returncode != 0 and f"{batch}:2" in result.stderr
