"""The hotline inbox in Chromium (issue 14's acceptance): live urgent alert in two browsers, the case
lock with an audited takeover, a quick reply whose counter matches `campaign messages segments`,
resolve with an outcome and the dashboard, and phone-sized pages. SQLite, uvicorn on 127.0.0.1.
Synthetic data only (made-up numbers and names)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.models import Case, CasePriority
from campaign.hotline.users import create_user
from campaign.hotline.webhooks import handle_inbound
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SPANISH = {"locale": "es-GT"}
# Sound without a tap first, as after a person's first touch of the page (the alert counts beeps).
AUTOPLAY = ["--autoplay-policy=no-user-gesture-required"]


def _receive(engine, body: str, phone: str, now) -> None:
    params = inbound_params(body, phone=phone)
    with make_sessionmaker(engine).begin() as session:
        handle_inbound(
            session, url=inbound_url(), params=params, signature=sign(inbound_url(), params),
            settings=settings(), now=now,
        )


def _seed(url: str) -> None:
    """Three staff members, the shipped pack (its auto-replies are quick replies), two cases."""
    from messages.packload import load_pack
    from tests.factories import make_contact

    engine = make_engine(url)
    now = utcnow()
    with make_sessionmaker(engine).begin() as session:
        for name, role in [("ana", "hotline"), ("beto", "hotline"), ("mario", "manager")]:
            create_user(session, username=name, password=PASSWORD, role=role, now=now)
        load_pack(session, now=now)
        make_contact(session, phone="+50231000002", language="quc")  # speaks K'iche'
    _receive(engine, "¿Es real la oferta de trabajo en Tapachula?", "+50231000001", now - timedelta(hours=2))
    _receive(engine, "auxilio me tienen encerrada", "+50231000002", now - timedelta(minutes=12))
    engine.dispose()


@pytest.fixture
def live(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    path = tmp_path / "inbox.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    _seed(url)
    with serve(create_app(settings(inbox_refresh_seconds=1))) as base:
        yield base, url


@pytest.fixture
def browser():
    with chromium(AUTOPLAY) as launched:
        yield launched


def _login(browser, base: str, username: str, **options):
    page = browser.new_context(**SPANISH, **options).new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert page.url.endswith("/inbox"), page.url
    return page


def _case_id(url: str, **where) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        found = session.scalar(select(Case.id).filter_by(**where).order_by(Case.id.desc()))
    engine.dispose()
    assert found is not None
    return found


def test_a_signed_urgent_webhook_shows_in_two_inboxes_without_reload(live, browser, artifacts):
    base, url = live
    pages = [_login(browser, base, name) for name in ("ana", "beto")]
    for page in pages:
        page.evaluate("window.stillTheSamePage = true")
        assert page.locator("tr.case-row.urgent").count() == 1
    params = inbound_params("Por favor ayúdenme, estoy encerrada y tengo miedo", phone="+50231000077")
    sent_at = time.monotonic()
    response = httpx.post(
        f"{base}/twilio/inbound", data=params, headers={"X-Twilio-Signature": sign(inbound_url(), params)}
    )
    assert response.status_code == 200
    case_id = _case_id(url, priority=CasePriority.URGENT)
    for page in pages:
        budget_ms = max(0.0, 5000 - (time.monotonic() - sent_at) * 1000)
        page.locator(f'tr.case-row[data-case="{case_id}"]').wait_for(timeout=budget_ms)
        alert = page.locator("#live-alert")
        assert alert.is_visible() and f"Nuevo caso urgente #{case_id}" in alert.inner_text()
        assert page.title().startswith("(⚠2 · 3)")  # two urgent, three open, in the tab's title
        assert page.evaluate("window.stillTheSamePage") is True  # no reload happened
        assert page.evaluate("Number(document.body.dataset.sounds || 0)") >= 1  # the beep played
        assert "URGENTE" in page.locator(f'tr.case-row[data-case="{case_id}"]').inner_text()
    pages[1].screenshot(path=str(artifacts / "inbox-live-alert.png"), full_page=True)


def test_lock_takeover_is_told_and_audited(live, browser, artifacts):
    base, url = live
    case_id = _case_id(url, priority=CasePriority.URGENT)
    ana = _login(browser, base, "ana")
    ana.goto(f"{base}/cases/{case_id}")
    assert "Usted atiende este caso" in ana.locator("#lock").inner_text()
    beto = _login(browser, base, "beto")
    beto.locator(f'tr.case-row[data-case="{case_id}"] .held-by').wait_for(timeout=5000)
    assert "atendido por ana" in beto.locator(f'tr.case-row[data-case="{case_id}"]').inner_text()
    beto.goto(f"{base}/cases/{case_id}")
    assert "atendido por ana" in beto.locator("#lock").inner_text()
    assert beto.locator("#reply-body").is_disabled()
    assert beto.locator("#resolve-form button[type=submit]").is_disabled()
    # The service refuses too, whatever the page shows.
    token = beto.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = beto.request.post(f"{base}/cases/{case_id}/reply", form={"body": "hola", "csrf_token": token})
    assert forced.status == 409

    beto.click("button.takeover")
    assert "Usted atiende este caso" in beto.locator("#lock").inner_text()
    assert not beto.locator("#reply-body").is_disabled()
    ana.evaluate("window.stillTheSamePage = true")
    ana.locator("#lock .lock-state.taken").wait_for(timeout=10000)  # told on its next refresh
    assert "beto tomó este caso" in ana.locator("#lock").inner_text()
    assert ana.locator("#reply-body").is_disabled()
    assert ana.evaluate("window.stillTheSamePage") is True
    ana.screenshot(path=str(artifacts / "case-taken-over.png"), full_page=True)

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.takeover"))
        assert event is not None and event.actor == "beto" and event.target_id == case_id
        assert event.detail["from"] == "ana"
    engine.dispose()


def _cli_segments(texts: list[str], policy: str, tmp_path: Path) -> list[dict]:
    """What `campaign messages segments --batch F --encoding POLICY` prints, one JSON per text."""
    batch = tmp_path / f"bodies-{policy}.jsonl"
    batch.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    command = [
        sys.executable, "-m", "campaign", "messages", "segments", "--batch", str(batch), "--encoding", policy,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_quick_reply_counter_matches_the_cli_then_resolve_and_dashboard(live, browser, artifacts, tmp_path):
    base, url = live
    case_id = _case_id(url, priority=CasePriority.URGENT)
    page = _login(browser, base, "beto")
    page.goto(f"{base}/cases/{case_id}")
    assert "K'iche' (quc)" in page.locator(".case-meta .language").inner_text()
    page.click(".quick-replies summary")
    page.locator("button.quick-reply").first.click()
    text = page.input_value("#reply-body")
    # The pack's approved help text (Spanish: no K'iche' text is approved), with the hotline number.
    assert "1572" in text
    counter = page.locator("#sms-counter")
    policy = counter.get_attribute("data-policy")
    [expected] = _cli_segments([text], policy, tmp_path)
    shown = {
        "encoding": counter.get_attribute("data-encoding"),
        "segments": int(counter.get_attribute("data-segments")),
        "characters": int(counter.get_attribute("data-characters")),
        "units": int(counter.get_attribute("data-units")),
        "non_gsm": json.loads(counter.get_attribute("data-non-gsm")),
        "text": counter.get_attribute("data-sent"),
    }
    assert shown == expected
    assert f"{expected['characters']} caracteres" in counter.inner_text()
    page.click("text=Enviar respuesta")
    assert "Respuesta enviada" in page.locator(".flash").inner_text()

    page.check("input[name=outcome][value=referred]")
    page.select_option("select[name=referred_to]", "pnc")
    page.click("#resolve-form button[type=submit]")
    assert "resuelto" in page.locator("h1").inner_text()
    assert "Policía Nacional Civil" in page.locator(".resolve").inner_text()

    page.goto(f"{base}/inbox/dashboard")
    outcome = page.locator('table.outcomes tr[data-outcome="referred"]')
    assert "referido" in outcome.inner_text() and "Policía Nacional Civil (PNC)" in outcome.inner_text()
    urgent = page.locator('table.answer-times tr[data-priority="urgent"]')
    assert urgent.locator("td").nth(3).inner_text() == "1"  # answered
    assert urgent.locator("td.median").inner_text().endswith("min")
    page.screenshot(path=str(artifacts / "hotline-dashboard.png"), full_page=True)


BODIES = [
    "Atención: usted tiene derechos. Llame al 1572, es gratis y confidencial.",
    "Su “patrón” no puede quitarle sus documentos’ – nunca…",
    "Estamos con usted 💜 Llame al 110",
    "Utz awach, kʼo jun tzij: xa jun ri’ ka’ib` tzij",
    "A" * 160,
    "A" * 161,
    "A" * 152 + "€",
    "A" * 153 + "€" + "B" * 10,
    "á" * 70,
    "á" * 71,
    "ñ" * 69 + "🙂",
    "x" * 66 + "🙂" + "y" * 5,
    "Ayúdeme por favor, ¿dónde está la oficina más cercana? Estoy en Malacatán, San Marcos y "
    "necesito saber qué hacer con mi pasaporte.",
    "",
]


def test_the_counter_module_computes_what_the_cli_computes(live, browser, tmp_path):
    base, _ = live
    page = browser.new_page()
    page.goto(f"{base}/login")
    for policy in ("exact", "smart", "fold"):
        browser_says = page.evaluate(
            """async ([bodies, policy]) => {
                const m = await import('/static/sms_counter.js');
                const rules = await m.loadRules();
                return bodies.map((b) => m.measure(b, policy, rules));
            }""",
            [BODIES, policy],
        )
        assert browser_says == _cli_segments(BODIES, policy, tmp_path), policy


def test_inbox_and_case_fit_a_390_px_phone(live, browser, artifacts):
    base, url = live
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = _login(browser, base, "ana", **phone)
    width = "[document.documentElement.scrollWidth, window.innerWidth]"
    scroll, viewport = page.evaluate(width)
    assert scroll <= viewport == 390
    link = page.locator("tr.case-row td.case a").first.bounding_box()
    assert link is not None and link["height"] >= 44  # a thumb can hit it
    page.screenshot(path=str(artifacts / "inbox-390.png"), full_page=True)
    page.goto(f"{base}/cases/{_case_id(url, priority=CasePriority.URGENT)}")
    page.fill("#reply-body", "Estamos con usted. " * 12)
    page.click(".quick-replies summary")
    scroll, viewport = page.evaluate(width)
    assert scroll <= viewport == 390
    send = page.locator("#reply-form button[type=submit]").bounding_box()
    assert send is not None and send["height"] >= 44
    page.screenshot(path=str(artifacts / "case-390.png"), full_page=True)
