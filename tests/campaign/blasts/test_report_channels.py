"""Reports split by channel: `campaign report` (table, CSV, JSON) and the web report page and its
CSV show the same figures per step x language x channel, from the one function behind both.
SQLite and PostgreSQL; contacts, messages and rows are synthetic test data.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from campaign.core.db import utcnow
from campaign.hotline.models import Inbound, Intent
from campaign.hotline.users import create_user
from campaign.web import create_app
from messages.models import Message
from tests.campaign.web.helpers import settings
from tests.factories import make_blast, make_contact, make_outbound
from tests.subprocess_cli import run_cli, run_json

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
DAY = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
SID = "HX" + "0" * 31 + "7"  # synthetic
PRICES = {"CAMPAIGN_PRICE_PER_SEGMENT": "0.05", "CAMPAIGN_WHATSAPP_PRICE_UTILITY": "0.02",
          "CAMPAIGN_WHATSAPP_PRICE_SESSION": "0.004"}


def _seed(session) -> str:
    """A `[whatsapp, sms]` step: WhatsApp rows with a template and as free text, a WhatsApp failure
    and its SMS fallback, a plain SMS, skipped rows on both channels, replies on both."""
    occurrence = make_blast(session, status="running")
    step = occurrence.step
    step.channel, step.channel_fallback = "whatsapp", "sms"
    session.get(Message, step.message_id).whatsapp_category = "utility"
    campaign = step.campaign
    campaign.launched_at = DAY - timedelta(hours=1)
    rows = {}
    for name, channel, status, extra in [
        ("wa_template", "whatsapp", "delivered", {"sent_at": DAY, "content_sid": SID}),
        ("wa_template2", "whatsapp", "delivered", {"sent_at": DAY, "content_sid": SID}),
        ("wa_free", "whatsapp", "delivered", {"sent_at": DAY}),
        ("wa_failed", "whatsapp", "failed", {"error_code": "63024", "content_sid": SID}),
        ("wa_skipped", "whatsapp", "skipped", {"skip_reason": "whatsapp_template_missing"}),
        ("sms", "sms", "delivered", {"sent_at": DAY}),
        ("sms_fallback", "sms", "sent", {"sent_at": DAY}),
        ("sms_skipped", "sms", "skipped", {"skip_reason": "no_translation"}),
    ]:
        rows[name] = make_outbound(session, contact=make_contact(session, language="es"),
                                   occurrence=occurrence, status=status, channel=channel, **extra)
    rows["sms"].segments = 2
    for n, (row, intent) in enumerate([("wa_template", Intent.REPLY), ("wa_free", Intent.HELP),
                                       ("sms", Intent.OPT_OUT)]):
        outbound = rows[row]
        session.add(Inbound(
            provider_sid=f"SMtest{n:026d}", contact_id=outbound.contact_id, body="respuesta sintética",
            intent=intent, outbound_id=outbound.id, campaign_id=campaign.id,
            received_at=DAY + timedelta(minutes=10), channel=outbound.channel,
        ))
    create_user(session, username="mario", password=PASSWORD, role="manager", now=utcnow())
    session.commit()
    return campaign.slug


@pytest.fixture
def client(engine, monkeypatch):
    for key, value in PRICES.items():
        monkeypatch.setenv(key, value)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


def _login(client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": "mario", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303


def _by_channel(rows: list[dict]) -> dict[str, dict]:
    return {r["channel"]: r for r in rows}


def test_report_per_channel_same_in_cli_csv_json_and_web(db_url, session, client):
    slug = _seed(session)
    cli_csv = run_cli("report", slug, "--format", "csv", db_url=db_url, env=PRICES)
    assert cli_csv.returncode == 0, cli_csv.stderr
    cli_rows = list(csv.DictReader(io.StringIO(cli_csv.stdout)))
    assert list(cli_rows[0])[:4] == ["step", "segment", "language", "channel"]
    rows = _by_channel(cli_rows)
    assert set(rows) == {"sms", "whatsapp"}
    wa, sms = rows["whatsapp"], rows["sms"]
    assert (wa["planned"], wa["sent"], wa["delivered"], wa["failed"], wa["skipped"], wa["replies"]) == (
        "4", "3", "3", "1", "1", "2")
    assert wa["failed_by_code"] == "63024:1" and wa["skipped_by_reason"] == "whatsapp_template_missing:1"
    assert wa["segments"] == "0"  # WhatsApp is priced per message, not per SMS segment
    assert wa["estimated_cost"] == "0.04"  # two templates at 0.02 + one free text at 0.004
    assert (sms["planned"], sms["sent"], sms["delivered"], sms["replies"], sms["opt_outs"]) == (
        "2", "2", "1", "1", "1")
    assert sms["segments"] == "3" and sms["estimated_cost"] == "0.15"

    report = run_json("report", slug, "--json", db_url=db_url, env=PRICES)
    assert report["by_channel"]["whatsapp"]["sent"] == 3 and report["by_channel"]["sms"]["sent"] == 2
    assert report["totals"]["estimated_cost"] == pytest.approx(0.044 + 0.15, abs=0.005)
    assert report["totals"]["sent"] == 5 and report["totals"]["replies"] == 3

    _login(client)
    web_csv = client.get(f"/campaigns/{slug}/report.csv", headers={"Accept-Language": "en"})
    assert web_csv.status_code == 200
    assert list(csv.DictReader(io.StringIO(web_csv.text))) == cli_rows

    page = client.get(f"/campaigns/{slug}", headers={"Accept-Language": "es-GT"}).text
    for channel, figures in report["by_channel"].items():
        row = re.search(rf'<tr data-channel="{channel}">(.*?)</tr>', page, flags=re.S).group(1)
        for key in ("sent", "delivered", "failed", "replies"):
            shown = re.search(rf'data-column="{key}">(\d+)<', row).group(1)
            assert int(shown) == figures[key], (channel, key)
        table_row = re.search(rf'<tr data-step="paso" data-language="es" data-channel="{channel}">(.*?)</tr>',
                              page, flags=re.S).group(1)
        assert re.search(r'data-column="sent">(\d+)<', table_row).group(1) == rows[channel]["sent"]
    assert "Resultados por paso, idioma y canal" in page and "WhatsApp" in page
    assert 'data-bar="whatsapp:sent"' in page  # the chart per channel


def test_cli_table_names_the_channel_in_words(db_url, session):
    slug = _seed(session)
    table = run_cli("report", slug, db_url=db_url, env={**PRICES, "CAMPAIGN_LOCALE": "es"})
    assert table.returncode == 0, table.stderr
    assert "canal" in table.stdout and "WhatsApp" in table.stdout
    assert "WhatsApp: enviados 3, entregados 3, fallidos 1, respuestas 2" in table.stdout
    english = run_cli("report", slug, db_url=db_url, env=PRICES)
    assert ("paso/es/WhatsApp skipped by reason: no WhatsApp template (outside the 24 h window) 1"
            in english.stdout)
