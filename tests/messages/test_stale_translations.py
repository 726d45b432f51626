"""Translations go stale visibly (issue 10, defect 9): when the Spanish source of a message changes,
an approved translation made from the old one goes back to needs_review with the reason "source
changed", in `messages coverage`, in `messages lint` and at `launch`, through the `campaign` command
run as a user runs it. Texts and names are synthetic."""

from __future__ import annotations

import json

from tests.messages.conftest import message
from tests.subprocess_cli import run_cli, run_json

SPANISH = "{{ organizacion }}: hola. Resp BAJA para salir"
CHANGED = "{{ organizacion }}: buenos días. Resp BAJA para salir"
MAM = "{{ organizacion }}: chjontiye. BAJA"


def _pack(write_pack, spanish: str):
    data = message("aviso", body=spanish)
    data["translations"]["mam"] = {"status": "approved", "body": MAM, "reviewer": "Revisora de prueba"}
    return write_pack("p", [data])


def _campaign(tmp_path, fallback: str):
    path = tmp_path / f"c-{fallback}.yaml"
    path.write_text(
        f"slug: aviso-{fallback}\nname: Aviso\nvariables: {{organizacion: Prueba}}\nsteps:\n"
        f"  - id: uno\n    message: aviso\n    query: 'not opted_out'\n    at: '2027-01-11 10:00'\n"
        f"    fallback: [{fallback}]\n",
        encoding="utf-8",
    )
    return path


def test_a_changed_spanish_source_sends_approved_translations_back_to_review(db_url, write_pack, tmp_path):
    folder = _pack(write_pack, SPANISH)
    run_json("messages", "load", str(folder), "--json", db_url=db_url)
    before = run_json("messages", "coverage", "--json", db_url=db_url)
    assert before["messages"]["aviso"]["mam"] == "approved" and before["reasons"] == {}

    folder = _pack(write_pack, CHANGED)  # the file still says mam: approved, for the old Spanish
    for _ in range(2):  # loading the same files again does not approve it again
        run_json("messages", "load", str(folder), "--json", db_url=db_url)
        coverage = run_json("messages", "coverage", "--json", db_url=db_url)
        assert coverage["messages"]["aviso"]["mam"] == "needs_review"
        assert coverage["reasons"] == {"aviso": {"mam": "source_changed"}}
        assert coverage["totals"]["mam"]["approved"] == 0
    table = run_cli("messages", "coverage", db_url=db_url)
    assert table.returncode == 0 and "needs review (source changed)" in table.stdout, table.stdout

    lint = run_cli("messages", "lint", "--json", db_url=db_url)
    [finding] = [f for f in json.loads(lint.stdout)["findings"] if f["code"] == "source-changed"]
    assert (finding["level"], finding["slug"], finding["language"]) == ("warning", "aviso", "mam")
    assert "Spanish source changed" in finding["message"]
    shown = run_cli("messages", "lint", db_url=db_url)
    assert "source-changed" in shown.stdout

    chain = run_cli("create", str(_campaign(tmp_path, "mam")), db_url=db_url)
    assert chain.returncode == 0, chain.stderr
    refused = run_cli("launch", "aviso-mam", "--allow-empty", *_yes(), db_url=db_url)
    assert refused.returncode != 0
    assert "'mam'" in refused.stderr and "the Spanish source changed" in refused.stderr, refused.stderr

    assert run_cli("create", str(_campaign(tmp_path, "contact")), db_url=db_url).returncode == 0
    launched = run_cli("launch", "aviso-contact", "--allow-empty", *_yes(), "--json", db_url=db_url)
    assert launched.returncode == 0, launched.stderr
    assert "mam translation needs review (the Spanish source changed)" in launched.stderr
    assert json.loads(launched.stdout)["warnings"][0].startswith("message 'aviso': the mam translation")

    approved = run_cli("messages", "approve", "aviso", "--lang", "mam", "--by", "Revisora", db_url=db_url)
    assert approved.returncode == 0, approved.stderr
    after = run_json("messages", "coverage", "--json", db_url=db_url)
    assert after["messages"]["aviso"]["mam"] == "approved" and after["reasons"] == {}


def test_a_new_translation_signed_with_the_new_source_stays_approved(db_url, write_pack):
    folder = _pack(write_pack, SPANISH)
    run_json("messages", "load", str(folder), "--json", db_url=db_url)
    data = message("aviso", body=CHANGED)
    data["translations"]["mam"] = {"status": "approved", "body": MAM + " Q'ij", "reviewer": "Revisora"}
    run_json("messages", "load", str(write_pack("p", [data])), "--json", db_url=db_url)
    coverage = run_json("messages", "coverage", "--json", db_url=db_url)
    assert coverage["messages"]["aviso"]["mam"] == "approved" and coverage["reasons"] == {}


def _yes() -> list[str]:
    """`--yes` once `launch` asks before spending (issue 10, defect 4); nothing before."""
    help_text = run_cli("launch", "--help").stdout
    return ["--yes"] if "--yes" in help_text else []
