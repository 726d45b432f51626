"""Translators and reviewers in Chromium (issue 13's acceptance), and every page in Spanish.

A translator edits a Mam translation: the live counter under the text equals `campaign messages
segments` for three bodies (plain GSM-7, accents the language's policy folds, a character that
forces UCS-2); she submits it for review and cannot open campaign or inbox pages (403). A reviewer
approves it, and `campaign messages coverage` says approved. The pages fit a 390 px phone, and a
screenshot of every page, in Spanish, as the role that opens it, goes to test-artifacts/es/.
SQLite, uvicorn on 127.0.0.1; synthetic data only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign.core.db import make_engine
from campaign.web import create_app
from tests.campaign.web.helpers import ROLE_USERS, filled_paths, get_routes, seed_every_page, settings
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SPANISH = {"locale": "es-GT"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NAME = "{{ contact.name | first_name }}"
BODIES = [  # (what it shows, Mam text with the message's variables)
    ("plain GSM-7", f"Chjonte {NAME}, {{{{ organizacion }}}} ma'n tu'n tkyaqil. AYUDA, BAJA tu'n tel"),
    (
        "accents folded",
        f"Chjonte {NAME}, {{{{ organizacion }}}} ma'n tqanil tu'n tkyaqil: ayúda, BAJA tu'n tél",
    ),
    ("UCS-2", f"Chjonte {NAME} ✓ {{{{ organizacion }}}} ma'n tu'n tkyaqil. AYUDA, BAJA tu'n tel"),
]


@pytest.fixture
def live(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, dict[str, list[str]], object]]:
    path = tmp_path / "translators.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    engine = make_engine(url)
    samples = seed_every_page(engine, PASSWORD)
    engine.dispose()
    app = create_app(settings())
    with serve(app) as base:
        yield base, samples, app


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _login(browser, base: str, username: str, **options):
    page = browser.new_context(**SPANISH, **options).new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "campaign", *args],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def _cli_segments(text: str, policy: str, tmp_path: Path) -> dict:
    """What `campaign messages segments --file F --encoding POLICY --json` prints for `text`."""
    file = tmp_path / "body.txt"
    file.write_text(text, encoding="utf-8")
    return json.loads(_cli("messages", "segments", "--file", str(file), "--encoding", policy, "--json"))


def _counter(page) -> dict:
    counter = page.locator("#sms-counter")
    return {
        "encoding": counter.get_attribute("data-encoding"),
        "segments": int(counter.get_attribute("data-segments") or -1),
        "characters": int(counter.get_attribute("data-characters") or -1),
        "units": int(counter.get_attribute("data-units") or -1),
        "non_gsm": json.loads(counter.get_attribute("data-non-gsm") or "null"),
        "text": counter.get_attribute("data-sent"),
    }


def _fits(page) -> None:
    scroll, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= viewport == 390, page.url


def test_a_translator_submits_a_mam_translation_and_a_reviewer_approves_it(
    live, browser, artifacts, tmp_path
):
    base, _samples, _app = live
    page = _login(browser, base, "rosa")
    assert page.url.endswith("/messages")  # a translator lands on the library
    page.click("article.msg-card:has(a[href='/messages/bienvenida']) a[data-lang=mam]")
    assert page.url.endswith("/messages/bienvenida/mam")
    assert "falta" in page.locator("#status").inner_text()
    counter = page.locator("#sms-counter")
    policy = counter.get_attribute("data-policy")
    assert policy == "fold"  # Mam's policy: accents folded when that saves segments
    seen = {}
    for what, body in BODIES:
        page.fill("#translation-body", body)
        expected = _cli_segments(body, policy, tmp_path)
        page.wait_for_function(
            "([el, n]) => el.dataset.characters === String(n)",
            arg=[counter.element_handle(), expected["characters"]],
        )
        assert _counter(page) == expected, what
        assert f"{expected['characters']} caracteres" in counter.inner_text()
        if expected["text"] != body:  # what the policy changed is shown as it will be sent
            assert f"Se enviará así: {expected['text']}" in counter.inner_text()
        seen[what] = expected
    assert seen["plain GSM-7"]["encoding"] == "GSM-7" and seen["plain GSM-7"]["non_gsm"] == []
    folded = seen["accents folded"]
    assert folded["encoding"] == "GSM-7" and "ayuda" in folded["text"] and "ú" not in folded["text"]
    assert seen["UCS-2"]["encoding"] == "UCS-2" and seen["UCS-2"]["non_gsm"] == ["✓"]
    page.fill("#translation-body", BODIES[2][1])
    assert "✓" in counter.inner_text()  # the character forcing UCS-2 is named
    page.screenshot(path=str(artifacts / "translation-counter.png"), full_page=True)

    page.fill("#translation-body", BODIES[1][1])
    page.click("text=Guardar y enviar a revisión")
    assert "ahora necesita revisión" in page.locator(".flash").inner_text()
    assert "por revisar" in page.locator("#status").inner_text()
    assert page.locator("form.approve").count() == 0  # a translator cannot approve
    for path in ("/campaigns", "/inbox"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        assert "No puede abrir esta página" in page.locator("h1").inner_text()
    page.screenshot(path=str(artifacts / "translator-403.png"), full_page=True)

    reviewer = _login(browser, base, "beto")
    reviewer.goto(f"{base}/messages?lang=mam&status=needs_review")
    reviewer.click("article.msg-card:has(a[href='/messages/bienvenida']) a[data-lang=mam]")
    history = reviewer.locator("section.history").inner_text()
    assert "Versión 1" in history and "rosa" in history
    reviewer.click("text=Aprobar la versión 1")
    assert "Traducción aprobada" in reviewer.locator(".flash").inner_text()
    assert "aprobada" in reviewer.locator("#status").inner_text()
    coverage = json.loads(_cli("messages", "coverage", "--json"))
    assert coverage["messages"]["bienvenida"]["mam"] == "approved"


def test_the_new_pages_fit_a_390_px_phone(live, browser, artifacts):
    base, _samples, _app = live
    rosa = _login(browser, base, "rosa", **PHONE)
    for path, name in [
        ("/messages", "messages"),
        ("/messages/bienvenida", "message"),
        ("/messages/bienvenida/mam", "translation"),
    ]:
        rosa.goto(f"{base}{path}")
        _fits(rosa)
        rosa.screenshot(path=str(artifacts / f"{name}-390.png"), full_page=True)
    save = rosa.locator(".translation-form button[type=submit]").bounding_box()
    assert save is not None and save["height"] >= 44
    root = _login(browser, base, "root", **PHONE)
    root.goto(f"{base}/admin/users")
    _fits(root)
    root.screenshot(path=str(artifacts / "users-390.png"), full_page=True)


def test_an_admin_adds_a_translator_in_the_browser(live, browser):
    base, _samples, _app = live
    root = _login(browser, base, "root")
    root.click("header.top nav >> text=Usuarios")
    assert root.url.endswith("/admin/users")
    assert root.locator("header.top nav a[href='/audit']").count() == 1
    form = root.locator("form.new-user")
    form.locator("input[name=username]").fill("lucia")
    form.locator("select[name=role]").select_option("translator")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("input[name=password_repeat]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    assert "Usuario lucia (traductor(a)) agregado" in root.locator(".flash").inner_text()
    card = root.locator("#user-lucia")
    card.locator("button.danger").click()
    assert "desactivado" in root.locator("#user-lucia h2").inner_text()
    lucia = _login(browser, base, "lucia")
    assert lucia.url.endswith("/login")  # a disabled user cannot log in


def test_a_screenshot_of_every_page_in_spanish(live, browser, artifacts):
    base, samples, app = live
    folder = artifacts / "es"
    folder.mkdir(exist_ok=True)
    shot: set[str] = set()
    for username in ROLE_USERS:
        page = _login(browser, base, username)
        for path in get_routes(app):
            if path in shot or path == "/logout":
                continue
            for url in filled_paths(path, samples):
                probe = page.request.get(f"{base}{url}", max_redirects=0)  # files and JSON are not pages
                if probe.status in (404, 422):
                    continue
                if "text/html" not in probe.headers.get("content-type", "") and probe.status < 300:
                    break
                response = page.goto(f"{base}{url}")
                if response is not None and response.status == 200:
                    assert page.locator("html").get_attribute("lang") == "es", url
                    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
                    shot.add(path)
                break
        page.context.close()
    page = _login(browser, base, "rosa")
    page.goto(f"{base}/campaigns")
    page.screenshot(path=str(folder / "error-403.png"), full_page=True)
    page.goto(f"{base}/no-existe")
    assert "Esta página no existe" in page.locator("main").inner_text()
    page.screenshot(path=str(folder / "error-404.png"), full_page=True)
    assert {
        "/messages",
        "/messages/{slug}",
        "/messages/{slug}/{lang}",
        "/admin/users",
        "/audit",
        "/campaigns",
        "/inbox",
        "/login",
    } <= shot
