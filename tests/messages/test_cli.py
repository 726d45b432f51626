"""`campaign messages ...` through the CLI runner, as a campaign manager or translator uses it."""

from __future__ import annotations

import json

from openpyxl import load_workbook

from campaign.cli import app
from messages.packs import DEFAULT_PACK_DIR
from tests.messages.conftest import message


def test_segments_json_and_policies(cli):
    result = cli.invoke(app, ["messages", "segments", "Información útil: “llame” al 1572…", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["encoding"] == "UCS-2" and data["segments"] == 1
    assert data["non_gsm"] == ["ó", "ú", "“", "”", "…"]
    assert set(data) >= {"encoding", "segments", "characters", "non_gsm", "text"}
    fold = json.loads(cli.invoke(app, ["messages", "segments", "K’iche’ “hola”", "--encoding", "smart",
                                       "--json"]).stdout)
    assert fold == {"encoding": "GSM-7", "segments": 1, "characters": 14, "units": 14, "non_gsm": [],
                    "text": "K'iche' \"hola\""}


def test_segments_batch_in_order_and_bad_line(cli, tmp_path):
    batch = tmp_path / "texts.jsonl"
    batch.write_text('"hola"\n"😀 ayuda"\n' + json.dumps("€" * 81) + "\n", encoding="utf-8")
    result = cli.invoke(app, ["messages", "segments", "--batch", str(batch)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["encoding"], x["segments"]) for x in lines] == [("GSM-7", 1), ("UCS-2", 1), ("GSM-7", 2)]
    batch.write_text('"hola"\n{"text": 1}\n', encoding="utf-8")
    bad = cli.invoke(app, ["messages", "segments", "--batch", str(batch)])
    assert bad.exit_code == 1
    assert "texts.jsonl line 2" in bad.stderr and bad.stdout == ""


def test_segments_unknown_policy(cli):
    result = cli.invoke(app, ["messages", "segments", "hola", "--encoding", "zip"])
    assert result.exit_code == 2 and "--encoding" in result.stderr


def test_load_lint_coverage_approve_through_cli(cli, db_url, write_pack, tmp_path):
    quc = message("primer-contacto", safety_flags=["first_contact"])
    quc["translations"]["quc"] = {"status": "needs_review", "body": "{{ organizacion }}: utz. BAJA"}
    folder = write_pack("p", [quc, message("otro")])
    loaded = cli.invoke(app, ["messages", "load", str(folder), "--json"])
    assert loaded.exit_code == 0, loaded.output
    assert sorted(json.loads(loaded.stdout)["added"]) == ["otro", "primer-contacto"]

    lint = cli.invoke(app, ["messages", "lint", "--json"])
    assert lint.exit_code == 0, lint.output
    assert json.loads(lint.stdout)["errors"] == 0

    coverage = json.loads(cli.invoke(app, ["messages", "coverage", "--json"]).stdout)
    assert coverage["totals"]["es"]["complete"] is True
    assert coverage["messages"]["primer-contacto"]["quc"] == "needs_review"
    assert coverage["messages"]["otro"]["quc"] == "missing"

    approved = cli.invoke(app, ["messages", "approve", "primer-contacto", "--lang", "quc",
                                "--by", "Revisora"])
    assert approved.exit_code == 0, approved.output
    listed = json.loads(cli.invoke(app, ["messages", "list", "--json"]).stdout)
    assert {m["slug"]: m["translations"] for m in listed}["primer-contacto"]["quc"] == "approved"
    shown = json.loads(cli.invoke(app, ["messages", "show", "otro", "--json"]).stdout)
    assert shown["translations"]["es"]["sample"]["segments"] == 1

    dumped = cli.invoke(app, ["messages", "dump", str(tmp_path / "out")])
    assert dumped.exit_code == 0, dumped.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.yaml")) == ["otro.yaml", "primer-contacto.yaml"]


def test_lint_errors_exit_1(cli, db_url, write_pack):
    no_opt_out = message("sin-baja", body="{{ organizacion }}: hola", safety_flags=["first_contact"])
    hard_coded = message("numero-fijo", body="{{ organizacion }}: llama al 1572. BAJA")
    folder = write_pack("p", [no_opt_out, hard_coded])
    result = cli.invoke(app, ["messages", "lint", "--pack", str(folder), "--json"])
    assert result.exit_code == 1
    codes = {(f["slug"], f["code"]) for f in json.loads(result.stdout)["findings"] if f["level"] == "error"}
    assert codes == {("sin-baja", "no-opt-out"), ("numero-fijo", "hardcoded-number")}


def test_bad_pack_through_cli_loads_nothing(cli, db_url, write_pack):
    bad = message("malo", variables=["policia"])
    folder = write_pack("p", [message("bueno"), bad])
    result = cli.invoke(app, ["messages", "load", str(folder)])
    assert result.exit_code == 1
    assert "malo.yaml: translations.es.body: uses variables" in result.stderr
    assert json.loads(cli.invoke(app, ["messages", "list", "--json"]).stdout) == []


def test_export_import_through_cli(cli, db_url, write_pack, tmp_path):
    cli.invoke(app, ["messages", "load", str(write_pack("p", [message("uno"), message("dos")]))])
    out = tmp_path / "kek.xlsx"
    result = cli.invoke(app, ["messages", "export-translations", "--lang", "kek", "--out", str(out)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    sheet = workbook.active
    sheet["E2"] = "{{ organizacion }}: us. BAJA"
    sheet["E3"] = "{{ otra_cosa }}: us. BAJA"
    workbook.save(out)
    dry = cli.invoke(app, ["messages", "import-translations", str(out), "--dry-run", "--json"])
    assert dry.exit_code == 1  # one row refused
    assert json.loads(dry.stdout)["refused"][0].startswith("row 3 ")
    done = cli.invoke(app, ["messages", "import-translations", str(out)])
    assert done.exit_code == 1 and "refused row 3" in done.stderr
    coverage = json.loads(cli.invoke(app, ["messages", "coverage", "--json"]).stdout)
    assert coverage["totals"]["kek"]["needs_review"] == 1


def test_shipped_pack_loads_lints_clean_and_spanish_is_complete(cli, db_url):
    loaded = cli.invoke(app, ["messages", "load", "--json"])
    assert loaded.exit_code == 0, loaded.output
    slugs = set(json.loads(loaded.stdout)["added"])
    assert {"oferta-trabajo-falsa", "derechos-mujer"} <= slugs
    lint = cli.invoke(app, ["messages", "lint", "--json", "--keywords", str(DEFAULT_PACK_DIR)])
    assert lint.exit_code == 0, lint.stdout
    assert json.loads(lint.stdout)["errors"] == 0
    coverage = json.loads(cli.invoke(app, ["messages", "coverage", "--json"]).stdout)
    assert coverage["totals"]["es"]["complete"] is True
