"""Campaign files: the issue's example loads; errors name the field and store nothing; editing a
step bumps its version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from campaign.blasts.campaign_files import parse_campaign
from campaign.blasts.campaigns import save_campaign
from campaign.blasts.models import Campaign, Occurrence, Step
from campaign.cli import app
from campaign.core.errors import Invalid
from tests.factories import make_sms_message

SAMPLE = Path(__file__).resolve().parents[3] / "campaign" / "samples" / "frontera-segura.yaml"
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _doc(**step):
    base = {"id": "uno", "message": "m", "query": 'department = "GT-12"', "at": "2027-01-11 10:00"}
    base.update(step)
    return {"slug": "prueba", "name": "Prueba", "steps": [base]}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x", "steps": []}, "slug"),
        ({"slug": "Mala Slug", "name": "x", "steps": []}, "slug"),
        ({"slug": "s", "name": "x", "timezone": "Mars/Olympus", "steps": []}, "timezone"),
        (
            {"slug": "s", "name": "x", "send_window": {"start": "21:00", "end": "06:00"}, "steps": [{}]},
            "send_window",
        ),
        ({"slug": "s", "name": "x", "send_window": {"start": "8h"}, "steps": [{}]}, "send_window.start"),
        ({"slug": "s", "name": "x", "pacing": {"max_per_hour": -5}, "steps": [{}]}, "pacing.max_per_hour"),
        ({"slug": "s", "name": "x", "colour": "red", "steps": [{}]}, "colour"),
        (_doc(rrule="FREQ=SOMETIMES", at=None, starts="2027-01-11"), "steps[0].rrule"),
        (_doc(at="mañana"), "steps[0].at"),
        (_doc(rrule="FREQ=DAILY;COUNT=2"), "steps[0].at"),  # two schedules at once
        (_doc(fallback=["contact", "xx"]), "steps[0].fallback[1]"),
        (_doc(encoding="ascii"), "steps[0].encoding"),
        (_doc(deadline="soon"), "steps[0].deadline"),
        (_doc(variants=[{"message": "b", "split": 100}]), "steps[0].variants[0].split"),
        (_doc(query=None), "steps[0].segment"),
        (_doc(offset={"field": "enrolled on", "days": 3}, at=None), "steps[0].offset.field"),
    ],
)
def test_errors_name_the_field(document, field):
    with pytest.raises(Invalid) as raised:
        parse_campaign(document)
    assert raised.value.field == field, str(raised.value)


def test_second_step_error_is_located():
    document = yaml.safe_load(SAMPLE.read_text())
    document["steps"][1]["rrule"] = "FREQ=WEEKLY;BYDAY=XX"
    with pytest.raises(Invalid, match=r"^steps\[1\]\.rrule: not a valid RRULE"):
        parse_campaign(document)


def test_the_issue_example_loads_with_times_in_utc(session):
    from audiences.segments import ensure_builtin_segments
    from messages.packload import load_pack

    load_pack(session, now=NOW)
    ensure_builtin_segments(session)
    spec = parse_campaign(yaml.safe_load(SAMPLE.read_text()))
    campaign, created = save_campaign(session, spec, now=NOW)
    assert created and campaign.status == "draft"
    steps = {s.key: s for s in campaign.steps}
    assert steps["oferta-trabajo"].at == datetime(2027, 1, 11, 16, 0, tzinfo=UTC)  # 10:00 UTC-6
    assert steps["oferta-trabajo"].fallback == ["contact", "es"]
    assert steps["derechos-mensual"].fallback == ["contact"]  # the default: no fallback
    assert steps["derechos-mensual"].starts == datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
    assert steps["radio-coyotes"].channel == "radio" and steps["radio-coyotes"].stations == ["all"]
    assert campaign.weekend_window == {"sat": ["09:00", "14:00"], "sun": None}
    assert campaign.max_per_hour == 2000 and campaign.variables["hotline_mujer"] == "1572"


def test_unknown_message_is_refused_naming_the_step(session):
    with pytest.raises(Invalid, match=r"steps\[0\]\.message: no message 'm'"):
        save_campaign(session, parse_campaign(_doc()), now=NOW)


def test_cli_create_bad_file_exits_nonzero_and_stores_nothing(cli, db_url, tmp_path, session):
    make_sms_message(session, slug="m")
    session.commit()
    bad = tmp_path / "bad.yaml"
    document = _doc()
    document["steps"].append(
        {"id": "dos", "message": "m", "query": "age > 1", "rrule": "FREQ=NEVER", "starts": "2027-01-11"}
    )
    bad.write_text(yaml.safe_dump(document))
    result = cli.invoke(app, ["create", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: steps[1].rrule:"), result.stderr
    assert session.scalar(select(func.count(Campaign.id))) == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("slug: x\nsteps: [\n")
    result = cli.invoke(app, ["create", str(broken)])
    assert result.exit_code == 1 and "broken.yaml: not valid YAML at line" in result.stderr


def test_cli_create_list_show_and_edit_bumps_the_step_version(cli, db_url, tmp_path, session):
    make_sms_message(session, slug="m")
    make_sms_message(session, slug="m2")
    session.commit()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    created = cli.invoke(app, ["create", str(path), "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["created"] is True
    listed = cli.invoke(app, ["list", "--json"])
    assert [c["slug"] for c in json.loads(listed.stdout)] == ["prueba"]
    step = session.scalars(select(Step)).one()
    session.add(Occurrence(
        step_id=step.id, campaign_id=step.campaign_id, scheduled_at=step.at, fires_at=step.at, step_version=1
    ))
    session.commit()
    path.write_text(yaml.safe_dump(_doc(message="m2")))
    updated = cli.invoke(app, ["create", str(path), "--json"])
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["created"] is False
    shown = json.loads(cli.invoke(app, ["show", "prueba", "--json"]).stdout)
    assert shown["steps"][0]["version"] == 2
    session.expire_all()
    assert session.scalar(select(func.count(Occurrence.id))) == 0  # the pending old-version firing is gone
    missing = cli.invoke(app, ["show", "nope"])
    assert missing.exit_code == 1 and "campaign 'nope' not found" in missing.stderr
