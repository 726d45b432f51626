"""Real browser (Playwright driving Debian's Chromium) against uvicorn on 127.0.0.1, SQLite only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.blasts.models import Campaign, Outbound, OutboundStatus
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.models import Case, CasePriority, CaseStatus
from campaign.hotline.users import create_user
from campaign.hotline.webhooks import handle_inbound
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
XSS = '<script>window.pwned=1;alert(1)</script><img src=x onerror="window.pwned=2">'


def _seed(url: str) -> str:
    """Users, a campaign with a week of sends, and three cases (one urgent, one with HTML)."""
    engine = make_engine(url)
    now = utcnow()
    cfg = settings()
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=now)
        create_user(session, username="mario", password=PASSWORD, role="manager", now=now)
        campaign = Campaign(slug="ofertas-falsas", name="Ofertas de trabajo falsas", status="running")
        session.add(campaign)
        session.flush()
        from tests.factories import make_contact

        for i in range(40):
            contact = make_contact(session, phone=f"+5023100{i:04d}")
            sent_at = now - timedelta(days=i % 7, hours=1)
            status = [
                OutboundStatus.DELIVERED,
                OutboundStatus.DELIVERED,
                OutboundStatus.FAILED,
                OutboundStatus.SENT,
            ][i % 4]
            session.add(
                Outbound(
                    contact_id=contact.id,
                    campaign_id=campaign.id,
                    body="Cuidado con ofertas falsas",
                    status=status,
                    sent_at=sent_at,
                    delivered_at=sent_at if status == "delivered" else None,
                    error_code="30003" if status == "failed" else None,
                )
            )
    for body, phone, hours in [
        ("¿Es real la oferta de Tapachula?", "+50231000001", 6),
        (XSS, "+50231000002", 4),
        ("auxilio me tienen encerrada", "+50231000003", 1),
    ]:
        params = inbound_params(body, phone=phone)
        with make_sessionmaker(engine).begin() as session:
            handle_inbound(
                session,
                url=inbound_url(),
                params=params,
                signature=sign(inbound_url(), params),
                settings=cfg,
                now=now - timedelta(hours=hours),
            )
    engine.dispose()
    return url


@pytest.fixture
def server(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    path = tmp_path / "browser.db"
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


def _login(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_hotline_staff_work_an_urgent_case(server, browser, artifacts):
    base, url = server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="es-GT")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, base, "ana")
    assert page.url.endswith("/inbox")
    first = page.locator("tr.case-row").first
    assert "URGENTE" in first.inner_text() and "encerrada" in first.inner_text()
    page.screenshot(path=str(artifacts / "inbox.png"), full_page=True)

    # The case with HTML in its body: shown as text, never run.
    page.locator("tr.case-row", has_text="pwned").locator("a").click()
    assert page.locator(".thread .msg.in .body").first.inner_text() == XSS
    assert page.evaluate("window.pwned") is None and dialogs == []
    page.goto(f"{base}/inbox")

    first = page.locator("tr.case-row").first
    first.locator("a").click()
    assert "URGENTE" in page.locator("h1").inner_text()
    page.fill("textarea[name=body] >> nth=0", "Estamos con usted. Llame al 110 si puede.")
    page.click("text=Enviar respuesta")
    assert "Respuesta enviada" in page.locator(".flash").inner_text()
    assert "Estamos con usted" in page.locator(".thread").inner_text()
    page.fill(".notes textarea[name=body]", "Coordinar con PNC Coatepeque")
    page.click("text=Guardar nota")
    assert "Coordinar con PNC" in page.locator(".notes").inner_text()
    assert "ana" in page.locator(".holder").inner_text()  # who holds it, for a second staff member
    page.check("input[name=outcome][value=referred]")
    page.select_option("select[name=referred_to]", "pnc")
    page.click("text=Resolver")
    assert "resuelto" in page.locator("h1").inner_text()

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        case = session.scalar(select(Case).where(Case.priority == CasePriority.URGENT))
        assert case.status == CaseStatus.RESOLVED
        reply = session.scalar(
            select(Outbound).where(Outbound.case_id == case.id, Outbound.provider != "twiml")
        )
        assert reply is not None and reply.priority == 10
    engine.dispose()


def test_roles_and_csrf_in_the_browser(server, browser, artifacts):
    base, _ = server
    hotline = browser.new_page(locale="es-GT")
    _login(hotline, base, "ana")
    response = hotline.goto(f"{base}/campaigns")
    assert response is not None and response.status == 403
    # A form submitted without its CSRF token (e.g. posted from another site) is refused.
    hotline.goto(f"{base}/inbox")
    hotline.locator("tr.case-row a").first.click()
    hotline.wait_for_load_state()
    case_url = hotline.url
    hotline.evaluate("document.querySelectorAll('.notes input[name=csrf_token]').forEach(e => e.remove())")
    hotline.fill(".notes textarea[name=body]", "sin token")
    with hotline.expect_response(lambda r: r.request.method == "POST") as posted:
        hotline.click("text=Guardar nota")
    assert posted.value.status == 403
    hotline.goto(case_url)
    assert "sin token" not in hotline.content()

    manager = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="es-GT")
    _login(manager, base, "mario")
    manager.goto(f"{base}/campaigns/ofertas-falsas")
    assert "planificados" in manager.locator(".funnel").inner_text()
    assert manager.locator("section.activity svg.chart polyline").count() == 3
    assert "30003" in manager.content()
    manager.screenshot(path=str(artifacts / "campaign.png"), full_page=True)


def test_hotline_staff_confirm_an_unclear_opt_out_in_the_case_page(server, browser, artifacts):
    from audiences.models import Contact, ContactStatus

    base, url = server
    engine = make_engine(url)
    params = inbound_params("STOP, mi esposo me pega si ve estos mensajes", phone="+50231000009")
    with make_sessionmaker(engine).begin() as session:
        handle_inbound(session, url=inbound_url(), params=params, signature=sign(inbound_url(), params),
                       settings=settings(), now=utcnow())
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="es-GT")
    _login(page, base, "ana")
    page.locator("tr.case-row", has_text="mi esposo me pega").locator("a").click()
    assert page.locator(".opt-out-question").count() == 1
    assert "danger:me pega" in page.locator(".thread").inner_text()  # the cues, for staff
    page.check("input[name=outcome][value=information]")
    page.click("text=Resolver")
    assert page.locator(".opt-out-question").count() == 1  # resolved, the question stays
    page.screenshot(path=str(artifacts / "case-opt-out-question.png"), full_page=True)
    page.locator("form[action$='/opt-out-question'] button").first.click()  # yes: opt out
    assert page.locator(".opt-out-question").count() == 0
    with make_sessionmaker(engine)() as session:
        contact = session.scalar(select(Contact).where(Contact.phone_is("+50231000009")))
        assert contact.status == ContactStatus.OPTED_OUT
    engine.dispose()
