"""The segments page through a client, on SQLite and PostgreSQL: the live count equals `campaign
audiences count --by department`; bad and hostile queries answer with their column and change
nothing; save, edit and remove go through audiences/segments.py (built-ins and segments in use
refused), each audited. Data is synthetic."""

from __future__ import annotations

import re
import warnings

import pytest
from sqlalchemy import func, select, update

from audiences.models import Contact, Segment
from campaign.blasts.models import Step
from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker
from campaign.web import create_app
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import csrf_of, login, seed_users
from tests.factories import make_blast, make_contact
from tests.subprocess_cli import run_json

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

QUERY = 'language in ("mam", "quc") and age between 13 and 30'


@pytest.fixture
def client(engine):
    seed_users(engine)
    with make_sessionmaker(engine).begin() as session:
        for i, (language, department, year) in enumerate(
            [
                ("mam", "GT-12", 2005),
                ("mam", "GT-12", 2001),
                ("quc", "GT-08", 2006),
                ("quc", None, 2000),
                ("es", "GT-01", 2004),
                ("mam", "GT-13", 1960),
            ]
        ):
            make_contact(
                session, phone=f"+5023200{i:04d}", language=language, department=department, birth_year=year
            )
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


@pytest.fixture
def manager(client):
    assert login(client, "mario").status_code == 303
    client.headers["X-CSRF-Token"] = csrf_of(client.get("/segments").text)
    return client


def _segments(engine) -> dict[str, str]:
    with make_sessionmaker(engine)() as session:
        return {s.slug: s.query for s in session.scalars(select(Segment))}


def _audits(engine, action: str) -> list[AuditEvent]:
    with make_sessionmaker(engine)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_hotline_staff_cannot_open_the_segments_pages(client):
    login(client, "ana")
    token = csrf_of(client.get("/inbox").text)
    assert client.get("/segments").status_code == 403
    assert client.post("/segments/count", data={"query": QUERY, "csrf_token": token}).status_code == 403
    assert (
        client.post(
            "/segments", data={"slug": "x1", "name": "x", "query": QUERY, "csrf_token": token}
        ).status_code
        == 403
    )


def test_the_live_count_is_the_clis_count_by_department(db_url, manager):
    cli = run_json("audiences", "count", QUERY, "--by", "department", "--json", db_url=db_url)
    answer = manager.post("/segments/count", data={"query": QUERY})
    assert answer.status_code == 200
    data = answer.json()
    assert data["count"] == cli["count"] == 4
    assert {d["code"]: d["count"] for d in data["departments"]} == cli["breakdown"]
    assert {d["code"]: d["name"] for d in data["departments"]}["GT-12"] == "San Marcos"
    multi_line = manager.post("/segments/count", data={"query": QUERY.replace(" and ", "\nand ")})
    assert multi_line.json()["count"] == 4


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("age >", 6),
        ('language = "mam" and', 21),
        ("edad < 20", 1),
        ("'; DROP TABLE contacts; --", 1),
        ('department = "GT-12") or (1=1', None),
        ("not " * 200 + "opted_out", None),
    ],
)
def test_a_bad_or_hostile_query_gets_its_column_and_changes_nothing(engine, manager, query, column):
    before = _segments(engine)
    answer = manager.post("/segments/count", data={"query": query})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "query" and error["reason"]
    if column is not None:
        assert error["column"] == column
    saved = manager.post("/segments", data={"slug": "mala", "name": "Mala", "query": query})
    assert saved.status_code == 422
    assert 'class="caret"' in saved.text or error["column"] is None
    assert _segments(engine) == before
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 6


def test_save_edit_and_remove_a_segment(engine, manager):
    page = manager.get("/segments")
    assert page.status_code == 200
    assert re.search(r'data-slug="border_youth">.*?built-in', page.text, flags=re.S)  # marked, read-only
    assert "/segments/border_youth/edit" not in page.text

    saved = manager.post("/segments", data={"slug": "jovenes_mam", "name": "Jóvenes mam", "query": QUERY})
    assert saved.status_code == 303
    assert _segments(engine)["jovenes_mam"] == QUERY
    assert [a.detail["slug"] for a in _audits(engine, "segment.add")] == ["jovenes_mam"]
    listing = manager.get("/segments").text
    assert re.search(r'data-slug="jovenes_mam">.*?data-count="4"', listing, flags=re.S)
    again = manager.post("/segments", data={"slug": "jovenes_mam", "name": "Otra", "query": "age > 1"})
    assert again.status_code == 422 and "slug" in again.text
    nameless = manager.post("/segments", data={"slug": "sin_nombre", "name": " ", "query": "age > 1"})
    assert nameless.status_code == 422 and "sin_nombre" not in _segments(engine)

    form = manager.get("/segments/jovenes_mam/edit")
    assert form.status_code == 200 and "Jóvenes mam" in form.text
    edited = manager.post("/segments/jovenes_mam/edit", data={"name": "Jóvenes", "query": 'language = "mam"'})
    assert edited.status_code == 303 and _segments(engine)["jovenes_mam"] == 'language = "mam"'
    broken = manager.post("/segments/jovenes_mam/edit", data={"name": "Jóvenes", "query": "language ="})
    assert broken.status_code == 422 and _segments(engine)["jovenes_mam"] == 'language = "mam"'
    assert len(_audits(engine, "segment.edit")) == 1

    assert manager.get("/segments/border_youth/edit").status_code == 422
    builtin = manager.post("/segments/border_youth/edit", data={"name": "x", "query": "age > 1"})
    assert builtin.status_code == 422
    assert manager.post("/segments/border_youth/remove").status_code == 422
    assert "border_youth" in _segments(engine)
    assert manager.get("/segments/nadie/edit").status_code == 404
    assert manager.post("/segments/nadie/remove").status_code == 404

    with make_sessionmaker(engine).begin() as session:
        occurrence = make_blast(session, status="running")
        occurrence.step.segment_slug = "jovenes_mam"
    in_use = manager.post("/segments/jovenes_mam/remove")
    assert in_use.status_code == 422 and "jovenes_mam" in _segments(engine)
    with make_sessionmaker(engine).begin() as session:
        session.execute(update(Step).values(segment_slug=None))
    removed = manager.post("/segments/jovenes_mam/remove")
    assert removed.status_code == 303 and "jovenes_mam" not in _segments(engine)
    assert [a.detail for a in _audits(engine, "segment.remove")] == [{"slug": "jovenes_mam"}]
