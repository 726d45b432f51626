"""Acceptance, in Chromium at phone width (390 px) and in Spanish, as a manager: upload the
SYNTHETIC sample audience (`campaign audiences sample`), fix one column's mapping by hand, dry
run, import; the figures are the CLI's for the same file. Then build a segment with the live
count (the CLI's count by department), see a bad query's error at its column, save it; look a
contact up and opt them out. A hotline user gets 403. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audiences.models import Contact, ContactStatus, Segment
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.live_server import chromium, serve
from tests.subprocess_cli import run_cli, run_json

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
FIGURES = ("rows", "would_import", "would_update", "would_leave_unchanged", "duplicates", "rejected")
QUERY = 'language in ("mam", "quc") and age between 15 and 40'


@pytest.fixture
def server(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str, Path]]:
    path = tmp_path / "contacts.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="mario", password=PASSWORD, role="manager", now=utcnow())
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=utcnow())
    engine.dispose()
    sample = tmp_path / "muestra.csv"
    made = run_cli("audiences", "sample", "--n", "400", "--seed", "11", "--out", str(sample), db_url=url)
    assert made.returncode == 0, made.stderr
    with serve(create_app(settings())) as base:
        yield base, url, sample


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _page(browser, base: str, username: str):
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="es-GT")
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: not url.endswith("/login"))  # logged in: the home page has loaded
    page.wait_for_load_state()
    return page


def _shot(page, artifacts: Path, name: str) -> None:
    """A full-page screenshot, after checking the page does not scroll sideways at 390 px."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name}: the page is {width}px wide at a 390px viewport"
    page.screenshot(path=str(artifacts / f"contacts-{name}.png"), full_page=True)


def _figures(page) -> dict[str, int]:
    out = {}
    for stage in page.locator("[data-figure]").all():
        out[stage.get_attribute("data-figure")] = int(stage.locator("strong").inner_text())
    return out


def test_a_manager_imports_the_sample_and_builds_a_segment(server, browser, artifacts):
    base, url, sample = server
    page = _page(browser, base, "mario")
    page.click("header nav >> text=Contactos")
    page.wait_for_url(f"{base}/contacts")
    assert "Importar un archivo" in page.inner_text("main")
    _shot(page, artifacts, "upload")

    page.set_input_files("input[name=file]", str(sample))
    page.click("text=Subir y asignar las columnas")
    page.wait_for_url(f"{base}/contacts/import")
    phone_select = page.locator('label.map-row[data-column="teléfono"] select')
    assert phone_select.input_value() == "phone"  # guessed from the header, as the CLI guesses
    page.select_option('label.map-row[data-column="nombre"] select', "ignore")  # fixed by hand
    page.check("input[name=partial]")
    _shot(page, artifacts, "mapping")

    cli = run_json(
        "audiences", "import", str(sample), "--dry-run", "--partial", "--map", "nombre=ignore", "--json",
        db_url=url,
    )
    page.click("text=Simulación (no escribe nada)")
    assert "Simulación: todavía no se escribió nada" in page.inner_text("main")
    shown = _figures(page)
    assert {k: shown[k] for k in FIGURES} == {k: cli[k] for k in FIGURES}
    reasons = {
        row.get_attribute("data-reason"): int(row.locator("td.n").inner_text())
        for row in page.locator("tr[data-reason]").all()
    }
    assert reasons == cli["rejected_by_reason"] and cli["rejected"] > 0
    assert "teléfono: " in page.inner_text("table.reasons")  # the CLI's reasons, said in Spanish
    assert page.locator('label.map-row[data-column="nombre"] select').input_value() == "ignore"
    _shot(page, artifacts, "dry-run")

    page.click("button:has-text('Importar')")
    assert "Importación hecha" in page.inner_text(".flash")
    assert _figures(page)["would_import"] == cli["would_import"]
    with page.expect_download() as download:
        page.click("text=Descargar el informe")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert report.splitlines()[0] == "fila,columna,valor,motivo" and len(report.splitlines()) > 1
    assert "teléfono: " in report  # the reasons as the page says them
    _shot(page, artifacts, "imported")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == cli["would_import"]
        assert session.scalars(select(Contact.name).where(Contact.name.is_not(None))).all() == []
        phone = session.scalars(select(Contact.phone).order_by(Contact.id)).first()

    # A segment, built with the live count.
    expected = run_json("audiences", "count", QUERY, "--by", "department", "--json", db_url=url)
    page.click("header nav >> text=Segmentos")
    page.wait_for_url(f"{base}/segments")
    assert page.locator("article.segment.builtin").count() >= 5
    assert "Jóvenes de frontera (13-24)" in page.inner_text('article.segment[data-slug="border_youth"]')
    page.locator("#query").press_sequentially('language in ("mam", "quc") and age >', delay=15)
    page.wait_for_selector("#query-error .caret mark.at")
    assert "la consulta termina antes de tiempo (columna 37)" in page.inner_text("#query-error")
    _shot(page, artifacts, "segment-error")
    page.locator("#query").fill("")
    page.locator("#query").press_sequentially(QUERY, delay=10)
    page.wait_for_function(
        "n => document.getElementById('live-count').dataset.count === String(n)", arg=expected["count"]
    )
    departments = {
        row.get_attribute("data-department"): int(row.locator("td.n").inner_text())
        for row in page.locator("#by-department tbody tr").all()
    }
    assert departments == expected["breakdown"]
    page.fill("input[name=slug]", "jovenes_mayas")
    page.fill("input[name=name]", "Jóvenes que hablan mam o k'iche'")
    _shot(page, artifacts, "segment-builder")
    page.click("text=Guardar segmento")
    assert "Segmento jovenes_mayas guardado" in page.inner_text(".flash")
    saved = page.locator('article.segment[data-slug="jovenes_mayas"] .reach')
    assert saved.get_attribute("data-count") == str(expected["count"])
    _shot(page, artifacts, "segments")
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Segment.query).where(Segment.slug == "jovenes_mayas")) == QUERY

    # Look a contact up (the number is posted, never in the URL) and opt them out by hand.
    page.click("header nav >> text=Contactos")
    page.wait_for_url(f"{base}/contacts")
    page.fill("input[name=phone]", phone)
    page.click("button:has-text('Buscar')")
    assert phone not in page.url and phone[-8:] not in page.url
    assert re.search(r"\*\*\*\*-" + phone[-4:], page.inner_text(".contact-meta"))
    assert phone not in page.content()
    page.fill("input[name=reason]", "pidió la baja por teléfono")
    page.click("button:has-text('Dar de baja')")
    assert "dado de baja" in page.inner_text(".flash")
    assert "pidió la baja por teléfono" in page.inner_text(".consent")
    _shot(page, artifacts, "contact")
    with make_sessionmaker(engine)() as session:
        contact = session.scalars(select(Contact).order_by(Contact.id)).first()
        assert contact.status == ContactStatus.OPTED_OUT
    engine.dispose()


def test_hotline_staff_cannot_open_the_contacts_or_segments_pages(server, browser):
    base, _url, _sample = server
    page = _page(browser, base, "ana")
    assert page.locator("header nav >> text=Contactos").count() == 0
    for path in ("/contacts", "/segments", "/contacts/import"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
