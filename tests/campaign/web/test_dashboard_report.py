"""The dashboard shows the figures of `campaign report --json` (one function computes both), and
charts the campaign's own active period, not the wall clock's last 14 days."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from campaign.core.db import utcnow
from campaign.hotline.models import Inbound, Intent
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.factories import make_blast, make_contact, make_outbound
from tests.subprocess_cli import run_json

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
DAY = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)  # 10:00 in Guatemala, in 2027 like the demo


def _seed(session) -> str:
    """A running campaign whose rows exercise every definition the two surfaces disagreed on:
    skipped rows, a failure after the provider accepted the message, two replies from one contact,
    an opt-out, rows still queued."""
    occurrence = make_blast(session, status="completed")
    campaign = occurrence.step.campaign
    campaign.launched_at = DAY - timedelta(hours=1)
    rows = {}
    for name, status, extra in [
        ("delivered", "delivered", {"sent_at": DAY, "delivered_at": DAY + timedelta(minutes=2)}),
        ("delivered2", "delivered", {"sent_at": DAY + timedelta(days=1),
                                     "delivered_at": DAY + timedelta(days=1, minutes=1)}),
        ("failed_after_send", "failed", {"sent_at": DAY, "error_code": "30003"}),
        ("undelivered", "undelivered", {"sent_at": DAY, "error_code": "30005"}),
        ("failed_at_send", "failed", {"error_code": "21211"}),
        ("skipped", "skipped", {"skip_reason": "no_translation"}),
        ("skipped2", "skipped", {"skip_reason": "open_case"}),
        ("queued", "queued", {}),
        ("sent", "sent", {"sent_at": DAY + timedelta(days=2)}),
    ]:
        rows[name] = make_outbound(session, contact=make_contact(session), occurrence=occurrence,
                                   status=status, **extra)
    for n, (row, intent, minutes) in enumerate([
        ("delivered", Intent.REPLY, 10),
        ("delivered", Intent.HELP, 20),
        ("delivered2", Intent.OPT_OUT, 60 * 24 + 5),
        ("sent", Intent.URGENT, 60 * 48 + 5),
    ]):
        outbound = rows[row]
        session.add(Inbound(
            provider_sid=f"SMtest{n:026d}", contact_id=outbound.contact_id, body="respuesta sintética",
            intent=intent, outbound_id=outbound.id, campaign_id=campaign.id,
            received_at=DAY + timedelta(minutes=minutes),
        ))
    create_user(session, username="mario", password=PASSWORD, role="manager", now=utcnow())
    session.commit()
    return campaign.slug


def _login(client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": "mario", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303


def _shown(html: str, name: str) -> int:
    match = re.search(rf'data-total="{name}"><strong>(\d+)</strong>', html)
    assert match, f"the page shows no {name} total"
    return int(match.group(1))


@pytest.fixture
def client(engine):
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


def test_dashboard_shows_the_json_reports_totals(db_url, session, client):
    slug = _seed(session)
    report = run_json("report", slug, "--json", db_url=db_url)
    totals = report["totals"]
    assert totals["planned"] == 7 and totals["sent"] == 5 and totals["skipped"] == 2
    assert totals["replies"] == 4 and totals["opt_outs"] == 1 and totals["help_requests"] == 2
    _login(client)
    page = client.get(f"/campaigns/{slug}")
    assert page.status_code == 200
    for name in ("planned", "sent", "delivered", "replies", "opt_outs", "skipped"):
        assert _shown(page.text, name) == totals[name], name
    listing = client.get("/campaigns").text
    row = re.search(rf'<tr data-campaign="{slug}">(.*?)</tr>', listing, flags=re.S).group(1)
    for name in ("planned", "sent", "replies"):
        assert re.search(rf'data-total="{name}">(\d+)<', row).group(1) == str(totals[name]), name


def test_chart_covers_the_campaigns_own_period(db_url, session, client):
    slug = _seed(session)
    totals = run_json("report", slug, "--json", db_url=db_url)["totals"]
    _login(client)
    html = client.get(f"/campaigns/{slug}").text
    # The campaign ran 11-13 January 2027 (local days); the real clock is elsewhere.
    assert 'data-first="2027-01-11" data-last="2027-01-13"' in html

    def points(series: str) -> dict[str, int]:
        pattern = rf'data-series="{series}" data-day="([\d-]+)" data-value="(\d+)"'
        return {day: int(n) for day, n in re.findall(pattern, html)}

    sent, replies = points("sent"), points("replies")
    assert sent == {"2027-01-11": 3, "2027-01-12": 1, "2027-01-13": 1}
    assert sum(sent.values()) == totals["sent"]
    assert sum(replies.values()) == totals["replies"]
