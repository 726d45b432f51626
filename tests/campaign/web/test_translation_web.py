"""The message library pages for translators and reviewers, and the staff users page for
administrators, through the web app's HTTP routes (SQLite and PostgreSQL).

The shipped content pack is loaded; users and translations are synthetic test data.
"""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker, utcnow
from campaign.core.errors import NotFound
from campaign.hotline.models import StaffSession, User
from campaign.hotline.users import create_user
from campaign.web import create_app
from messages.library import get_translation
from messages.models import TranslationStatus
from messages.packload import load_pack
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, login

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

MAM = "Chjonte {{ contact.name | first_name }}, {{ organizacion }} ma'n tu'n tkyaqil. AYUDA, BAJA tu'n tel"


@pytest.fixture
def app(engine):
    with make_sessionmaker(engine).begin() as session:
        load_pack(session, None, now=utcnow())
        for name, role in [
            ("rosa", "translator"),
            ("beto", "reviewer"),
            ("mario", "manager"),
            ("root", "admin"),
        ]:
            create_user(session, username=name, password=PASSWORD, role=role, now=utcnow())
    return create_app(settings())


def _client(app, username: str) -> TestClient:
    client = TestClient(
        app, follow_redirects=False, headers={"Accept-Language": "es-GT,es;q=0.9", "Accept": "text/html"}
    )
    client.__enter__()
    assert login(client, username=username).status_code == 303
    return client


@pytest.fixture
def as_user(app):
    opened: list[TestClient] = []

    def open_as(username: str) -> TestClient:
        opened.append(_client(app, username))
        return opened[-1]

    yield open_as
    for client in opened:
        client.__exit__(None, None, None)


def _mam(engine, slug="bienvenida"):
    """(status, version, body, revision authors) of the Mam translation; None when there is none."""
    with make_sessionmaker(engine)() as session:
        try:
            t = get_translation(session, slug, "mam")
        except NotFound:
            return None
        return t.status, t.version, t.body, [r.created_by for r in t.revisions]


def test_a_translator_lands_on_the_library_and_cannot_open_campaign_pages(app, as_user):
    rosa = as_user("rosa")
    assert rosa.get("/").headers["location"] == "/messages"
    library = rosa.get("/messages")
    assert library.status_code == 200 and "Biblioteca de mensajes" in library.text
    assert "bienvenida" in library.text and "Mam" in library.text
    for path in ("/campaigns", "/inbox", "/audiences", "/admin/users", "/audit", "/inbox/replies"):
        page = rosa.get(path)
        assert page.status_code == 403, path
        assert "No puede abrir esta página" in page.text and "traductor(a)" in page.text
    assert 'href="/campaigns"' not in library.text and 'href="/inbox"' not in library.text


def test_a_translator_submits_a_mam_translation_and_a_reviewer_approves_it(app, engine, as_user):
    rosa = as_user("rosa")
    form_page = rosa.get("/messages/bienvenida/mam")
    assert form_page.status_code == 200 and 'id="sms-counter"' in form_page.text
    token = csrf_of(form_page.text)
    fingerprint = form_page.text.split('name="fingerprint" value="', 1)[1].split('"', 1)[0]
    assert _mam(engine) is None  # the shipped pack has no Mam welcome yet
    saved = rosa.post(
        "/messages/bienvenida/mam",
        data={
            "body": MAM,
            "notes": "revisar con Q'anjob'al",
            "fingerprint": fingerprint,
            "csrf_token": token,
        },
    )
    assert saved.status_code == 303
    status, version, body, authors = _mam(engine)
    assert (status, body, version, authors) == (TranslationStatus.NEEDS_REVIEW, MAM, 1, ["rosa"])
    page = rosa.get("/messages/bienvenida/mam")
    assert "ahora necesita revisión" in page.text and "por revisar" in page.text
    assert "Aprobar" not in page.text  # a translator may not approve
    library = rosa.get("/messages", params={"lang": "mam", "status": "needs_review"}).text
    assert 'href="/messages/bienvenida"' in library and "Chjonte" in library  # its text in the library
    refused = rosa.post("/messages/bienvenida/mam/approve", data={"csrf_token": token})
    assert refused.status_code == 403 and _mam(engine)[0] == TranslationStatus.NEEDS_REVIEW

    beto = as_user("beto")
    review = beto.get("/messages/bienvenida/mam")
    assert f"Aprobar la versión {version}" in review.text
    stale = beto.post(
        "/messages/bienvenida/mam/approve",
        data={"version": str(version + 1), "csrf_token": csrf_of(review.text)},
    )
    assert stale.status_code == 422 and "no era la última" in stale.text
    assert _mam(engine)[0] == TranslationStatus.NEEDS_REVIEW
    done = beto.post(
        "/messages/bienvenida/mam/approve", data={"version": str(version), "csrf_token": csrf_of(review.text)}
    )
    assert done.status_code == 303
    with make_sessionmaker(engine)() as session:
        t = get_translation(session, "bienvenida", "mam")
        assert (t.status, t.reviewer, t.version) == (TranslationStatus.APPROVED, "beto", version)
        actions = session.execute(
            select(AuditEvent.actor, AuditEvent.action).where(AuditEvent.action.like("translation.%"))
        ).all()
    assert [tuple(a) for a in actions] == [("rosa", "translation.submit"), ("beto", "translation.approve")]


def test_a_translation_with_other_variables_or_an_old_source_is_refused_and_nothing_changes(
    app, engine, as_user
):
    rosa = as_user("rosa")
    page = rosa.get("/messages/bienvenida/mam")
    token = csrf_of(page.text)
    before = _mam(engine)
    wrong = rosa.post("/messages/bienvenida/mam", data={"body": "Nim tey {{ otra }}", "csrf_token": token})
    assert wrong.status_code == 422 and "las variables" in wrong.text and "no se guardó" in wrong.text
    assert "Nim tey {{ otra }}" in wrong.text  # the translator's text is kept in the form
    stale = rosa.post(
        "/messages/bienvenida/mam", data={"body": MAM, "fingerprint": "0" * 16, "csrf_token": token}
    )
    assert stale.status_code == 422 and "desactualizado" in stale.text
    empty = rosa.post("/messages/bienvenida/mam", data={"body": "  ", "csrf_token": token})
    assert empty.status_code == 422 and "body" in empty.text
    spanish = rosa.post("/messages/bienvenida/es", data={"body": "Hola", "csrf_token": token})
    assert spanish.status_code == 422
    assert rosa.get("/messages/no-existe").status_code == 404
    assert rosa.get("/messages/bienvenida/xx").status_code == 404
    assert _mam(engine) == before


def test_the_message_page_shows_every_language_and_the_lint_results(app, as_user):
    mario = as_user("mario")
    page = mario.get("/messages/bienvenida")
    assert page.status_code == 200
    assert "Revisiones" in page.text and "Texto por idioma" in page.text
    assert page.text.count('class="msg-card translation"') >= 6
    assert "GSM-7" in page.text or "UCS-2" in page.text
    filtered = mario.get("/messages", params={"lang": "mam", "status": "approved"})
    assert filtered.status_code == 200
    assert mario.get("/messages", params={"lang": "zz"}).status_code == 422


def test_the_admin_adds_disables_changes_role_and_resets_passwords(app, engine, as_user):
    root = as_user("root")
    page = root.get("/admin/users")
    assert page.status_code == 200 and 'href="/audit"' in page.text and 'href="/admin/users"' in page.text
    token = csrf_of(page.text)
    differ = root.post(
        "/admin/users",
        data={
            "username": "lucia",
            "role": "translator",
            "password": PASSWORD,
            "password_repeat": "x" * 12,
            "csrf_token": token,
        },
    )
    assert differ.status_code == 422 and "no coinciden" in differ.text
    added = root.post(
        "/admin/users",
        data={
            "username": "lucia",
            "role": "translator",
            "password": PASSWORD,
            "password_repeat": PASSWORD,
            "csrf_token": token,
        },
    )
    assert added.status_code == 303
    lucia = as_user("lucia")
    assert lucia.get("/messages").status_code == 200
    assert (
        root.post("/admin/users/lucia/role", data={"role": "reviewer", "csrf_token": token}).status_code
        == 303
    )
    assert lucia.get("/messages").status_code == 303  # her session ended with the role change
    lucia = as_user("lucia")
    assert root.post("/admin/users/lucia/disable", data={"csrf_token": token}).status_code == 303
    assert lucia.get("/messages").status_code == 303
    assert root.post("/admin/users/lucia/enable", data={"csrf_token": token}).status_code == 303
    new = "otra clave larga sintética"
    reset = root.post(
        "/admin/users/lucia/password", data={"password": new, "password_repeat": new, "csrf_token": token}
    )
    assert reset.status_code == 303
    assert login(TestClient(app, follow_redirects=False), username="lucia", password=new).status_code == 303
    page = root.get("/admin/users")  # root is the only active administrator: no button to lock out
    assert 'action="/admin/users/root/disable"' not in page.text
    assert 'action="/admin/users/root/role"' not in page.text and 'id="last-admin"' in page.text
    assert 'action="/admin/users/lucia/disable"' in page.text
    last = root.post("/admin/users/root/disable", data={"csrf_token": token})
    assert last.status_code == 422 and "root" in last.text and "administrador" in last.text
    demote = root.post("/admin/users/root/role", data={"role": "manager", "csrf_token": token})
    assert demote.status_code == 422
    assert root.post("/admin/users/nadie/disable", data={"csrf_token": token}).status_code == 404
    assert root.post("/admin/users/lucia/role", data={"role": "rey", "csrf_token": token}).status_code == 422
    with make_sessionmaker(engine)() as session:
        lucia_row = session.scalar(select(User).where(User.username == "lucia"))
        root_row = session.scalar(select(User).where(User.username == "root"))
        assert lucia_row.role == "reviewer" and lucia_row.active
        assert root_row.role == "admin" and root_row.active
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == "root", AuditEvent.action.like("user.%"))
        ).all()
        assert sorted(actions) == sorted(
            ["user.create", "user.role", "user.disable", "user.enable", "user.password"]
        )
        assert session.scalar(select(StaffSession).limit(1)) is not None


def test_only_an_admin_opens_the_users_page(app, as_user):
    mario = as_user("mario")
    assert mario.get("/admin/users").status_code == 403
    token = csrf_of(mario.get("/messages").text)
    assert mario.post("/admin/users/rosa/disable", data={"csrf_token": token}).status_code == 403


def test_a_radio_spot_is_translated_as_script_lines(app, engine, as_user):
    rosa = as_user("rosa")
    page = rosa.get("/messages/spot-coyotes/mam")
    assert page.status_code == 200 and 'id="sms-counter"' not in page.text  # a spot has no SMS counter
    assert "LOCUTOR: texto" in page.text
    token = csrf_of(page.text)
    broken = rosa.post(
        "/messages/spot-coyotes/mam", data={"body": "sin locutor {{ pdh }}", "csrf_token": token}
    )
    assert broken.status_code == 422 and "línea 1" in broken.text
    assert _mam(engine, "spot-coyotes") is None
    script = "[MÚSICA 2 s]\nLOCUTOR: Qa ma'n tu'n tkyaqil, tzaqwil {{ pdh }}.\nLOCUTORA: Ma'n {{ pdh }}."
    saved = rosa.post("/messages/spot-coyotes/mam", data={"body": script, "csrf_token": token})
    assert saved.status_code == 303
    status, version, body, _authors = _mam(engine, "spot-coyotes")
    assert (status, version) == (TranslationStatus.NEEDS_REVIEW, 1)
    assert body.startswith("Qa ma'n tu'n tkyaqil")  # the spoken text, as import-translations stores it
    assert "LOCUTORA: Ma&#39;n {{ pdh }}." in rosa.get("/messages/spot-coyotes/mam").text


def test_the_pages_speak_english_to_an_english_browser(app, as_user):
    rosa = as_user("rosa")
    english = {"Accept-Language": "en"}
    assert "Message library" in rosa.get("/messages", headers=english).text
    page = rosa.get("/messages/bienvenida/mam", headers=english).text
    assert "Save and submit for review" in page and "Version history" in page
    assert "your role (translator) cannot open /campaigns" in rosa.get("/campaigns", headers=english).text
