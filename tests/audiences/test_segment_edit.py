"""Saved segments can be changed and removed; built-in ones are read-only, and a segment a campaign
still uses is not removed (issue 10, defect 15). Through the real command; synthetic contacts."""

from __future__ import annotations

from tests.factories import make_contact, make_sms_message
from tests.subprocess_cli import run_cli, run_json

CAMPAIGN = (
    "slug: usa-segmento\nname: Usa segmento\nsteps:\n"
    "  - id: aviso\n    message: aviso\n    segment: jovenes-sm\n    at: '2027-01-11 10:00'\n"
)


def _seed(session) -> None:
    make_sms_message(session, slug="aviso")
    make_contact(session, department="GT-12", language="es")
    make_contact(session, department="GT-13", language="es")
    session.commit()


def test_edit_changes_query_and_name_and_a_bad_query_changes_nothing(db_url, session):
    _seed(session)
    run_json(
        "audiences",
        "segment",
        "add",
        "jovenes-sm",
        'department = "San Marcos"',
        "--name",
        "SM",
        "--json",
        db_url=db_url,
    )
    edited = run_json(
        "audiences",
        "segment",
        "edit",
        "jovenes-sm",
        "--query",
        'department in ("San Marcos", "Huehuetenango")',
        "--name",
        "SM y Huehue",
        "--json",
        db_url=db_url,
    )
    assert edited["count"] == 2 and edited["name"] == "SM y Huehue"
    bad = run_cli(
        "audiences", "segment", "edit", "jovenes-sm", "--query", 'departmnt = "Petén"', db_url=db_url
    )
    assert bad.returncode != 0 and "departmnt" in bad.stderr and "department" in bad.stderr, bad.stderr
    listed = {s["slug"]: s for s in run_json("audiences", "segments", "--json", db_url=db_url)}
    assert listed["jovenes-sm"]["count"] == 2 and "Huehuetenango" in listed["jovenes-sm"]["query"]
    nothing = run_cli("audiences", "segment", "edit", "jovenes-sm", db_url=db_url)
    assert nothing.returncode == 2 and "say what to change" in nothing.stderr


def test_built_in_segments_are_read_only(db_url, session):
    _seed(session)
    run_cli("audiences", "segments", db_url=db_url)  # the built-ins exist
    for argv in (("edit", "border_youth", "--name", "X"), ("remove", "border_youth")):
        refused = run_cli("audiences", "segment", *argv, db_url=db_url)
        assert refused.returncode == 1 and "built-in segment" in refused.stderr, refused.stderr
    unknown = run_cli("audiences", "segment", "remove", "no-existe", db_url=db_url)
    assert unknown.returncode != 0 and "no-existe" in unknown.stderr


def test_remove_refuses_a_segment_a_campaign_uses_then_removes_it_once_cancelled(db_url, session, tmp_path):
    _seed(session)
    run_json(
        "audiences",
        "segment",
        "add",
        "jovenes-sm",
        'department = "San Marcos"',
        "--name",
        "SM",
        "--json",
        db_url=db_url,
    )
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    assert run_cli("create", str(path), db_url=db_url).returncode == 0
    refused = run_cli("audiences", "segment", "remove", "jovenes-sm", db_url=db_url)
    assert refused.returncode == 1, refused.stderr
    assert "campaign usa-segmento, step aviso" in refused.stderr, refused.stderr
    assert run_cli("cancel", "usa-segmento", db_url=db_url).returncode == 0
    removed = run_json("audiences", "segment", "remove", "jovenes-sm", "--json", db_url=db_url)
    assert removed == {"slug": "jovenes-sm", "removed": True}
    slugs = [s["slug"] for s in run_json("audiences", "segments", "--json", db_url=db_url)]
    assert "jovenes-sm" not in slugs
