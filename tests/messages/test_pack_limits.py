"""Content packs have bounds: a YAML alias bomb, or a template that would render gigabytes or run
for ever, is one error naming the file (and language), a non-zero exit, and nothing loaded."""

from __future__ import annotations

from sqlalchemy import func, select

from campaign.core.db import make_sessionmaker
from messages.models import Message
from tests.campaign.blasts.test_campaign_limits import BILLION_LAUGHS
from tests.messages.conftest import message
from tests.subprocess_cli import run_cli


def _messages(engine) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def test_messages_load_refuses_a_yaml_alias_bomb_and_loads_nothing(engine, db_url, write_pack):
    folder = write_pack("p", [message("good-one")])
    (folder / "bomba.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")

    result = run_cli("messages", "load", str(folder), db_url=db_url)

    assert result.returncode == 1, result.stdout
    assert "bomba.yaml: aliases expand to more than 100000 values at line" in result.stderr
    assert _messages(engine) == 0


def test_messages_load_refuses_a_template_that_would_render_gigabytes(engine, db_url, write_pack):
    bomb = message("bomba", body="Hola {{ organizacion * 200000000 }}. Resp BAJA para salir")
    folder = write_pack("p", [message("good-one"), bomb])

    result = run_cli("messages", "load", str(folder), db_url=db_url)

    assert result.returncode == 1, result.stdout
    assert "bomba.yaml: translations.es.body: line 1: the text would be longer than 10000" in result.stderr
    assert _messages(engine) == 0


def test_lint_reports_a_stored_template_bomb_as_an_error_quickly(engine, db_url):
    """A template stored before the bounds existed: lint names it (exit 1) instead of taking GBs."""
    from tests.factories import make_sms_message

    with make_sessionmaker(engine).begin() as session:
        make_sms_message(
            session,
            slug="bomba",
            bodies={"es": "{{ hotline_mujer * 200000000 }} Responde BAJA para salir."},
        )

    result = run_cli("messages", "lint", db_url=db_url)

    assert result.returncode == 1, result.stdout
    assert "bomba" in result.stdout + result.stderr
    assert "longer than 10000 characters" in result.stdout + result.stderr
