"""Acceptance, in Chromium at phone width (390 px), as a manager: create a two-step campaign in the
form, preview it, launch it (confirmed), run one scheduler tick, read the report, cancel it. The
database then holds what the CLI makes from the same campaign file, and the report shows what
`campaign report --json` says. Hotline staff get 403. Screenshots of each page in test-artifacts/.

Fresh databases: `campaign init`, the shipped pack and a SYNTHETIC sample audience, through the
CLI (tests/campaign/web/helpers.fresh_manager_database). SQLite only, like the other browser tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from campaign.blasts.models import Campaign, Occurrence, Outbound, Step
from campaign.core.db import make_engine, make_sessionmaker
from campaign.web import create_app
from tests.campaign.web.helpers import PASSWORD, fresh_manager_database, settings
from tests.campaign.web.live_server import chromium, serve
from tests.subprocess_cli import run_cli, run_json

pytestmark = pytest.mark.browser

TICK_AT = "2027-01-11T16:05:00Z"  # Monday 10:05 in Guatemala: both steps are due
RRULE = "FREQ=WEEKLY;INTERVAL=4;BYDAY=MO;BYHOUR=10;BYMINUTE=0;COUNT=3"
CAMPAIGN_FILE = {
    "slug": "alerta-web",
    "name": "Alerta desde la web",
    "timezone": "America/Guatemala",
    "send_window": {"start": "08:00", "end": "20:00", "weekend": {"sun": None}},
    "variables": {"hotline_mujer": "1572", "policia": "110"},
    "steps": [
        {
            "id": "aviso",
            "channel": "sms",
            "message": "oferta-trabajo-falsa",
            "segment": "parents_of_adolescents",
            "at": "2027-01-11 10:00",
            "fallback": ["contact", "es"],
            "encoding": "fold",
            "deadline": "72h",
        },
        {
            "id": "derechos",
            "channel": "sms",
            "message": "derechos-mujer",
            "segment": "single_mother_households",
            "rrule": RRULE,
            "starts": "2027-01-11",
            "fallback": ["contact", "es"],
        },
    ],
}


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    fresh_manager_database(url, tmp_path)
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    with serve(create_app(settings())) as base:
        yield base, url


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
    return page


def _shot(page, artifacts: Path, name: str) -> None:
    """A full-page screenshot, after checking the page does not scroll sideways at 390 px."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name}: the page is {width}px wide at a 390px viewport"
    page.screenshot(path=str(artifacts / f"campaign-{name}.png"), full_page=True)


def _fill_step(page, i: int, step: dict) -> None:
    p = f"steps[{i}]."
    page.fill(f'[name="{p}id"]', step["id"])
    page.select_option(f'[name="{p}message"]', step["message"])
    page.select_option(f'[name="{p}segment"]', step["segment"])
    kind = "rrule" if "rrule" in step else "at"
    page.check(f'input[name="{p}schedule"][value={kind}]')
    if kind == "at":
        page.fill(f'[name="{p}at"]', step["at"])
    else:
        page.fill(f'[name="{p}rrule"]', step["rrule"])
        page.fill(f'[name="{p}starts"]', step["starts"])
    page.fill(f'[name="{p}fallback"]', ", ".join(step["fallback"]))
    if step.get("encoding"):
        page.select_option(f'[name="{p}encoding"]', step["encoding"])
    if step.get("deadline"):
        page.fill(f'[name="{p}deadline"]', step["deadline"])


def _snapshot(url: str) -> dict:
    """What a campaign made in the database, without ids or wall-clock times: the campaign, its
    steps, its occurrences and its outbound messages counted per step, language and status."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "alerta-web"))
        assert campaign is not None
        head = {
            f: getattr(campaign, f)
            for f in (
                "name",
                "status",
                "timezone",
                "window_start",
                "window_end",
                "weekend_window",
                "variables",
                "max_per_hour",
                "price_per_segment",
                "spec",
            )
        }
        steps = [
            {
                f: getattr(s, f)
                for f in (
                    "key",
                    "position",
                    "channel",
                    "message_id",
                    "segment_slug",
                    "query",
                    "at",
                    "rrule",
                    "starts",
                    "offset",
                    "fallback",
                    "encoding",
                    "deadline_hours",
                    "variants",
                    "version",
                )
            }
            for s in session.scalars(
                select(Step).where(Step.campaign_id == campaign.id).order_by(Step.position)
            )
        ]
        keys = {s.id: s.key for s in session.scalars(select(Step).where(Step.campaign_id == campaign.id))}
        occurrences = sorted(
            (keys[o.step_id], o.scheduled_at.isoformat(), str(o.status))
            for o in session.scalars(select(Occurrence).where(Occurrence.step_id.in_(list(keys))))
        )
        outbound = Counter(
            (keys.get(step_id, "-"), language, str(status))
            for step_id, language, status in session.execute(
                select(Outbound.step_id, Outbound.language, Outbound.status).where(
                    Outbound.campaign_id == campaign.id
                )
            )
        )
    engine.dispose()
    return {"campaign": head, "steps": steps, "occurrences": occurrences, "outbound": dict(outbound)}


def test_a_manager_runs_a_whole_campaign_from_the_browser(server, browser, artifacts, tmp_path):
    base, url = server
    page = _page(browser, base, "mario")
    page.goto(f"{base}/campaigns/import")
    _shot(page, artifacts, "import")
    page.goto(f"{base}/campaigns")
    _shot(page, artifacts, "list")
    page.click("text=Nueva campaña")
    assert page.url.endswith("/campaigns/new")
    page.fill('[name="slug"]', CAMPAIGN_FILE["slug"])
    page.fill('[name="name"]', CAMPAIGN_FILE["name"])
    page.fill('[name="send_window.weekend.sun"]', "cerrado")
    page.fill('[name="variables"]', 'hotline_mujer: "1572"\npolicia: "110"')
    _fill_step(page, 0, CAMPAIGN_FILE["steps"][0])
    page.click("text=Añadir un paso")
    assert page.locator("fieldset.step").count() == 2
    assert page.input_value('[name="steps[0].id"]') == "aviso"  # kept across the round trip
    second = {**CAMPAIGN_FILE["steps"][1], "rrule": "FREQ=HOURLY;COUNT=3"}
    _fill_step(page, 1, second)
    # Only the chosen schedule's inputs show (campaign_form.js): recurring hides "once, at".
    assert page.locator('[name="steps[1].at"]').is_hidden()
    assert page.locator('[name="steps[0].rrule"]').is_hidden()
    _shot(page, artifacts, "form")
    page.click("text=Guardar campaña")
    # Hourly to the same people is refused for SMS, in the CLI's own words, next to the field.
    error = page.locator('[data-error-for="steps[1].rrule"]')
    assert error.count() == 1 and "steps[1].rrule" in error.inner_text()
    assert page.locator(".errors-summary").count() == 1
    _shot(page, artifacts, "form-error")
    page.fill('[name="steps[1].rrule"]', RRULE)
    page.click("text=Guardar campaña")

    assert page.url.endswith("/campaigns/alerta-web/preview")
    preview = run_json("preview", "alerta-web", "--json", db_url=url)
    for step in preview["steps"]:
        section = page.locator(f'section.preview-step[data-step="{step["step"]}"]')
        assert section.locator('[data-fact="recipients"]').inner_text() == str(step["recipients"])
        assert "es: " in section.locator('[data-fact="languages"]').inner_text()
    assert step["recipients"] > 0
    _shot(page, artifacts, "preview")

    page.click("text=Lanzar…")
    question = page.locator("#launch-question").inner_text()
    recipients = preview["totals"]["recipients_next_firing"]
    assert f"{recipients} destinatarios" in question
    assert f"{preview['totals']['cost_next_firing']:.2f}" in question
    _shot(page, artifacts, "launch")
    page.click("text=Sí, lanzar la campaña")
    assert page.url.endswith("/campaigns/alerta-web")
    assert page.locator("h1 .status").get_attribute("data-status") == "scheduled"
    assert "programada" in page.locator("h1 .status").inner_text()
    page.click("button:has-text('Pausar')")
    assert page.locator("h1 .status").get_attribute("data-status") == "paused"
    assert "pausada" in page.locator(".flash").inner_text()
    page.click("button:has-text('Reanudar')")
    assert page.locator("h1 .status").get_attribute("data-status") == "scheduled"

    ticked = run_cli("tick", "--now", TICK_AT, db_url=url)
    assert ticked.returncode == 0, ticked.stderr
    page.reload()
    report = run_json("report", "alerta-web", "--json", db_url=url)
    assert report["totals"]["planned"] > 0
    for key in ("planned", "sent", "delivered", "replies"):
        bar = page.locator(f'svg.bars [data-bar="{key}"]')
        assert bar.get_attribute("data-value") == str(report["totals"][key])
    for row in report["rows"]:
        cells = page.locator(
            f'table.report-table tr[data-step="{row["step"]}"][data-language="{row["language"]}"]'
        )
        for column in (
            "planned",
            "sent",
            "delivered",
            "failed",
            "skipped",
            "replies",
            "opt_outs",
            "segments",
        ):
            assert cells.locator(f'td[data-column="{column}"]').inner_text() == str(row[column])
    assert page.locator('th[data-column="planned"]').inner_text() == "planificados"
    with page.expect_download() as download:
        page.click("text=Descargar CSV")
    csv = Path(download.value.path()).read_text(encoding="utf-8")
    assert len(csv.strip().splitlines()) == len(report["rows"]) + 1
    assert csv.splitlines()[0].startswith("paso,segmento,idioma,canal,planificados,enviados")
    _shot(page, artifacts, "report")

    page.goto(f"{base}/campaigns")
    row = page.locator('tr[data-campaign="alerta-web"]')
    assert row.locator('td[data-total="planned"]').inner_text() == str(report["totals"]["planned"])
    _shot(page, artifacts, "list-running")
    row.locator("a").click()
    page.click("text=Cancelar campaña…")
    _shot(page, artifacts, "cancel")
    page.click("text=Sí, cancelar la campaña")
    assert page.locator("h1 .status").get_attribute("data-status") == "cancelled"
    _shot(page, artifacts, "cancelled")

    # The CLI, from the same campaign file, on a database made the same way, makes the same.
    other = tmp_path / "cli"
    other.mkdir()
    cli_url = f"sqlite:///{other / 'cli.db'}"
    fresh_manager_database(cli_url, other)
    file = other / "alerta-web.yaml"
    file.write_text(yaml.safe_dump(CAMPAIGN_FILE, allow_unicode=True), encoding="utf-8")
    for args in (
        ("create", str(file)),
        ("launch", "alerta-web", "--yes"),
        ("tick", "--now", TICK_AT),
        ("cancel", "alerta-web"),
    ):
        result = run_cli(*args, db_url=cli_url)
        assert result.returncode == 0, (args, result.stderr)
    assert _snapshot(url) == _snapshot(cli_url)


def test_hotline_staff_cannot_open_the_campaign_pages(server, browser):
    base, _url = server
    page = _page(browser, base, "ana")
    for path in ("/campaigns/new", "/campaigns/import", "/campaigns/x/preview", "/campaigns/x/launch"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
