"""A contact's voice note in Chromium (issue 16's acceptance): playable by hotline staff on the case
page, refused to a producer, each listen in the audit log. SQLite, uvicorn on 127.0.0.1, the
sandbox provider: the voice note is a SYNTHETIC sine tone (campaign/providers/sandbox_media.py),
from a made-up number."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_engine, make_sessionmaker, utcnow
from campaign.hotline.models import Case, InboundMedia, MediaStatus
from campaign.hotline.users import create_user
from campaign.providers.sandbox import SandboxProvider
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
PHONE = "+50231000088"  # made up
DURATION = """async () => {
  const audio = document.querySelector("figure.media audio");
  if (audio.readyState < 1) {
    await new Promise((loaded, failed) => {
      audio.addEventListener("loadedmetadata", loaded, {once: true});
      const code = () => audio.error && audio.error.code;
      audio.addEventListener("error", () => failed(new Error("media error " + code())), {once: true});
    });
  }
  return audio.duration;
}"""


@pytest.fixture
def live(sqlite_template, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    path = tmp_path / "media.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=utcnow())
        create_user(session, username="pia", password=PASSWORD, role="producer", now=utcnow())
    cfg = settings()
    SandboxProvider(cfg).simulate_voice_note(engine, phone=PHONE, now=utcnow(), settings=cfg)
    engine.dispose()
    with serve(create_app(cfg)) as base:
        yield base, url


def _login(browser, base: str, username: str):
    page = browser.new_context(locale="es-GT").new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _read(url: str, statement):
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        found = session.execute(statement).all()
    engine.dispose()
    return found


def test_hotline_staff_play_the_voice_note_and_a_producer_is_refused(live, artifacts):
    base, url = live
    ((case_id,),) = _read(url, select(Case.id))
    ((media_id, status),) = _read(url, select(InboundMedia.id, InboundMedia.status))
    assert status == MediaStatus.PENDING  # the webhook downloads nothing
    with chromium() as browser:
        ana = _login(browser, base, "ana")
        ana.goto(f"{base}/cases/{case_id}")  # opening the case downloads the voice note
        player = ana.locator(f'figure.media[data-media="{media_id}"] audio')
        player.wait_for()
        assert "Nota de voz del contacto" in ana.locator("#thread").inner_text()
        assert ana.evaluate(DURATION) > 0
        ana.screenshot(path=str(artifacts / "case-voice-note.png"), full_page=True)

        pia = _login(browser, base, "pia")
        refused = pia.goto(f"{base}/cases/{case_id}/media/{media_id}")
        assert refused is not None and refused.status == 403
        assert refused.headers["content-type"].startswith("text/html")
    views = _read(
        url, select(AuditEvent.actor, AuditEvent.target_id).where(AuditEvent.action == "media.view")
    )
    assert views and {actor for actor, _ in views} == {"ana"}
    assert {target for _, target in views} == {media_id}
