"""Each role in Chromium: its own home page, and the manager's emergency stop (cancel, confirmed).

Issue 10, defects 1 and 12: there was no cancel in the web app, and a producer sent to `/`
(or to "Volver al inicio") landed on the forbidden inbox. All data synthetic.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
HOMES = {"ana": "/inbox", "mario": "/campaigns", "root": "/campaigns", "pilar": "/radio"}
ROLES = {"ana": "hotline", "mario": "manager", "root": "admin", "pilar": "producer"}


def _seed(url: str) -> None:
    """One user per role and a running campaign with three queued messages (synthetic)."""
    from tests.factories import make_blast, make_outbound

    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        for username, role in ROLES.items():
            create_user(session, username=username, password=PASSWORD, role=role, now=utcnow())
        occurrence = make_blast(session, status="running")
        occurrence.step.campaign.slug = "alto-total"
        for _ in range(3):
            make_outbound(session, occurrence=occurrence)
    engine.dispose()


def _state(url: str) -> tuple[str, int]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.slug == "alto-total"))
        queued = session.scalar(
            select(func.count(Outbound.id)).where(Outbound.status == OutboundStatus.QUEUED)
        )
    engine.dispose()
    return str(status), int(queued or 0)


@pytest.fixture
def server(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    path = tmp_path / "roles.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    _seed(url)
    with serve(create_app(settings())) as base:
        yield base, url


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _login(browser, base: str, username: str):
    page = browser.new_page(viewport={"width": 390, "height": 800}, locale="es-GT")
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


@pytest.mark.parametrize("username", sorted(HOMES))
def test_each_role_lands_on_its_own_home_page(server, browser, username):
    base, _url = server
    page = _login(browser, base, username)
    home = HOMES[username]
    assert page.url == base + home
    response = page.goto(f"{base}/")
    assert response is not None and response.status == 200 and page.url == base + home
    # A page the role may not open: 403, and "Volver al inicio" leads home, not into a loop.
    forbidden = "/audit" if username != "root" else "/nosuch"
    response = page.goto(base + forbidden)
    assert response is not None and response.status in (403, 404)
    page.click("text=Volver al inicio")
    page.wait_for_url(base + home)
    assert "Error" not in page.locator("h1").first.inner_text()


def test_manager_cancels_a_campaign_after_confirming(server, browser, artifacts):
    base, url = server
    page = _login(browser, base, "mario")
    page.goto(f"{base}/campaigns/alto-total")
    page.click("text=Cancelar campaña…")
    assert page.url == f"{base}/campaigns/alto-total/cancel"
    question = page.locator(".confirm").inner_text()
    assert "3 mensajes en cola" in question, question
    assert _state(url) == ("running", 3)  # asking is not doing
    page.screenshot(path=str(artifacts / "campaign-cancel-confirm.png"), full_page=True)
    page.click("text=No, volver")
    assert page.url == f"{base}/campaigns/alto-total" and _state(url) == ("running", 3)

    page.click("text=Cancelar campaña…")
    page.click("button:has-text('Sí, cancelar la campaña')")
    page.wait_for_url(f"{base}/campaigns/alto-total")
    assert "3 mensajes en cola no se enviarán" in page.locator(".flash").first.inner_text()
    assert _state(url) == ("cancelled", 0)
    assert page.locator("text=Cancelar campaña…").count() == 0  # nothing left to cancel


@pytest.mark.parametrize("username", ["ana", "pilar"])
def test_hotline_and_producer_cannot_cancel(server, browser, username):
    base, url = server
    page = _login(browser, base, username)
    response = page.goto(f"{base}/campaigns/alto-total/cancel")
    assert response is not None and response.status == 403
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = page.request.post(
        f"{base}/campaigns/alto-total/cancel", form={"csrf_token": token or "", "confirm": "alto-total"}
    )
    assert posted.status == 403, posted.text()
    assert _state(url) == ("running", 3)
