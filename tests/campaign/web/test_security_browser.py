"""What staff see of session security in a real browser (Chromium via Playwright), SQLite only:
a copied cookie is worthless after logout, guessing locks the account with a Spanish message,
and no page of any role breaks the Content-Security-Policy (no inline script anywhere).

Users, numbers and messages are synthetic test data (tests/campaign/web/test_browser.py seeds them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.core.audit import record_audit
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web.security import CONTENT_SECURITY_POLICY
from tests.campaign.web.test_browser import PASSWORD, _login
from tests.campaign.web.test_browser import browser as browser  # noqa: F401 - fixtures
from tests.campaign.web.test_browser import server as server  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_cookie_copied_before_logout_opens_nothing_after_it(server, browser, artifacts):  # noqa: F811
    base, _ = server
    staff = browser.new_context(locale="es-GT")
    page = staff.new_page()
    _login(page, base, "ana")
    assert page.url.endswith("/inbox")
    stolen = staff.cookies()
    assert any(c["name"] == "campaign_session" for c in stolen)
    page.click("form.logout button")
    page.wait_for_url(f"{base}/login")

    thief = browser.new_context(locale="es-GT")
    thief.add_cookies(stolen)
    other = thief.new_page()
    other.goto(f"{base}/inbox")
    assert other.url.startswith(f"{base}/login")
    assert other.locator("input[name=password]").is_visible()
    other.screenshot(path=str(artifacts / "replayed-cookie-login.png"))


def test_guessing_a_password_locks_the_account_with_a_spanish_message(server, browser, artifacts):  # noqa: F811
    base, _ = server
    page = browser.new_page(locale="es-GT")
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
    for attempt in range(12):
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", f"adivinanza {attempt}")
        page.click("button[type=submit]")
    alert = page.locator("[role=alert]").inner_text()
    assert "Demasiados intentos fallidos" in alert, alert
    assert statuses[-1] == 429
    _login(page, base, "ana")  # the right password, too late
    assert "Espere 15 minutos" in page.locator("[role=alert]").inner_text()
    page.screenshot(path=str(artifacts / "login-locked.png"))
    _login(page, base, "mario")  # a colleague at the same desk still gets in
    assert page.url.endswith("/campaigns")


PAGES = {
    "ana": ["/inbox", "/inbox/handover", "/inbox/shift", "/inbox/dashboard"],
    "mario": ["/campaigns", "/campaigns/ofertas-falsas", "/messages", "/segments", "/radio"],
    "root": ["/audit", "/inbox/replies"],
}


def test_no_page_breaks_the_content_security_policy(server, browser):  # noqa: F811
    base, url = server
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="root", password=PASSWORD, role="admin", now=utcnow())
    engine.dispose()
    for username, paths in PAGES.items():
        page = browser.new_page(locale="es-GT")
        violations: list[str] = []

        def watch(message, found=violations):
            if "Content Security Policy" in message.text:
                found.append(message.text)

        page.on("console", watch)
        _login(page, base, username)
        opened = list(paths)
        if username == "ana":
            page.goto(f"{base}/inbox")
            page.locator("tr.case-row a").first.click()
            page.wait_for_load_state("networkidle")
            opened.append(page.url.removeprefix(base))
        for path in opened:
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (username, path)
            headers = response.headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"
            page.wait_for_load_state("networkidle")
        assert violations == [], (username, opened, violations)
        page.close()


def test_an_administrator_filters_pages_and_downloads_the_audit_log(server, browser, artifacts):  # noqa: F811
    base, url = server
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="root", password=PASSWORD, role="admin", now=utcnow())
        for n in range(60):
            record_audit(
                session, actor="ana", action="contact.reveal", now=utcnow(), target_type="case", target_id=n
            )
    engine.dispose()
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="es-GT", accept_downloads=True)
    _login(page, base, "root")
    page.click("nav >> text=Auditoría")
    page.select_option("select[name=action]", "contact.reveal")
    page.fill("input[name=actor]", "ana")
    page.click("form.filters button[type=submit]")
    assert "60 eventos" in page.locator("p.count").inner_text()
    assert page.locator("table.audit tbody tr").count() == 50
    page.screenshot(path=str(artifacts / "audit-log.png"), full_page=True)
    page.click("a[rel=next]")
    assert page.locator("table.audit tbody tr").count() == 10
    assert "página 2 de 2" in page.locator("p.count").inner_text()
    with page.expect_download() as download:
        page.click("text=Descargar CSV")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.count("contact.reveal") == 60
