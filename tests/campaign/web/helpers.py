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


# --- Every page of the app, as each role (the Spanish-everywhere test and its screenshots) ---

ROLE_USERS = {  # username -> role: one staff member per role
    "root": "admin",
    "mario": "manager",
    "ana": "hotline",
    "pia": "producer",
    "rosa": "translator",
    "beto": "reviewer",
}


def seed_every_page(engine, password: str) -> dict[str, list[str]]:
    """Synthetic data behind every page: the shipped pack, a user per role, the sample campaigns,
    a contact's message that opened a case. Returns candidate values for route parameters, by
    kind ("slug", "int", "lang", "username"), most likely first."""
    from campaign.blasts.campaigns import create_from_file
    from campaign.core.db import make_sessionmaker, utcnow
    from campaign.hotline.models import Case
    from campaign.hotline.users import create_user
    from messages.library import list_messages
    from messages.packload import load_pack

    samples = Path(__file__).resolve().parents[3] / "campaign" / "samples"
    with make_sessionmaker(engine).begin() as session:
        load_pack(session, None, now=utcnow())
        for username, role in ROLE_USERS.items():
            create_user(session, username=username, password=password, role=role, now=utcnow())
        campaigns = [create_from_file(session, samples / name, now=utcnow())[0].slug
                     for name in ("ofertas-falsas.yaml", "frontera-segura.yaml")]
        message = next(m.slug for m in list_messages(session) if "sms" in m.channels)
    params = inbound_params("hola, necesito información sobre una oferta", phone="+50255550177")
    with make_sessionmaker(engine).begin() as session:
        handle_inbound(session, url=inbound_url(), params=params, signature=sign(inbound_url(), params),
                       settings=settings(), now=datetime.now(UTC))
    with make_sessionmaker(engine)() as session:
        case = session.scalar(select(Case))
        assert case is not None
        ints = [str(case.id), str(case.contact_id), "1"]
    return {
        "slug": [*campaigns, message, "jovenes-frontera", "border_youth"],
        "int": ints,
        "lang": ["mam", "es"],
        "username": ["rosa"],
    }


def get_routes(app) -> list[str]:
    """The path of every GET route of the app (included routers walked), e.g. /messages/{slug}."""
    from fastapi.routing import APIRoute

    found: list[str] = []

    def walk(routes) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                if "GET" in route.methods:
                    found.append(route.path)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(app.routes)
    return found


def filled_paths(path: str, samples: dict[str, list[str]], limit: int = 24) -> list[str]:
    """Candidate URLs for a route path: each {parameter} filled from the samples of its kind
    (ids from "int", languages from "lang", ...), at most `limit` combinations."""
    import re

    names = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
    if not names:
        return [path]

    def kind(name: str) -> str:
        if name in ("lang", "language"):
            return "lang"
        if name == "username":
            return "username"
        if name.endswith("id") or name in ("n", "number", "version"):
            return "int"
        return "slug"

    options = [samples.get(kind(name), ["1"]) for name in names]
    urls = []
    for combination in itertools.islice(itertools.product(*options), limit):
        url = path
        for name, value in zip(names, combination, strict=True):
            url = re.sub(r"\{" + re.escape(name) + r"(?::[^}]*)?\}", value, url, count=1)
        urls.append(url)
    return urls
