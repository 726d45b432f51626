"""Bad web input is a 4xx, never a 500: every route of the app, walked with hostile ids and bodies,
on SQLite and PostgreSQL; provider webhooks with NUL bytes and over-long fields.

Numbers, users and texts are synthetic test data.
"""

from __future__ import annotations

import re
import warnings

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from audiences.models import Contact
from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.models import Inbound
from campaign.hotline.users import create_user
from campaign.web import create_app
from tests.campaign.web.helpers import inbound_params, inbound_url, settings, sign, status_url
from tests.campaign.web.test_app import PASSWORD, csrf_of, receive

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

HOSTILE_IDS = ["9" * 30, str(2**63), "-1", "0", "abc", "1.5", "%00", "x" * 3000, "%F0%9F%92%A3"]
HOSTILE_VALUES = ["\x00", "a\x00b", "9" * 40, "-" + "9" * 40, "x" * 100_000, "\ud7ff", "", "=1+1"]


@pytest.fixture
def client(engine):
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="root", password=PASSWORD, role="admin", now=utcnow())
    receive(engine, "hola, necesito información", phone="+50255550101")
    app = create_app(settings())
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        token = csrf_of(client.get("/login").text)
        client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": token})
        client.routes_of = app.routes  # type: ignore[attr-defined]
        yield client


def _routes(client) -> list[tuple[str, str]]:
    """(method, path) of every API route, included routers walked (FastAPI wraps them)."""
    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.extend((m, prefix + route.path) for m in sorted(route.methods - {"HEAD"}))
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + route.include_context.prefix)

    walk(client.routes_of, "")
    return found


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_every_route_answers_hostile_ids_and_bodies_with_a_4xx(client):
    routes = _routes(client)
    assert len(routes) > 20  # the walk reaches the whole app, not a handful
    token = csrf_of(client.get("/inbox").text)
    failures: list[str] = []
    for method, path in routes:
        if path == "/logout":  # walked last, by the fixture's teardown: it would end the walk here
            continue
        ids = HOSTILE_IDS if "{" in path else [""]
        for hostile_id in ids:
            url = _fill(path, hostile_id)
            if method == "GET":
                for value in HOSTILE_VALUES[:4]:
                    response = client.get(
                        url, params={"status": value, "page": value, "q": value, "seen": value}
                    )
                    if response.status_code >= 500:
                        failures.append(f"GET {url} ?…={value[:12]!r}: {response.status_code}")
                continue
            for value in HOSTILE_VALUES:
                form = {
                    name: value
                    for name in (
                        "body",
                        "status",
                        "outcome",
                        "referred_to",
                        "assignee",
                        "title",
                        "language",
                        "note",
                    )
                }
                response = client.request(method, url, data={**form, "csrf_token": token})
                if response.status_code >= 500:
                    failures.append(f"{method} {url} form={value[:12]!r}: {response.status_code}")
    assert failures == []


def _post_signed(client, url, params):
    return client.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})


def test_an_inbound_message_with_a_nul_is_stored_without_it(client, engine):
    params = inbound_params("auxilio\x00 me tienen encerrada", phone="+50255550102")
    response = _post_signed(client, inbound_url("http://127.0.0.1:8000"), params)
    assert response.status_code == 200
    with make_sessionmaker(engine).begin() as session:
        stored = session.scalar(select(Inbound).where(Inbound.provider_sid == params["MessageSid"]))
        assert stored is not None and stored.body == "auxilio me tienen encerrada"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MessageSid", "SM" + "f" * 5000),
        ("MessageSid", "SM\x00abc"),
        ("To", "+502" + "1" * 500),
        ("From", "+502" + "5" * 500),
        ("From", "+502\x005555"),
        ("To", "\x00"),
    ],
)
def test_a_signed_inbound_with_an_over_long_or_nul_field_is_a_400_and_stores_nothing(
    client, engine, field, value
):
    params = {**inbound_params("hola", phone="+50255550103"), field: value}
    response = _post_signed(client, inbound_url("http://127.0.0.1:8000"), params)
    assert response.status_code == 400, response.text
    assert field in response.text
    with make_sessionmaker(engine).begin() as session:
        # Only the fixture's own message is stored (bodies are encrypted: read, then compare).
        assert session.scalars(select(Inbound.body)).all() == ["hola, necesito información"]
        assert session.scalar(select(func.count()).select_from(Contact)) == 1


@pytest.mark.parametrize(
    ("outbound", "field", "value"),
    [
        ("9" * 30, None, None),
        (str(2**63), None, None),
        (None, "MessageSid", "SM" + "a" * 5000),
        (None, "ErrorCode", "3" * 500),
        (None, "MessageStatus", "delivered\x00"),
    ],
)
def test_a_signed_status_callback_with_hostile_fields_is_a_4xx(client, outbound, field, value):
    url = status_url(None)
    if outbound is not None:
        url = f"{url}?outbound={outbound}"
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    if field is not None:
        params[field] = value
    response = _post_signed(client, url, params)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
