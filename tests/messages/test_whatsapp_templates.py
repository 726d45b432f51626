"""WhatsApp templates in the message library: Content SIDs per language in pack files (lint names the
file and field), `campaign messages show|whatsapp`, the web message page, and `content_template`,
the function the send path asks. SQLite and PostgreSQL. Every SID here is synthetic (HX000...).
"""

from __future__ import annotations

import json
import warnings

import pytest
import yaml

from campaign.core.db import make_sessionmaker, utcnow
from campaign.hotline.users import create_user
from campaign.web import create_app
from messages.library import get_message, get_translation
from messages.packload import load_pack
from messages.packs import DEFAULT_PACK_DIR
from messages.whatsapp import content_template
from tests.campaign.web.helpers import settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, login
from tests.messages.conftest import message
from tests.subprocess_cli import run_cli, run_json

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SID = "HX" + "0" * 31 + "9"  # synthetic


def _wa(slug: str, whatsapp: object, **over: object) -> dict:
    data = message(slug, **{"channels": ["sms", "whatsapp"], "whatsapp_category": "marketing", **over})
    data["translations"]["es"]["whatsapp"] = whatsapp
    return data


def test_lint_names_file_and_field_of_each_bad_template(write_pack):
    no_category = _wa("sin-categoria", {"content_sid": SID, "variables": {"1": "organizacion"}})
    del no_category["whatsapp_category"]
    folder = write_pack("p", [
        _wa("sid-corto", {"content_sid": "HX123", "variables": {"1": "organizacion"}}),
        _wa("con-salto", {"content_sid": SID, "variables": {"1": "organizacion", "3": "contact.first_name"}}),
        _wa("variable-ajena", {"content_sid": SID, "variables": {"1": "policia"}}),
        _wa("categoria-mala", {"content_sid": SID}, whatsapp_category="promo"),
        no_category,
        _wa("bien", {"content_sid": SID, "variables": {1: "organizacion", 2: "contact.first_name"}}),
    ])
    result = run_cli("messages", "lint", "--pack", str(folder))
    assert result.returncode == 1
    err = result.stderr
    assert "sid-corto.yaml: translations.es.whatsapp.content_sid: 'HX123' is not a Twilio Content SID" in err
    assert "con-salto.yaml: translations.es.whatsapp.variables: placeholders must be numbered 1, 2, 3" in err
    assert "variable-ajena.yaml: translations.es.whatsapp.variables.1: 'policia' is not a variable" in err
    assert "categoria-mala.yaml: whatsapp_category: 'promo' is not one of marketing, utility" in err
    assert "sin-categoria.yaml: whatsapp_category: required when a translation has a WhatsApp template" in err
    assert "bien.yaml" not in err
    spanish = run_cli("messages", "lint", "--pack", str(folder), env={"CAMPAIGN_LOCALE": "es"})
    assert ("sid-corto.yaml: translations.es.whatsapp.content_sid: 'HX123' no es un Content SID"
            in spanish.stderr)


def test_shipped_templates_show_and_content_template(db_url, engine):
    run_json("messages", "load", "--json", db_url=db_url)
    shown = run_json("messages", "show", "oferta-trabajo-falsa", "--json", db_url=db_url)
    assert shown["whatsapp_category"] == "marketing"
    assert shown["translations"]["es"]["whatsapp"] == {
        "content_sid": "HX00000000000000000000000000000001", "variables": {"1": "organizacion", "2": "pdh"},
    }
    assert "content_sid: HX00000000000000000000000000000003" in run_cli(
        "messages", "show", "respuesta-ayuda", db_url=db_url).stdout
    with make_sessionmaker(engine)() as session:
        ayuda = get_message(session, "respuesta-ayuda")
        assert content_template(ayuda, "es") == (
            "HX00000000000000000000000000000003",
            {"1": "hotline_mujer", "2": "linea_maya", "3": "organizacion", "4": "policia"},
        )
        # Mam has a (synthetic) template, but its words still need review: never used until approved.
        mam = get_translation(session, "respuesta-ayuda", "mam")
        assert mam.content_sid == "HX00000000000000000000000000000004"
        assert content_template(ayuda, "mam") is None and content_template(mam, "mam") is None
        assert content_template(ayuda, "quc") is None  # no template
        assert content_template(get_translation(session, "respuesta-ayuda", "es"), "mam") is None


def test_cli_sets_template_and_refuses_bad_input_unchanged(db_url, engine):
    run_json("messages", "load", "--json", db_url=db_url)
    args = ("messages", "whatsapp", "bienvenida", "--lang", "es")
    no_category = run_cli(*args, "--content-sid", SID, "--variables", "1=organizacion", db_url=db_url)
    assert no_category.returncode == 1 and "whatsapp_category" in no_category.stderr
    bad = run_cli(*args, "--content-sid", "HXnothex", "--category", "utility", db_url=db_url)
    assert bad.returncode == 1 and "content_sid: 'HXnothex' is not a Twilio Content SID" in bad.stderr
    gap = run_cli(*args, "--content-sid", SID, "--variables", "2=organizacion", "--category", "utility",
                  db_url=db_url)
    assert gap.returncode == 2 and "--variables: placeholders must be numbered" in gap.stderr
    with make_sessionmaker(engine)() as session:
        assert get_translation(session, "bienvenida", "es").content_sid is None
        assert get_message(session, "bienvenida").whatsapp_category is None
    ok = run_cli(*args, "--content-sid", SID, "--variables", "1=organizacion, 2=contact.first_name",
                 "--category", "utility", db_url=db_url)
    assert ok.returncode == 0, ok.stderr
    shown = run_json("messages", "show", "bienvenida", "--json", db_url=db_url)
    assert shown["whatsapp_category"] == "utility"
    assert shown["translations"]["es"]["whatsapp"] == {
        "content_sid": SID, "variables": {"1": "organizacion", "2": "contact.first_name"}}
    removed = run_cli(*args, "--remove", db_url=db_url)
    assert removed.returncode == 0 and "removed" in removed.stdout
    with make_sessionmaker(engine)() as session:
        assert content_template(get_message(session, "bienvenida"), "es") is None


def test_dump_round_trips_templates(db_url, tmp_path):
    run_json("messages", "load", "--json", db_url=db_url)
    assert run_cli("messages", "dump", str(tmp_path / "out"), db_url=db_url).returncode == 0
    dumped = yaml.safe_load((tmp_path / "out" / "respuesta-ayuda.yaml").read_text(encoding="utf-8"))
    shipped = yaml.safe_load((DEFAULT_PACK_DIR / "respuesta-ayuda.yaml").read_text(encoding="utf-8"))
    assert dumped["whatsapp_category"] == shipped["whatsapp_category"] == "utility"
    for lang in ("es", "mam"):
        assert dumped["translations"][lang]["whatsapp"] == shipped["translations"][lang]["whatsapp"]
    again = run_json("messages", "load", str(tmp_path / "out"), "--json", db_url=db_url)
    assert "respuesta-ayuda" in again["unchanged"]


@pytest.fixture
def app(engine):
    with make_sessionmaker(engine).begin() as session:
        load_pack(session, None, now=utcnow())
        for name, role in [("rosa", "translator"), ("beto", "reviewer")]:
            create_user(session, username=name, password=PASSWORD, role=role, now=utcnow())
    return create_app(settings())


def _client(app, username: str) -> TestClient:
    client = TestClient(app, follow_redirects=False,
                        headers={"Accept-Language": "es-GT", "Accept": "text/html"})
    client.__enter__()
    assert login(client, username=username).status_code == 303
    return client


def test_web_reviewer_sets_template_translator_sees_it(app, engine):
    beto, rosa = _client(app, "beto"), _client(app, "rosa")
    try:
        page = rosa.get("/messages/oferta-trabajo-falsa")
        assert page.status_code == 200
        assert "HX00000000000000000000000000000001" in page.text and "Plantilla de WhatsApp" in page.text
        assert 'class="whatsapp-form"' not in page.text  # a translator sees, does not set
        token = csrf_of(page.text)
        refused = rosa.post("/messages/bienvenida/es/whatsapp",
                            data={"content_sid": SID, "category": "utility", "csrf_token": token})
        assert refused.status_code == 403

        page = beto.get("/messages/bienvenida")
        assert 'class="whatsapp-form"' not in page.text  # bienvenida is not a WhatsApp message yet
        page = beto.get("/messages/respuesta-ayuda")
        assert 'class="whatsapp-form"' in page.text
        assert "no se usa hasta que esta traducción esté aprobada" in page.text  # mam: needs review
        token = csrf_of(page.text)
        bad = beto.post("/messages/respuesta-ayuda/quc/whatsapp",
                        data={"content_sid": "HX12", "variables": "1=organizacion", "csrf_token": token})
        assert bad.status_code == 422 and "content_sid" in bad.text
        gap = beto.post("/messages/respuesta-ayuda/quc/whatsapp",
                        data={"content_sid": SID, "variables": "1=organizacion, 3=policia",
                              "csrf_token": token})
        assert gap.status_code == 422
        with make_sessionmaker(engine)() as session:
            assert get_translation(session, "respuesta-ayuda", "quc").content_sid is None
        saved = beto.post("/messages/respuesta-ayuda/quc/whatsapp",
                          data={"content_sid": SID, "variables": "1=hotline_mujer, 2=linea_maya",
                                "category": "utility", "csrf_token": token})
        assert saved.status_code == 303
        page = beto.get("/messages/respuesta-ayuda")
        assert SID in page.text and "Plantilla de WhatsApp guardada." in page.text
        with make_sessionmaker(engine)() as session:
            quc = get_translation(session, "respuesta-ayuda", "quc")
            assert quc.content_sid == SID
            assert quc.content_variables == {"1": "hotline_mujer", "2": "linea_maya"}
            assert str(quc.status) == "needs_review"  # the template does not approve the words
    finally:
        for client in (beto, rosa):
            client.__exit__(None, None, None)


def test_content_template_json_output_is_stable(db_url):
    """`messages show --json` keeps the codes (scripts read them)."""
    run_json("messages", "load", "--json", db_url=db_url)
    data = json.loads(run_cli("messages", "show", "donde-pedir-ayuda", "--json", db_url=db_url).stdout)
    assert data["channels"] == ["sms", "whatsapp"]
    assert data["translations"]["es"]["whatsapp"]["content_sid"] == "HX00000000000000000000000000000002"
