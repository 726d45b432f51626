"""The web app's errors speak the request's language: Spanish by default, English when asked.

A provider webhook carries no Accept-Language: its 400/403 answers are in the deployment's default
(Spanish). A page's 404 is in the language the browser asks for. Numbers are synthetic test data.
"""

from __future__ import annotations

import html
import warnings

import pytest

from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign, status_url
from tests.campaign.web.test_app import PASSWORD, csrf_of

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def client(engine, monkeypatch):
    monkeypatch.delenv("CAMPAIGN_LOCALE")  # the deployment's default, as shipped (the conftest asks for en)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="root", password=PASSWORD, role="admin", now=utcnow())
    with TestClient(create_app(settings()), follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


def _post(client, url, params, headers=None):
    signed = {"X-Twilio-Signature": sign(url, params), **(headers or {})}
    return client.post(url.removeprefix("http://127.0.0.1:8000"), data=params, headers=signed)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_malformed_webhook_is_answered_in_spanish_by_default(client):
    params = {k: v for k, v in inbound_params("hola", phone="+50255550111").items() if k != "From"}
    spanish = _post(client, inbound_url(), params)
    assert (spanish.status_code, spanish.text) == (400, "From: falta un campo obligatorio del formulario")
    english = _post(client, inbound_url(), params, ENGLISH)
    assert (english.status_code, english.text) == (400, "From: required form field is missing")

    short = _post(client, inbound_url(), inbound_params("hola", phone="12"))
    assert (short.status_code, short.text) == (400, "From: demasiado corto")

    bad_id = _post(client, status_url(base="http://127.0.0.1:8000") + "?outbound=abc",
                   {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert bad_id.status_code == 400 and "no es un id de mensaje saliente: 'abc'" in bad_id.text

    unsigned = client.post("/twilio/inbound", data=inbound_params("hola", phone="+50255550112"))
    assert (unsigned.status_code, unsigned.text) == (403, "webhook: falta X-Twilio-Signature")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_missing_campaign_is_named_in_the_browsers_language(client):
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": token})
    page = {"Accept": "text/html"}
    spanish = client.get("/campaigns/no-existe", headers={**page, "Accept-Language": "es-GT,es;q=0.9"})
    assert spanish.status_code == 404
    assert "no se encontró la campaña 'no-existe'" in html.unescape(spanish.text)
    english = client.get("/campaigns/no-existe", headers={**page, **ENGLISH})
    assert "campaign 'no-existe' not found" in html.unescape(english.text)
