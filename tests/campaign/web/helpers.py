"""Helpers for the web tests: signing webhooks the way Twilio does, counting stored rows."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from campaign.core.config import Settings, get_settings
from campaign.hotline.webhooks import INBOUND_PATH, STATUS_PATH, handle_inbound

NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
_sids = itertools.count(1)


def settings(**overrides: object) -> Settings:
    """Settings of the test environment (the conftest sets the database URL)."""
    return get_settings(**overrides)


def sign(url: str, params: Mapping[str, str], token: str = "sandbox-signing-key") -> str:
    """The X-Twilio-Signature twilio's own RequestValidator computes for (url, params)."""
    return RequestValidator(token).compute_signature(url, dict(params))


def inbound_params(body: str, *, phone: str, sid: str | None = None) -> dict[str, str]:
    """A Twilio inbound SMS form."""
    return {
        "MessageSid": sid or f"SM{next(_sids):032x}",
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": "+50220000000",
        "Body": body,
        "NumMedia": "0",
    }


def inbound_url(base: str = "http://127.0.0.1:8000") -> str:
    return base + INBOUND_PATH


def status_url(outbound_id: int | None = None, base: str = "http://127.0.0.1:8000") -> str:
    return base + STATUS_PATH + (f"?outbound={outbound_id}" if outbound_id is not None else "")


def count(session: Session, model: type) -> int:
    """Rows of `model` in the database."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_inbound(
    session: Session, params: Mapping[str, str], *, url: str | None = None, signature: str | None = None,
    cfg: Settings | None = None, now: datetime = NOW,
) -> str:
    """Posts an inbound SMS form through the real webhook handler, signed as Twilio signs it
    (unless `signature` is given); returns the TwiML answer."""
    cfg = cfg or settings()
    url = url or inbound_url()
    signature = sign(url, params) if signature is None else signature
    return handle_inbound(session, url=url, params=params, signature=signature, settings=cfg, now=now)


def fresh_manager_database(url: str, workdir: Path, *, contacts: int = 80) -> None:
    """A new database as a deployment starts: `campaign init`, the shipped pack (`campaign
    messages load`) and a SYNTHETIC audience imported through the CLI, plus a manager (mario)
    and a hotline user (ana), password PASSWORD. Each command in its own process."""
    from campaign.core.db import make_engine, make_sessionmaker, utcnow
    from campaign.hotline.users import create_user
    from tests.subprocess_cli import run_cli

    sample = workdir / "contacts.csv"
    for args in (
        ("init",),
        ("messages", "load"),
        ("audiences", "sample", "--n", str(contacts), "--out", str(sample)),
        ("audiences", "import", str(sample), "--partial"),
    ):
        result = run_cli(*args, db_url=url)
        assert result.returncode == 0, (args, result.stderr or result.stdout)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="mario", password=PASSWORD, role="manager", now=utcnow())
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=utcnow())
    engine.dispose()
