"""A producer in Chromium uploads a recording on the radio page, sees its length against the slot, plays it.

The audio is a SYNTHETIC tone made by `write_synthetic_tone`, never a recording of a person.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.radio.audio import write_synthetic_tone
from campaign.radio.models import Recording
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.live_server import chromium, serve
from tests.factories import RADIO_SCRIPT_ES, RADIO_SCRIPT_MAM, make_radio_spot

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def server(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    path = tmp_path / "recordings.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    monkeypatch.setenv("CAMPAIGN_MEDIA_DIR", str(tmp_path / "media"))
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="pilar", password=PASSWORD, role="producer", now=utcnow())
        make_radio_spot(session, slug="spot-navegador", slot_seconds=30,
                        scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
    engine.dispose()
    with serve(create_app(settings())) as base:
        yield base, url


def test_producer_uploads_a_recording_sees_its_length_against_the_slot_and_plays_it(
    server, tmp_path, artifacts
):
    base, url = server
    mp3 = write_synthetic_tone(tmp_path / "synthetic-mam.mp3", seconds=12.0, fmt="mp3")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="es-GT")
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "pilar")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/radio")
        assert "Todavía no hay grabaciones." in page.locator("#recordings").inner_text()

        page.select_option("select[name=spot]", "spot-navegador")
        page.select_option("select[name=lang]", "mam")
        page.set_input_files("input[name=file]", str(mp3))
        page.click("button:has-text('Subir grabación')")
        page.wait_for_url(f"{base}/radio#recordings", timeout=180_000)  # decoded, measured, transcoded
        flashes = " ".join(page.locator(".flash").all_inner_texts())
        assert "Grabación guardada: spot-navegador (mam), 12.0 s de 30 s" in flashes, flashes
        assert "LUFS integrados" in flashes and "calibrado" in flashes
        row = page.locator("tr[data-spot=spot-navegador][data-lang=mam]")
        assert row.locator(".length").inner_text() == "12.0 s de 30 s"
        assert "LUFS" in row.locator(".loudness").inner_text()

        # the player loads the voice note through the staff's route and knows its length
        page.wait_for_function(
            "() => { const a = document.querySelector('tr[data-lang=mam] audio');"
            " return a && a.readyState >= 1 && isFinite(a.duration); }",
            timeout=120_000,
        )
        duration = page.evaluate("() => document.querySelector('tr[data-lang=mam] audio').duration")
        assert duration == pytest.approx(12.0, abs=0.1)
        page.evaluate("() => { const a = document.querySelector('tr[data-lang=mam] audio'); a.muted = true;"
                      " return a.play(); }")
        page.wait_for_function("() => document.querySelector('tr[data-lang=mam] audio').currentTime > 0",
                               timeout=120_000)  # it plays: time moves (however slow the machine)
        page.screenshot(path=str(artifacts / "radio-recording-uploaded.png"), full_page=True)
        assert not [p for p in problems if "Content Security Policy" in p], problems
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        recording = session.scalars(select(Recording)).one()
        assert (recording.language, recording.uploaded_by) == ("mam", "pilar")
        assert recording.original_format == "mp3"
    engine.dispose()
