"""In Chromium, as a manager: the campaign form's channel select offers SMS, WhatsApp, "WhatsApp, si
no SMS" and radio; choosing a WhatsApp channel shows the note on the 24-hour window and hides the
radio stations, radio shows the stations; the saved campaign exports `channel: [whatsapp, sms]`.

Fresh database: `campaign init`, the shipped pack and a SYNTHETIC sample audience through the CLI.
SQLite only, like the other browser tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from campaign.web import create_app
from tests.campaign.web.helpers import PASSWORD, fresh_manager_database, settings
from tests.campaign.web.live_server import chromium, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    fresh_manager_database(url, tmp_path, contacts=20)
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    with serve(create_app(settings())) as base:
        yield base


def test_channel_select_shows_what_each_channel_needs_and_saves_the_list(server, artifacts):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, locale="es-GT")
        page.goto(f"{server}/login")
        page.fill("input[name=username]", "mario")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/**")
        page.goto(f"{server}/campaigns/new")
        select = page.locator('select[name="steps[0].channel"]')
        labels = select.locator("option").all_inner_texts()
        assert [t.strip() for t in labels] == ["SMS", "WhatsApp", "WhatsApp, si no SMS", "radio"]
        step = page.locator('fieldset.step[data-step="0"]')
        note = step.locator(".whatsapp-note")
        stations = step.locator('[data-channels="radio"]')
        assert not note.is_visible() and not stations.is_visible()  # SMS: neither
        select.select_option("whatsapp,sms")
        assert note.is_visible() and "24 horas" in note.inner_text() and not stations.is_visible()
        select.select_option("radio")
        assert stations.is_visible() and not note.is_visible()
        select.select_option("whatsapp,sms")
        page.screenshot(path=str(artifacts / "campaign-form-whatsapp.png"), full_page=True)

        page.fill('[name="slug"]', "aviso-whatsapp")
        page.fill('[name="name"]', "Aviso por WhatsApp (sintético)")
        page.fill('[name="steps[0].id"]', "aviso")
        page.select_option('[name="steps[0].message"]', "oferta-trabajo-falsa")
        page.select_option('[name="steps[0].segment"]', "border_youth")
        page.check('input[name="steps[0].schedule"][value=at]')
        page.fill('[name="steps[0].at"]', "2027-01-11 10:00")
        page.fill('[name="steps[0].fallback"]', "contact, es")
        page.click("text=Guardar campaña")
        page.wait_for_url(f"{server}/campaigns/aviso-whatsapp/preview")
        assert page.locator('section.preview-step[data-step="aviso"]').is_visible()
        exported = page.request.get(f"{server}/campaigns/aviso-whatsapp/export.yaml")
        assert yaml.safe_load(exported.text())["steps"][0]["channel"] == ["whatsapp", "sms"]
        page.goto(f"{server}/campaigns/aviso-whatsapp/edit")
        assert page.locator('select[name="steps[0].channel"]').input_value() == "whatsapp,sms"
        assert page.locator('fieldset.step[data-step="0"] .whatsapp-note').is_visible()
