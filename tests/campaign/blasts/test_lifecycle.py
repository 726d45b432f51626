"""Launch checks, pause/resume/cancel, opt-out mid-blast, preview == planning, reports, the demo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from audiences.models import ContactStatus
from campaign.blasts.lifecycle import LaunchRefused, launch
from campaign.blasts.models import Outbound, OutboundStatus
from campaign.blasts.scheduling import tick
from campaign.cli import app
from campaign.core.config import get_settings
from campaign.providers.sandbox import SandboxProvider
from tests.factories import make_contact, make_sms_campaign, make_sms_message

LAUNCH = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
FIRES = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)  # Monday 10:00 Guatemala


def _statuses(session, campaign):
    session.expire_all()
    rows = session.execute(
        select(Outbound.contact_id, Outbound.status).where(Outbound.campaign_id == campaign.id)
    ).all()
    return {contact_id: status for contact_id, status in rows}


def test_launch_refused_when_the_fallback_language_is_not_approved(session, cli, db_url):
    message = make_sms_message(
        session,
        bodies={"es": "Llama al {{ hotline_mujer }}.", "quc": "Chab'ej {{ hotline_mujer }}."},
        statuses={"es": "needs_review"},
    )
    campaign = make_sms_campaign(session, message=message, step={"fallback": ["contact", "es"]})
    session.commit()
    with pytest.raises(LaunchRefused) as refused:
        launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    assert any("no approved 'es' translation" in r for r in refused.value.reasons)
    session.rollback()
    result = cli.invoke(app, ["launch", campaign.slug])
    assert result.exit_code == 1 and "cannot be launched" in result.stderr
    session.expire_all()
    assert session.get(type(campaign), campaign.id).status == "draft"


def test_opt_out_between_planning_and_dispatch_stops_that_message(session, engine):
    message = make_sms_message(session)
    contacts = [make_contact(session) for _ in range(3)]
    campaign = make_sms_campaign(session, message=message)
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    tick(engine, None, now=FIRES, settings=settings)  # planned, not sent
    assert set(_statuses(session, campaign).values()) == {OutboundStatus.QUEUED}
    contacts[1].status = ContactStatus.OPTED_OUT
    session.commit()
    tick(engine, SandboxProvider(settings), now=FIRES + timedelta(minutes=1), settings=settings)
    statuses = _statuses(session, campaign)
    assert statuses[contacts[1].id] == OutboundStatus.SKIPPED
    assert statuses[contacts[0].id] in (OutboundStatus.SENT, OutboundStatus.DELIVERED)
    assert statuses[contacts[2].id] in (OutboundStatus.SENT, OutboundStatus.DELIVERED)


def test_nothing_is_sent_at_night_even_when_the_tick_runs_at_night(session, engine):
    message = make_sms_message(session)
    gt = make_contact(session)
    campaign = make_sms_campaign(session, message=message, at="2027-01-11 19:59")
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    provider = SandboxProvider(settings)
    night = datetime(2027, 1, 12, 3, 0, tzinfo=UTC)  # 21:00 in Guatemala
    tick(engine, None, now=datetime(2027, 1, 12, 1, 59, tzinfo=UTC), settings=settings)
    tick(engine, provider, now=night, settings=settings)
    assert _statuses(session, campaign)[gt.id] == OutboundStatus.QUEUED
    tick(engine, provider, now=datetime(2027, 1, 12, 14, 0, tzinfo=UTC), settings=settings)  # 08:00
    assert _statuses(session, campaign)[gt.id] in (OutboundStatus.SENT, OutboundStatus.DELIVERED)


def test_pause_stops_planning_resume_plans_cancel_cancels_queued(session, engine, cli):
    message = make_sms_message(session)
    make_contact(session)
    first = make_sms_campaign(session, message=message)
    second = make_sms_campaign(session, message=message)
    for campaign in (first, second):
        launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    assert cli.invoke(app, ["pause", first.slug]).exit_code == 0
    tick(engine, None, now=FIRES, settings=get_settings())
    assert _statuses(session, first) == {}
    resumed = cli.invoke(app, ["resume", first.slug, "--json"])
    assert json.loads(resumed.stdout)["status"] == "scheduled"
    tick(engine, None, now=FIRES + timedelta(minutes=5), settings=get_settings())
    assert set(_statuses(session, first).values()) == {OutboundStatus.QUEUED}
    cancelled = cli.invoke(app, ["cancel", second.slug, "--json"])
    assert json.loads(cancelled.stdout) == {
        "slug": second.slug,
        "status": "cancelled",
        "messages_cancelled": 1,
    }
    assert set(_statuses(session, second).values()) == {OutboundStatus.CANCELLED}
    again = cli.invoke(app, ["resume", second.slug])
    assert again.exit_code == 1 and "is cancelled and cannot change any more" in again.stderr


def test_preview_figures_equal_what_planning_inserts(session, engine, cli):
    message = make_sms_message(
        session,
        bodies={
            "es": "Hola {{ contact.first_name }}: ¿oferta de trabajo? Llama al {{ hotline_mujer }}.",
            "quc": "Ri at {{ contact.first_name }}, chab'ej “{{ hotline_mujer }}”.",
            "mam": "Borrador {{ hotline_mujer }}",
        },
        statuses={"mam": "needs_review"},
        variables=["contact", "hotline_mujer"],
    )
    for i, language in enumerate(["es", "es", "quc", "mam", "kek", None]):
        make_contact(session, language=language, name=f"Persona{i} Sintética")
    make_contact(session, status=ContactStatus.OPTED_OUT)
    campaign = make_sms_campaign(
        session, message=message, step={"fallback": ["contact", "es"], "encoding": "exact"}
    )
    session.commit()
    preview = cli.invoke(app, ["preview", campaign.slug, "--json", "--now", LAUNCH.isoformat()])
    assert preview.exit_code == 0, preview.output
    (step,) = json.loads(preview.stdout)["steps"]
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    tick(engine, None, now=FIRES, settings=get_settings())
    rows = session.scalars(select(Outbound).where(Outbound.status == OutboundStatus.QUEUED)).all()
    assert step["recipients"] == len(rows) == 6
    languages: dict[str, int] = {}
    for row in rows:
        languages[row.language] = languages.get(row.language, 0) + 1
    assert step["languages"] == languages == {"es": 5, "quc": 1}
    assert step["total_segments"] == sum(r.segments for r in rows)
    assert step["ucs2_characters"] == ["“", "”"]  # exact encoding keeps the typographic quotes
    assert step["first_send_times"][0] == min(r.send_after for r in rows).isoformat()
    assert step["estimated_cost"] == round(step["total_segments"] * get_settings().price_per_segment, 2)


def test_report_counts_match_the_database_in_every_format(session, engine, cli, tmp_path):
    message = make_sms_message(session)
    for _ in range(4):
        make_contact(session)
    make_contact(session, language="quc")
    campaign = make_sms_campaign(session, message=message)
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    settings = get_settings(rate_per_second=1000)
    provider = SandboxProvider(settings)
    for minutes in (0, 5, 30, 120):
        tick(engine, provider, now=FIRES + timedelta(minutes=minutes), settings=settings)
    result = cli.invoke(app, ["report", campaign.slug, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    sent = session.scalar(select(func.count(Outbound.id)).where(Outbound.sent_at.is_not(None)))
    assert report["totals"]["sent"] == sent == 4
    assert report["totals"]["skipped"] == 1
    quc = next(r for r in report["rows"] if r["language"] == "quc")
    assert quc["skipped_by_reason"] == "no_translation:1"
    out = tmp_path / "r.xlsx"
    assert cli.invoke(app, ["report", campaign.slug, "--format", "xlsx", "--out", str(out)]).exit_code == 0
    import openpyxl

    sheet = openpyxl.load_workbook(out)["totals"]
    headers = [c.value for c in sheet[1]]
    assert sheet[2][headers.index("sent")].value == 4
    bad = cli.invoke(app, ["report", campaign.slug, "--format", "pdf"])
    assert bad.exit_code == 2 and "--format" in bad.stderr  # a usage error


def test_tick_command_runs_one_tick(cli, db_url, session):
    message = make_sms_message(session)
    make_contact(session)
    campaign = make_sms_campaign(session, message=message)
    launch(session, campaign.slug, now=LAUNCH, settings=get_settings())
    session.commit()
    result = cli.invoke(app, ["tick", "--now", "2027-01-11T16:00:00Z", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["occurrences_created"] == 1 and data["queued"] == 1
    bad = cli.invoke(app, ["tick", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "\nerror: --now:" in bad.stderr  # usage line, then one line


def test_demo_report_is_non_zero_and_matches_the_database(tmp_path, monkeypatch):
    from campaign.demo import run_demo

    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", f"sqlite:///{tmp_path}/var/campaign.db")
    result = run_demo(contacts=1200, days=1, quiet=True)
    for key in ("sent", "delivered", "replies", "opt_outs"):
        assert result.totals[key] == result.database_counts[key] > 0, key
    # Run again: the demo recognises its own database and rebuilds it.
    again = run_demo(contacts=1200, days=1, quiet=True)
    assert again.totals == result.totals


def test_demo_never_deletes_a_database_it_did_not_create(cli, tmp_path, monkeypatch):
    from campaign.cli import app as root

    url = f"sqlite:///{tmp_path}/real.db"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    assert cli.invoke(root, ["init"]).exit_code == 0
    csv = tmp_path / "people.csv"
    csv.write_text("telefono,nombre\n5555-1234,Persona Sintética\n", encoding="utf-8")
    assert cli.invoke(root, ["audiences", "import", str(csv), "--consent-source", "feria"]).exit_code == 0
    refused = cli.invoke(root, ["demo", "--contacts", "300", "--days", "1"])
    assert refused.exit_code == 1
    assert "refusing to delete" in refused.stderr
    counted = cli.invoke(root, ["audiences", "count", "not opted_out", "--json"])
    assert '"count": 1' in counted.stdout
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    not_sqlite = cli.invoke(root, ["demo"])
    assert not_sqlite.exit_code == 1 and "SQLite file" in not_sqlite.stderr
