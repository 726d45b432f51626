"""The radio web page: producers see spots and stations and download exports; hotline staff may not."""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from starlette.exceptions import StarletteDeprecationWarning  # type: ignore[attr-defined]

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.radio.airings import plan_airings
from campaign.web.app import create_app
from tests.campaign.web.helpers import count, settings
from tests.factories import RADIO_SCRIPT_ES, make_radio_spot, make_radio_step, make_station

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(engine):
    with make_sessionmaker(engine).begin() as session:
        for name, role in [("pia", "producer"), ("ana", "hotline")]:
            create_user(session, username=name, password=PASSWORD, role=role, now=utcnow())
        spot = make_radio_spot(session, slug="spot-web", scripts={"es": RADIO_SCRIPT_ES})
        make_station(session, slug="radio-web", name="Radio Web Sintética", languages=["es"])
        step = make_radio_step(session, message=spot, campaign_slug="campana-web",
                               rrule="FREQ=DAILY;BYHOUR=6;BYMINUTE=30;COUNT=3")
        plan_airings(session, step, now=NOW)
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


def login(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text


def test_producer_sees_spots_stations_and_downloads(engine, client):
    login(client, "pia")
    page = client.get("/radio")
    assert page.status_code == 200, page.text
    for text in ("campana-web", "spot-web", "Radio Web Sintética", "3 airings planned", 'href="/radio"'):
        assert text in page.text
    pdf = client.get("/radio/campana-web/export.pdf?station=radio-web")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "1572" in re.sub(r"\s+", " ", text) and "Radio Web Sintética" in text
    csv = client.get("/radio/campana-web/export.csv")
    assert csv.status_code == 200 and len(csv.content.decode("utf-8-sig").splitlines()) == 1 + 3
    txt = client.get("/radio/campana-web/export.txt")
    assert zipfile.ZipFile(io.BytesIO(txt.content)).namelist() == ["spot-web-es.txt"]
    with make_sessionmaker(engine)() as session:
        assert count(session, AuditEvent) >= 3


def test_hotline_staff_cannot_open_radio_and_bad_format_is_named(client):
    login(client, "ana")
    assert client.get("/radio").status_code == 403
    assert client.get("/radio/campana-web/export.pdf").status_code == 403
    client.post("/logout", data={})
    client.cookies.clear()
    login(client, "pia")
    bad = client.get("/radio/campana-web/export.odt")
    assert bad.status_code == 422 and "odt" in bad.text
