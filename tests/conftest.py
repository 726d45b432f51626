"""Test fixtures: a fresh database per test on SQLite and PostgreSQL, a network guard, a CLI runner.

Every test that takes `db_url`, `engine` or `session` runs twice: on a SQLite file copied from a
template, and on a PostgreSQL database created for this test run (truncated after each test).
Outside CI the PostgreSQL half skips with a visible reason when no server answers; with CI=true
it must run.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from campaign.core.crypto import use_keyring
from campaign.core.db import make_engine, make_sessionmaker
from campaign.core.i18n import use_locale
from campaign.schema import metadata

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PG_URL = os.environ.get("CAMPAIGN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_DATA_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # synthetic, tests only
TEST_INDEX_KEY = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()


# --- no real network -------------------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in {"localhost", "::1", "0.0.0.0"} or host.startswith("127.")
    return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (only 127.0.0.1 allowed)")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (only 127.0.0.1 allowed)")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or .env, or writes into ./var of the repo."""
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_") and name != "CAMPAIGN_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", f"sqlite:///{tmp_path}/default.db")
    monkeypatch.setenv("CAMPAIGN_EXPORT_DIR", str(tmp_path / "exports"))
    # Personal data is encrypted at rest: every test runs with these synthetic keys (test-only,
    # never used anywhere else), unless it removes them to test the key file.
    monkeypatch.setenv("CAMPAIGN_DATA_KEY", TEST_DATA_KEY)
    monkeypatch.setenv("CAMPAIGN_INDEX_KEY", TEST_INDEX_KEY)
    use_keyring(None)
    # The product speaks Spanish by default; tests that check English wording ask for it, and
    # tests of the Spanish interface set CAMPAIGN_LOCALE=es (or use_locale("es")) themselves.
    monkeypatch.setenv("CAMPAIGN_LOCALE", "en")
    with use_locale("en"):  # services called in-process speak the same language as the CLI here
        yield
    use_keyring(None)


# --- databases -------------------------------------------------------------------------------


def _postgres_reason() -> str | None:
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("select 1"))
        probe.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of its own for this test run, with the schema created."""
    reason = _postgres_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    name = f"campaign_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    metadata().create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema created, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    metadata().create_all(engine)
    with engine.connect() as connection:  # fold the WAL into the main file before copying
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


_pg_engines: dict[str, Engine] = {}


def _truncate_all(url: str) -> None:
    engine = _pg_engines.setdefault(url, make_engine(url))
    names = ", ".join(f'"{t.name}"' for t in metadata().sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of an empty database with the current schema; also set as CAMPAIGN_DATABASE_URL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "campaign.core.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
        yield url
        return
    url = request.getfixturevalue("pg_database_url")
    _truncate_all(url)
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database (shared per run on PostgreSQL)."""
    if db_url.startswith("postgresql"):
        yield _pg_engines.setdefault(db_url, make_engine(db_url))
        return
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test database; the test may flush or commit (data is wiped after)."""
    with make_sessionmaker(engine)() as session:
        yield session
        session.rollback()


@pytest.fixture
def migrated_engine(db_url, tmp_path):
    """An empty database of its own (a SQLite file, or a PostgreSQL schema) for migration tests."""
    if db_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path}/migrated.db")
        yield engine
        engine.dispose()
        return
    admin = make_engine(db_url)
    with admin.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS migration_test CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA migration_test")
    engine = make_engine(db_url, connect_args={"options": "-csearch_path=migration_test"})
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS migration_test CASCADE")
    admin.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine in _pg_engines.values():
        engine.dispose()


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> CliRunner:
    """Runs `campaign ...` in-process: `cli.invoke(app, [...])`. stderr is kept apart."""
    return CliRunner()


@pytest.fixture
def artifacts() -> Path:
    """Folder for files a person may want to look at after the run (screenshots, PDF pages)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
