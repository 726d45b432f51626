"""Custom fields in templates (issue 10, defect 8): `{{ contact.colonia }}` does not block launch once
an import brought `colonia`; a contact without it is skipped `missing_field` (preview and report), or
gets the template's `| default(...)`; a misspelled field refuses the launch, naming the closest.
Through the `campaign` command run as a user runs it; names and numbers are synthetic."""

from __future__ import annotations

import csv

import yaml
from sqlalchemy import select

from campaign.blasts.models import Outbound
from tests.messages.conftest import message
from tests.subprocess_cli import run_cli, run_json

NOW = "2027-01-11T15:00:00+00:00"  # 09:00 in Guatemala: preview and launch
FIRES = "2027-01-11T16:05:00+00:00"  # just after the step's 10:00 in Guatemala


def _yes() -> list[str]:
    """`--yes` once `launch` asks before spending (issue 10, defect 4); nothing before."""
    return ["--yes"] if "--yes" in run_cli("launch", "--help").stdout else []


def _write_pack(folder, messages):
    folder.mkdir()
    for data in messages:
        text = yaml.safe_dump(data, allow_unicode=True)
        (folder / f"{data['slug']}.yaml").write_text(text, encoding="utf-8")
    return folder


def _setup(db_url, tmp_path):
    plain = message(
        "reunion",
        body="{{ organizacion }}: reunión en {{ contact.colonia }}. BAJA para salir",
        variables=["contact", "organizacion"],
    )
    default = message(
        "reunion-cerca",
        body="{{ organizacion }}: reunión en {{ contact.colonia | default('su colonia') }}. BAJA para salir",
        variables=["contact", "organizacion"],
    )
    typo = message(
        "reunion-typo",
        body="{{ organizacion }}: reunión en {{ contact.colnia }}. BAJA",
        variables=["contact", "organizacion"],
    )
    pack = _write_pack(tmp_path / "p", [plain, default, typo])
    assert run_cli("messages", "load", str(pack), db_url=db_url).returncode == 0
    people = tmp_path / "contactos.csv"
    with people.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["telefono", "idioma", "colonia"])
        writer.writerows([["5555-0101", "es", "El Carmen"], ["5555-0102", "es", ""]])
    imported = run_cli("audiences", "import", str(people), "--consent-source", "feria", db_url=db_url)
    assert imported.returncode == 0, imported.stderr


def _campaign(db_url, tmp_path, slug: str, message_slug: str):
    path = tmp_path / f"{slug}.yaml"
    path.write_text(
        f"slug: {slug}\nname: Reunión\nvariables: {{organizacion: Prueba}}\nsteps:\n"
        f"  - id: uno\n    message: {message_slug}\n    query: 'not opted_out'\n"
        f"    at: '2027-01-11 10:00'\n",
        encoding="utf-8",
    )
    return run_cli("create", str(path), db_url=db_url)


def test_a_custom_field_in_a_template_launches_and_a_contact_without_it_is_skipped(db_url, tmp_path, session):
    _setup(db_url, tmp_path)
    assert _campaign(db_url, tmp_path, "reunion", "reunion").returncode == 0
    lint = run_json("messages", "lint", "--json", db_url=db_url)
    assert lint["errors"] == 0, lint["findings"]
    preview = run_json("preview", "reunion", "--now", NOW, "--json", db_url=db_url)
    [step] = preview["steps"]
    assert step["recipients"] == 1 and step["skipped"] == {"missing_field": 1}, step
    launched = run_cli("launch", "reunion", *_yes(), "--now", NOW, db_url=db_url)
    assert launched.returncode == 0, launched.stderr
    assert run_cli("tick", "--now", FIRES, db_url=db_url).returncode == 0
    report = run_json("report", "reunion", "--json", db_url=db_url)
    assert report["breakdown"]["skipped_by_reason"] == {"missing_field": 1}, report
    table = run_cli("report", "reunion", db_url=db_url)
    assert "contact data missing 1" in table.stdout, table.stdout  # the code in people's words
    bodies = {o.body for o in session.scalars(select(Outbound).where(Outbound.status != "skipped"))}
    assert bodies == {"Prueba: reunión en El Carmen. BAJA para salir"}


def test_the_templates_default_is_used_when_the_contact_lacks_the_field(db_url, tmp_path, session):
    _setup(db_url, tmp_path)
    assert _campaign(db_url, tmp_path, "cerca", "reunion-cerca").returncode == 0
    preview = run_json("preview", "cerca", "--now", NOW, "--json", db_url=db_url)
    assert preview["steps"][0]["recipients"] == 2 and preview["steps"][0]["skipped"] == {}
    assert run_cli("launch", "cerca", *_yes(), "--now", NOW, db_url=db_url).returncode == 0
    assert run_cli("tick", "--now", FIRES, db_url=db_url).returncode == 0
    bodies = sorted(o.body for o in session.scalars(select(Outbound)))
    assert bodies == [
        "Prueba: reunión en El Carmen. BAJA para salir",
        "Prueba: reunión en su colonia. BAJA para salir",
    ]


def test_a_misspelled_contact_field_refuses_the_launch_naming_the_closest(db_url, tmp_path):
    _setup(db_url, tmp_path)
    assert _campaign(db_url, tmp_path, "typo", "reunion-typo").returncode == 0
    refused = run_cli("launch", "typo", "--allow-empty", *_yes(), "--now", NOW, db_url=db_url)
    assert refused.returncode != 0
    assert "colnia" in refused.stderr and "colonia" in refused.stderr, refused.stderr
