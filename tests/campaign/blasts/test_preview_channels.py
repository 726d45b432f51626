"""Preview and launch of WhatsApp steps, through the CLI in fresh processes and the real tick.

The preview's figures per channel (WhatsApp inside the 24 h window, with a template, SMS instead
and why, skipped and why) are what planning then inserts: compared with the outbound rows after
`campaign tick`. A WhatsApp-only step that would skip contacts for want of a template in their
language is refused at launch (naming the step and the languages) unless `--allow-partial`; the
web launch page says the same and offers that choice. SQLite and PostgreSQL; every contact,
translation and Content SID is synthetic.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from campaign.blasts.models import Campaign, Outbound
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.models import Inbound, Intent
from campaign.hotline.users import create_user
from campaign.web import create_app
from messages import library
from messages.packload import load_pack
from tests.campaign.web.helpers import PASSWORD, settings
from tests.factories import make_contact
from tests.subprocess_cli import run_cli, run_json

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

LAUNCH_AT = "2027-01-11T15:00:00Z"
TICK_AT = "2027-01-11T16:05:00Z"  # Monday 10:05 in Guatemala: the step is due
NOW = datetime(2027, 1, 11, 16, 5, tzinfo=UTC)
WROTE_AT = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # inside the 24 h window at TICK_AT
# Synthetic Mam words for the test only (not a translation anyone vouched for).
MAM = "{{ organizacion }}: prueba sintetica mam. PDH {{ pdh }}. BAJA tu'n tel"
PRICES = {"CAMPAIGN_PRICE_PER_SEGMENT": "0.05", "CAMPAIGN_WHATSAPP_PRICE_MARKETING": "0.08",
          "CAMPAIGN_WHATSAPP_PRICE_SESSION": "0.005"}


def _campaign(tmp_path, channel: str) -> str:
    path = tmp_path / "campana.yaml"
    path.write_text(
        "slug: wa-prueba\nname: WhatsApp prueba (sintética)\nvariables: {pdh: '1555'}\nsteps:\n"
        f"  - id: aviso\n    channel: {channel}\n    message: oferta-trabajo-falsa\n"
        "    query: 'department = \"San Marcos\"'\n    at: '2027-01-11 10:00'\n    fallback: [contact]\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def audience(db_url, session):
    """The shipped pack (Spanish has a synthetic Content SID) plus an approved synthetic Mam
    translation without one; six San Marcos contacts, one per case."""
    load_pack(session, None, now=utcnow())
    message = library.get_message(session, "oferta-trabajo-falsa")
    library.add_translation(session, message, language="mam", body=MAM, status="approved", now=utcnow(),
                            reviewer="prueba sintética")
    opted = {"whatsapp_consent_at": datetime(2027, 1, 1, tzinfo=UTC)}
    people = {
        "es_window": make_contact(session, language="es", **opted),
        "es_template": make_contact(session, language="es", **opted),
        "mam_window": make_contact(session, language="mam", **opted),
        "mam_no_template": make_contact(session, language="mam", **opted),
        "es_no_optin": make_contact(session, language="es"),
        "es_prefers_sms": make_contact(session, language="es", preferred_channel="sms", **opted),
    }
    for n, key in enumerate(("es_window", "mam_window")):
        session.add(Inbound(provider_sid=f"SMwa{n:030d}", contact_id=people[key].id,
                            body="hola (sintético)", intent=Intent.REPLY, received_at=WROTE_AT,
                            channel="whatsapp"))
    create_user(session, username="mario", password=PASSWORD, role="manager", now=utcnow())
    session.commit()
    return {key: contact.id for key, contact in people.items()}


def _planned(engine) -> tuple[Counter, Counter]:
    """(queued-or-later rows per channel, skipped rows per reason) of the campaign's firing."""
    with make_sessionmaker(engine)() as session:
        rows = session.execute(
            select(Outbound.channel, Outbound.status, Outbound.skip_reason)
            .join(Campaign, Campaign.id == Outbound.campaign_id)
            .where(Campaign.slug == "wa-prueba", Outbound.occurrence_id.is_not(None))
        ).all()
    sent = Counter(channel for channel, status, _ in rows if status != "skipped")
    skipped = Counter(reason for _, status, reason in rows if status == "skipped")
    return sent, skipped


def test_preview_per_channel_is_what_the_tick_plans(db_url, engine, audience, tmp_path):
    assert run_cli("create", _campaign(tmp_path, "[whatsapp, sms]"), db_url=db_url).returncode == 0
    preview = run_json("preview", "wa-prueba", "--json", "--now", TICK_AT, db_url=db_url, env=PRICES)
    step = preview["steps"][0]
    assert step["whatsapp"]["in_window"] == 2  # es and mam who wrote this morning: free text
    assert step["whatsapp"]["template"] == 1  # es outside the window: the Spanish template
    assert step["whatsapp"]["sms_fallback"] == {
        "no_whatsapp_consent": 1, "no_template": 1, "prefers_sms": 1}
    assert step["whatsapp"]["missing_template_languages"] == {"mam": 1}
    assert step["channels"]["whatsapp"]["recipients"] == 3 and step["channels"]["sms"]["recipients"] == 3
    assert step["channels"]["whatsapp"]["estimated_cost"] == pytest.approx(0.08 + 2 * 0.005, abs=0.006)
    assert step["channels"]["sms"]["estimated_cost"] == pytest.approx(3 * 0.05 * step["total_segments"] / 3)
    assert step["estimated_cost"] == pytest.approx(
        step["channels"]["whatsapp"]["estimated_cost"] + step["channels"]["sms"]["estimated_cost"], abs=0.01)
    assert preview["totals"]["by_channel"]["whatsapp"]["recipients"] == 3

    text = run_cli("preview", "wa-prueba", "--now", TICK_AT, db_url=db_url,
                   env={**PRICES, "CAMPAIGN_LOCALE": "es"})
    assert "3: 2 con texto libre dentro de la ventana de 24 h, 1 con plantilla (marketing)" in text.stdout
    assert "sin alta en WhatsApp 1" in text.stdout  # why one gets SMS instead, in words

    launched = run_cli("launch", "wa-prueba", "--yes", "--now", LAUNCH_AT, db_url=db_url)
    assert launched.returncode == 0, launched.stderr
    ticked = run_cli("tick", "--now", TICK_AT, db_url=db_url)
    assert ticked.returncode == 0, ticked.stderr
    sent, skipped = _planned(engine)
    assert sent == {"whatsapp": step["channels"]["whatsapp"]["recipients"],
                    "sms": step["channels"]["sms"]["recipients"]}
    assert dict(skipped) == step["skipped"]


def test_whatsapp_only_step_without_a_template_is_refused_unless_partial(db_url, engine, audience, tmp_path):
    assert run_cli("create", _campaign(tmp_path, "whatsapp"), db_url=db_url).returncode == 0
    preview = run_json("preview", "wa-prueba", "--json", "--now", TICK_AT, db_url=db_url)
    step = preview["steps"][0]
    assert step["skipped"] == {"no_whatsapp_consent": 1, "whatsapp_template_missing": 1}
    assert step["whatsapp"]["missing_template_languages"] == {"mam": 1}
    assert step["whatsapp"]["template"] == 2  # es outside the window, and the one preferring SMS

    refused = run_cli("launch", "wa-prueba", "--yes", "--now", TICK_AT, db_url=db_url)
    assert refused.returncode == 1
    error = " ".join(refused.stderr.split())
    assert ("step 'aviso': 1 contact(s) outside WhatsApp's 24-hour window have no approved WhatsApp "
            "template") in error
    assert "(mam: 1)" in error and "--allow-partial" in error
    assert run_json("show", "wa-prueba", "--json", db_url=db_url)["status"] == "draft"
    spanish = run_cli("launch", "wa-prueba", "--yes", "--now", TICK_AT, db_url=db_url,
                      env={"CAMPAIGN_LOCALE": "es"})
    assert "paso 'aviso': 1 contacto(s) fuera de la ventana de 24 horas" in " ".join(spanish.stderr.split())

    launched = run_cli("launch", "wa-prueba", "--yes", "--allow-partial", "--now", TICK_AT, db_url=db_url)
    assert launched.returncode == 0, launched.stderr
    assert run_cli("tick", "--now", TICK_AT, db_url=db_url).returncode == 0
    sent, skipped = _planned(engine)
    assert sent == {"whatsapp": step["channels"]["whatsapp"]["recipients"]}
    assert dict(skipped) == step["skipped"]


def test_web_launch_page_refuses_then_confirms_a_partial_send(
    db_url, engine, audience, tmp_path, monkeypatch
):
    assert run_cli("create", _campaign(tmp_path, "whatsapp"), db_url=db_url).returncode == 0
    monkeypatch.setattr("campaign.web.routes_authoring.utcnow", lambda: NOW)
    with TestClient(create_app(settings()), follow_redirects=False,
                    headers={"Accept-Language": "es-GT"}) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "mario", "password": PASSWORD, "csrf_token": token})
        page = client.get("/campaigns/wa-prueba/launch")
        assert page.status_code == 200
        assert "paso &#39;aviso&#39;: 1 contacto(s) fuera de la ventana de 24 horas" in page.text
        assert 'id="allow-partial"' in page.text and "Sí, lanzar" not in page.text
        assert 'data-fact="whatsapp"' in page.text and "mam: 1" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        refused = client.post("/campaigns/wa-prueba/launch",
                              data={"confirm": "wa-prueba", "csrf_token": token})
        assert refused.status_code == 409
        assert run_json("show", "wa-prueba", "--json", db_url=db_url)["status"] == "draft"
        confirm = client.get("/campaigns/wa-prueba/launch?allow_partial=1")
        assert 'name="allow_partial" value="1"' in confirm.text
        done = client.post("/campaigns/wa-prueba/launch",
                           data={"confirm": "wa-prueba", "allow_partial": "1", "csrf_token": token})
        assert done.status_code == 303, done.text
    assert run_json("show", "wa-prueba", "--json", db_url=db_url)["status"] == "scheduled"
