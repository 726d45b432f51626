"""The campaign form, YAML import/export, preview, launch and report downloads, through the app.

The form must make what `campaign create FILE` makes for the same campaign and refuse with the
CLI's own messages, each next to its input. Audience and content are the shipped pack and a
SYNTHETIC sample audience loaded through the CLI (SQLite files; all data synthetic).
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import warnings
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from campaign.blasts.models import Campaign, Step
from campaign.core.db import make_engine, make_sessionmaker
from campaign.web import create_app
from tests.campaign.web.helpers import PASSWORD, fresh_manager_database, settings
from tests.campaign.web.test_app import csrf_of
from tests.subprocess_cli import run_cli, run_json

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

CAMPAIGN = {
    "slug": "prueba-web",
    "name": "Prueba web",
    "timezone": "America/Guatemala",
    "send_window": {"start": "08:00", "end": "20:00", "weekend": {"sun": None}},
    "variables": {"hotline_mujer": "1572", "policia": "110"},
    "pacing": {"max_per_hour": 2000},
    "steps": [
        {
            "id": "aviso",
            "channel": "sms",
            "message": "oferta-trabajo-falsa",
            "segment": "parents_of_adolescents",
            "at": "2027-01-11 10:00",
            "fallback": ["contact", "es"],
            "encoding": "fold",
            "deadline": "72h",
        },
        {
            "id": "derechos",
            "channel": "sms",
            "message": "derechos-mujer",
            "segment": "single_mother_households",
            "rrule": "FREQ=WEEKLY;INTERVAL=4;BYDAY=MO;BYHOUR=10;BYMINUTE=0;COUNT=3",
            "starts": "2027-01-11",
            "fallback": ["contact", "es"],
        },
    ],
}
FORM = {
    "slug": "prueba-web",
    "name": "Prueba web",
    "timezone": "America/Guatemala",
    "send_window.start": "08:00",
    "send_window.end": "20:00",
    "send_window.weekend.sun": "cerrado",
    "variables": 'hotline_mujer: "1572"\npolicia: "110"\n',
    "pacing.max_per_hour": "2000",
    "step_count": "2",
    "steps[0].id": "aviso",
    "steps[0].channel": "sms",
    "steps[0].message": "oferta-trabajo-falsa",
    "steps[0].segment": "parents_of_adolescents",
    "steps[0].schedule": "at",
    "steps[0].at": "2027-01-11 10:00",
    "steps[0].fallback": "contact, es",
    "steps[0].encoding": "fold",
    "steps[0].deadline": "72h",
    "steps[1].id": "derechos",
    "steps[1].channel": "sms",
    "steps[1].message": "derechos-mujer",
    "steps[1].segment": "single_mother_households",
    "steps[1].schedule": "rrule",
    "steps[1].rrule": "FREQ=WEEKLY;INTERVAL=4;BYDAY=MO;BYHOUR=10;BYMINUTE=0;COUNT=3",
    "steps[1].starts": "2027-01-11",
    "steps[1].fallback": "contact, es",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """One fresh database (pack + synthetic audience), copied by each test."""
    from tests.conftest import TEST_DATA_KEY, TEST_INDEX_KEY

    folder = tmp_path_factory.mktemp("authoring")
    with pytest.MonkeyPatch.context() as env:  # the tests' own keys: the function fixtures come later
        for name in [n for n in os.environ if n.startswith("CAMPAIGN_") and n != "CAMPAIGN_TEST_PG_URL"]:
            env.delenv(name)
        env.chdir(folder)
        env.setenv("CAMPAIGN_DATA_KEY", TEST_DATA_KEY)
        env.setenv("CAMPAIGN_INDEX_KEY", TEST_INDEX_KEY)
        env.setenv("CAMPAIGN_LOCALE", "en")
        fresh_manager_database(f"sqlite:///{folder / 'base.db'}", folder)
    return folder / "base.db"


def _copy(prepared: Path, target: Path) -> str:
    import sqlite3

    source = sqlite3.connect(prepared)
    dest = sqlite3.connect(target)
    source.backup(dest)
    source.close()
    dest.close()
    return f"sqlite:///{target}"


@pytest.fixture
def web(prepared, tmp_path, monkeypatch):
    url = _copy(prepared, tmp_path / "web.db")
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    app = create_app(settings())
    with TestClient(app, follow_redirects=False, headers={"Accept-Language": "es-GT"}) as client:
        client.db_url = url  # type: ignore[attr-defined]
        yield client


def _login(client, username="mario") -> str:
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return csrf_of(client.get("/campaigns/new" if username == "mario" else "/inbox").text)


def _rows(url: str) -> tuple[dict, list[dict]]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "prueba-web"))
        assert campaign is not None
        fields = (
            "name",
            "timezone",
            "window_start",
            "window_end",
            "weekend_window",
            "variables",
            "max_per_hour",
            "discreet_min_days",
            "price_per_segment",
            "status",
            "spec",
        )
        head = {f: getattr(campaign, f) for f in fields}
        step_fields = (
            "key",
            "position",
            "channel",
            "message_id",
            "segment_slug",
            "query",
            "at",
            "rrule",
            "starts",
            "offset",
            "fallback",
            "encoding",
            "deadline_hours",
            "variants",
            "variables",
            "stations",
            "version",
        )
        steps = [
            {f: getattr(s, f) for f in step_fields}
            for s in session.scalars(
                select(Step).where(Step.campaign_id == campaign.id).order_by(Step.position)
            )
        ]
    engine.dispose()
    return head, steps


def test_the_form_makes_what_campaign_create_makes(web, prepared, tmp_path):
    token = _login(web)
    response = web.post("/campaigns/new", data={**FORM, "csrf_token": token})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/campaigns/prueba-web/preview"

    cli_url = _copy(prepared, tmp_path / "cli.db")
    file = tmp_path / "prueba-web.yaml"
    file.write_text(yaml.safe_dump(CAMPAIGN, allow_unicode=True), encoding="utf-8")
    run_json("create", str(file), "--json", db_url=cli_url)
    assert _rows(web.db_url) == _rows(cli_url)

    preview = web.get("/campaigns/prueba-web/preview").text
    cli_preview = run_json("preview", "prueba-web", "--json", db_url=cli_url)
    for step in cli_preview["steps"]:
        section = re.search(rf'data-step="{step["step"]}"(.*?)</section>', preview, re.S)
        assert section is not None
        assert f'data-fact="recipients">{step["recipients"]}<' in section.group(1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Mal Slug"}, "slug"),
        ({"send_window.start": "21:00"}, "send_window.start"),
        ({"steps[1].rrule": "FREQ=SOMETIMES"}, "steps[1].rrule"),
        ({"steps[0].message": "no-existe"}, "steps[0].message"),
        ({"steps[0].segment": "nadie"}, "steps[0].segment"),
        ({"pacing.max_per_hour": "muchos"}, "pacing.max_per_hour"),
        ({"steps[0].deadline": "pronto"}, "steps[0].deadline"),
        ({"name": ""}, "name"),
        ({"steps[0].fallback": "contact, xx"}, "steps[0].fallback"),
    ],
)
def test_a_bad_field_gets_the_cli_error_next_to_it_and_nothing_is_saved(
    web, prepared, tmp_path, change, field
):
    from campaign.web.campaign_form import form_to_document

    token = _login(web)
    form = {**FORM, **change}
    response = web.post("/campaigns/new", data={**form, "csrf_token": token})
    assert response.status_code == 422
    shown = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', response.text)
    assert shown is not None, response.text[-3000:]
    # The CLI, given the same campaign as a file and speaking Spanish too, says the same.
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(form_to_document(form), allow_unicode=True), encoding="utf-8")
    cli_url = _copy(prepared, tmp_path / "cli.db")
    cli = run_cli("create", str(file), db_url=cli_url, env={"CAMPAIGN_LOCALE": "es"})
    assert cli.returncode != 0
    assert html.unescape(shown.group(1)) in " ".join(cli.stderr.split())
    engine = make_engine(web.db_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Campaign.id)) is None
    engine.dispose()


def test_export_then_import_round_trips_and_edit_keeps_the_campaign(web):
    token = _login(web)
    assert web.post("/campaigns/new", data={**FORM, "csrf_token": token}).status_code == 303
    before = _rows(web.db_url)
    exported = web.get("/campaigns/prueba-web/export.yaml")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    response = web.post(
        "/campaigns/import",
        data={"csrf_token": token},
        files={"file": ("prueba-web.yaml", io.BytesIO(exported.content), "application/yaml")},
    )
    assert response.status_code == 303, response.text
    assert _rows(web.db_url) == before
    assert web.get("/campaigns/prueba-web/export.yaml").text == exported.text
    # The edit form shows the saved campaign; saving it unchanged changes nothing.
    page = web.get("/campaigns/prueba-web/edit").text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    assert fields["steps[1].starts"] == "2027-01-11 00:00" and fields["slug"] == "prueba-web"
    form = {k: html.unescape(v) for k, v in fields.items()}
    form.update(
        {k: v for k, v in FORM.items() if k.endswith(("message", "segment", "encoding", "variables"))}
    )
    form["steps[0].schedule"], form["steps[1].schedule"] = "at", "rrule"
    assert web.post("/campaigns/prueba-web/edit", data=form).status_code == 303
    assert _rows(web.db_url) == before
    # A file that does not parse: nothing imported, the reason named.
    bad = web.post(
        "/campaigns/import",
        data={"csrf_token": token},
        files={"file": ("x.yaml", io.BytesIO(b"slug: [unclosed"), "application/yaml")},
    )
    assert bad.status_code == 422 and "x.yaml" in bad.text


def test_launch_confirms_then_report_downloads_match_the_cli(web):
    token = _login(web)
    web.post("/campaigns/new", data={**FORM, "csrf_token": token})
    page = web.get("/campaigns/prueba-web/launch").text
    assert "52 destinatarios" in page or "destinatarios" in page
    assert web.post("/campaigns/prueba-web/launch", data={"csrf_token": token}).status_code == 303
    engine = make_engine(web.db_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Campaign.status)) == "draft"  # not confirmed: nothing launched
    response = web.post("/campaigns/prueba-web/launch", data={"csrf_token": token, "confirm": "prueba-web"})
    assert response.status_code == 303
    from campaign.core.audit import AuditEvent

    with make_sessionmaker(engine)() as session:
        audited = session.execute(select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id)).all()
    assert ("mario", "campaign.created") in audited and ("mario", "campaign.scheduled") in audited
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Campaign.status)) == "scheduled"
    engine.dispose()
    refused = web.post("/campaigns/prueba-web/launch", data={"csrf_token": token, "confirm": "prueba-web"})
    assert refused.status_code == 409 and "solo se lanza un borrador" in refused.text
    ticked = run_cli("tick", "--now", "2027-01-11T16:05:00Z", db_url=web.db_url)
    assert ticked.returncode == 0, ticked.stderr
    assert "queued" in ticked.stdout, ticked.stdout
    # Running now: the CLI would not edit it, neither does the web (the form is not even shown).
    assert web.get("/campaigns/prueba-web/edit").status_code == 303
    edited = web.post("/campaigns/prueba-web/edit", data={**FORM, "name": "Otro", "csrf_token": token})
    assert edited.status_code == 409 and _rows(web.db_url)[0]["name"] == "Prueba web"
    _opt_out_one_recipient(web.db_url)
    report = run_json("report", "prueba-web", "--json", db_url=web.db_url)
    assert report["totals"]["opt_outs"] == 1
    # In English the download is byte for byte `campaign report --format csv`.
    english = web.get("/campaigns/prueba-web/report.csv", headers={"Accept-Language": "en"}).text
    assert (
        english
        == run_cli("report", "prueba-web", "--format", "csv", db_url=web.db_url).stdout.rstrip("\n") + "\n"
    )
    csv_text = web.get("/campaigns/prueba-web/report.csv").text
    header, *lines = csv_text.strip().splitlines()
    assert header.split(",")[:6] == ["paso", "segmento", "idioma", "canal", "planificados", "enviados"]
    assert len(lines) == len(report["rows"])
    xlsx = web.get("/campaigns/prueba-web/report.xlsx")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book.worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(values) == len(report["rows"]) + 1
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    planned = values[0].index("planificados")
    assert sum(r[planned] for r in values[1:]) == report["totals"]["planned"]
    page = web.get("/campaigns/prueba-web").text
    assert f'data-bar="sent" data-value="{report["totals"]["sent"]}"' in page
    assert json.dumps(report["totals"]["planned"]) in page
    per_day = re.findall(r'data-series="opt_outs" data-day="[^"]+" data-value="(\d+)"', page)
    assert per_day and sum(int(v) for v in per_day) == report["totals"]["opt_outs"]


def _opt_out_one_recipient(url: str) -> None:
    """One recipient answers BAJA through the signed webhook, the day after the send."""
    from datetime import UTC, datetime

    from audiences.models import Contact
    from campaign.blasts.models import Outbound
    from tests.campaign.web.helpers import inbound_params, post_inbound

    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        outbound = session.scalars(select(Outbound).where(Outbound.sent_at.is_not(None))).first()
        assert outbound is not None
        contact = session.get(Contact, outbound.contact_id)
        post_inbound(
            session, inbound_params("BAJA", phone=contact.phone), now=datetime(2027, 1, 12, 15, tzinfo=UTC)
        )
    engine.dispose()


def test_hotline_staff_get_403_on_every_authoring_page(web):
    token = _login(web, "ana")
    for path in (
        "/campaigns/new",
        "/campaigns/import",
        "/campaigns/x/edit",
        "/campaigns/x/preview",
        "/campaigns/x/launch",
        "/campaigns/x/export.yaml",
        "/campaigns/x/report.csv",
    ):
        assert web.get(path).status_code == 403, path
    assert web.post("/campaigns/new", data={**FORM, "csrf_token": token}).status_code == 403


def test_a_launch_is_refused_with_the_cli_reasons(web, tmp_path):
    token = _login(web)
    form = {**FORM, "steps[0].fallback": "quc"}  # K'iche' is not approved in the shipped pack
    assert web.post("/campaigns/new", data={**form, "csrf_token": token}).status_code == 303
    cli_url = _copy(Path(web.db_url.removeprefix("sqlite:///")), tmp_path / "cli.db")
    cli = run_cli("launch", "prueba-web", "--yes", db_url=cli_url, env={"CAMPAIGN_LOCALE": "es"})
    assert cli.returncode != 0
    page = web.get("/campaigns/prueba-web/launch").text
    reasons = re.findall(r"<li>([^<]*)</li>", page.split("launch-refused", 1)[1].split("</section>", 1)[0])
    assert reasons and "quc" in reasons[0]
    said = " ".join(cli.stderr.split())
    for reason in reasons:
        assert html.unescape(reason) in said
    assert "Sí, lanzar" not in page
    refused = web.post("/campaigns/prueba-web/launch", data={"csrf_token": token, "confirm": "prueba-web"})
    assert refused.status_code == 409 and "no se puede lanzar" in refused.text
    engine = make_engine(web.db_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Campaign.status)) == "draft"
    engine.dispose()


def test_errors_of_several_steps_are_shown_each_at_its_field(web):
    token = _login(web)
    form = {**FORM, "steps[0].deadline": "pronto", "steps[1].rrule": "FREQ=HOURLY;COUNT=3"}
    response = web.post("/campaigns/new", data={**form, "csrf_token": token})
    assert response.status_code == 422
    for field in ("steps[0].deadline", "steps[1].rrule"):
        shown = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', response.text)
        assert shown is not None and shown.group(1).startswith(field + ": ")
    # The values typed are kept for fixing.
    assert 'value="pronto"' in response.text and 'value="FREQ=HOURLY;COUNT=3"' in response.text


def test_a_step_reaching_nobody_is_launched_only_when_the_manager_says_so(web):
    token = _login(web)
    form = {**FORM, "steps[1].segment": "", "steps[1].query": "age > 150"}
    assert web.post("/campaigns/new", data={**form, "csrf_token": token}).status_code == 303
    page = web.get("/campaigns/prueba-web/launch").text
    assert "launch-refused" in page and "allow_empty=1" in page and "Sí, lanzar" not in page
    assert "--allow-empty" not in page  # the page's own button, not the command line's option
    refused = web.post("/campaigns/prueba-web/launch", data={"csrf_token": token, "confirm": "prueba-web"})
    assert refused.status_code == 409
    page = web.get("/campaigns/prueba-web/launch?allow_empty=1").text
    assert "Sí, lanzar" in page and 'name="allow_empty" value="1"' in page
    launched = web.post(
        "/campaigns/prueba-web/launch",
        data={"csrf_token": token, "confirm": "prueba-web", "allow_empty": "1"},
    )
    assert launched.status_code == 303 and _rows(web.db_url)[0]["status"] == "scheduled"


def test_whatsapp_channels_round_trip_through_form_yaml_and_edit(web):
    """The channel select's "WhatsApp, si no SMS" is the file's `[whatsapp, sms]`: saved as such,
    exported as the list, imported back unchanged, and shown selected on the edit form."""
    token = _login(web)
    form = {**FORM, "steps[0].channel": "whatsapp,sms", "steps[1].channel": "whatsapp"}
    page = web.get("/campaigns/new").text
    options = re.findall(r'<select name="steps\[0\]\.channel"[^>]*>(.*?)</select>', page, re.S)[0]
    assert re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)<', options) == [
        ("sms", "SMS"), ("whatsapp", "WhatsApp"), ("whatsapp,sms", "WhatsApp, si no SMS"), ("radio", "radio")]
    assert web.post("/campaigns/new", data={**form, "csrf_token": token}).status_code == 303
    engine = make_engine(web.db_url)
    with make_sessionmaker(engine)() as session:
        steps = session.scalars(select(Step).order_by(Step.position)).all()
        assert [(s.channel, s.channel_fallback) for s in steps] == [("whatsapp", "sms"), ("whatsapp", None)]
    engine.dispose()
    before = _rows(web.db_url)
    exported = web.get("/campaigns/prueba-web/export.yaml")
    document = yaml.safe_load(exported.text)
    assert [s["channel"] for s in document["steps"]] == [["whatsapp", "sms"], "whatsapp"]
    response = web.post(
        "/campaigns/import",
        data={"csrf_token": token},
        files={"file": ("prueba-web.yaml", io.BytesIO(exported.content), "application/yaml")},
    )
    assert response.status_code == 303, response.text
    assert _rows(web.db_url) == before
    edit = web.get("/campaigns/prueba-web/edit").text
    assert re.search(r'<option value="whatsapp,sms" selected>WhatsApp, si no SMS</option>', edit)
    assert re.search(r'<option value="whatsapp" selected>WhatsApp</option>', edit)
    bad = web.post("/campaigns/new", data={**FORM, "slug": "otra", "steps[0].channel": "whatsapp,radio",
                                           "csrf_token": token})
    assert bad.status_code == 422
    assert re.search(r'data-error-for="steps\[0\]\.channel">[^<]+<', bad.text)
