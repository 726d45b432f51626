"""Database plumbing: the shared declarative Base, engines, sessions, UTC datetimes.

Leaf module: imports no domain code; `audiences`, `messages` and `campaign` models all derive
from `Base` here so that one metadata (and one Alembic history) covers the whole schema.
"""

from __future__ import annotations

import functools
import json
import os
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from sqlalchemy import JSON, CursorResult, DateTime, MetaData, Result, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores `timestamptz`; SQLite stores naive UTC text. Values going in must be aware
    (a naive datetime is a bug: whose local time would it be?); values coming out are aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware UTC one is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names follow NAMING_CONVENTION."""

    # Every model here maps one Table (no mapping to joins or selects), so say so to the checker.
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[dict[str, Any]]: JSONType,
    }


def rowcount(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE/DELETE touched (session.execute types its result as a plain Result)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def inserted_id(result: Result[Any]) -> int:
    """The primary key of the row a single-row INSERT created."""
    key = cast(CursorResult[Any], result).inserted_primary_key
    assert key is not None and key[0] is not None, "not a single-row INSERT"
    return int(key[0])


def utcnow() -> datetime:
    """The current aware UTC time. Only edges (CLI, web, scheduler) call this; domain code takes `now`."""
    return datetime.now(UTC)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Creates an engine; for SQLite, creates the parent folder and turns on WAL and foreign keys.

    Statement parameters never appear in errors or logs (`hide_parameters`: they hold personal
    data). A SQLite file is created, or narrowed, to mode 0600; its WAL and shared-memory files
    take the file's mode.
    """
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            private_file(Path(database))
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = create_engine(url, json_serializer=_dumps, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, json_serializer=_dumps, **kwargs)


def private_file(path: Path) -> None:
    """Creates `path` empty with mode 0600 when missing, else narrows it to 0600 (owner only).

    An existing file is never opened here: closing any descriptor of a SQLite file drops the POSIX
    locks every connection of this process holds on it."""
    if path.exists():
        os.chmod(path, 0o600)
    else:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:  # made meanwhile by another process: narrow it like an old one
            os.chmod(path, 0o600)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, 0o600)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def sqlite_timestamp(value: datetime | None) -> str | None:
    """An aware datetime in the text form UTCDateTime stores on SQLite (naive UTC,
    "YYYY-MM-DD HH:MM:SS.ffffff")."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is twice as fast as strftime; the "+00:00" it appends is cut off.
    return value.isoformat(" ", "microseconds")[:26]


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT on `table` (model or Table) in the bound dialect, so that `.on_conflict_do_nothing`
    / `.on_conflict_do_update` (upserts) are available on PostgreSQL and SQLite alike."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert(table) if is_postgres(session) else sqlite.insert(table)


def bulk_insert(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    datetime_columns: Collection[str] = (),
    skip_conflicts_on: Sequence[str] | None = None,
) -> None:
    """Inserts plain tuples set-based, bypassing per-row ORM and bind processing (hot paths).

    PostgreSQL: COPY (into a temporary stage first when `skip_conflicts_on` names a unique key,
    then one INSERT ... SELECT ... ON CONFLICT DO NOTHING, since COPY alone cannot skip).
    SQLite: one executemany, with `datetime_columns` converted as UTCDateTime would. JSON values
    must already be serialized. Flushes the session first so the rows land in its transaction.
    """
    session.flush()
    raw = session.connection().connection.driver_connection
    assert raw is not None, "a checked-out connection has its DBAPI connection"
    names = ", ".join(columns)
    conflict = f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
    if is_postgres(session):
        target = f"{table}_stage" if skip_conflicts_on else table
        with raw.cursor() as cursor:
            if skip_conflicts_on:
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DROP AS "
                    f"SELECT {names} FROM {table} WITH NO DATA"
                )
            types = _binary_copy_types(table, tuple(columns))
            binary = " (FORMAT BINARY)" if types else ""
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN{binary}") as copy:
                if types:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            if skip_conflicts_on:
                cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {target}{conflict}")
                cursor.execute(f"TRUNCATE {target}")
        return
    stamps = [i for i, name in enumerate(columns) if name in datetime_columns]
    if stamps:
        rows = _with_sqlite_timestamps(rows, stamps)
    marks = ", ".join("?" * len(columns))
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){conflict}", rows)


# The column types COPY sends in binary, so that PostgreSQL parses no text (see bulk_insert).
_BINARY_TYPES = {
    "INTEGER": "int4", "BIGINT": "int8", "TEXT": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


@functools.cache
def _binary_copy_types(table: str, columns: tuple[str, ...]) -> list[str] | None:
    """The PostgreSQL type of each column of a model's table when every one can be sent in binary
    (integers, text, varchar, aware timestamps), else None (COPY in text)."""
    from sqlalchemy.dialects import postgresql

    found = Base.metadata.tables.get(table)
    if found is None:
        return None
    types = []
    for name in columns:
        compiled = found.c[name].type.compile(dialect=postgresql.dialect())
        kind = "varchar" if compiled.startswith("VARCHAR") else _BINARY_TYPES.get(compiled)
        if kind is None:
            return None
        types.append(kind)
    return types


def _with_sqlite_timestamps(rows: Iterable[Sequence[Any]], positions: list[int]) -> list[tuple[Any, ...]]:
    # Hot path (a million rows): column by column (zip is C-speed), each value converted once
    # unless it is the very object of the row before (a column set once for the whole batch).
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    if not columns:
        return []
    for i in positions:
        converted: list[str | None] = []
        append = converted.append
        last: object = object()
        text: str | None = None
        for value in columns[i]:
            if value is not last:
                last, text = value, sqlite_timestamp(value)
            append(text)
        columns[i] = converted
    return list(zip(*columns, strict=True))


def refresh_statistics(session: Session, table: str, *, stale_fraction: float = 0.1) -> bool:
    """PostgreSQL: ANALYZE `table` when more than `stale_fraction` of it changed since the last one.

    After a bulk load the planner may still believe the table is tiny and pick a plan that
    re-scans it for every keyset chunk (measured: 20 s of a 1M-contact planning run). Autovacuum
    gets there eventually; hot paths that just loaded or are about to read a large table call this.
    Returns True when statistics were refreshed. A no-op elsewhere.
    """
    if not is_postgres(session):
        return False
    row = session.execute(
        text(
            "SELECT n_live_tup, n_mod_since_analyze, last_analyze, last_autoanalyze "
            "FROM pg_stat_user_tables WHERE relname = :table"
        ),
        {"table": table},
    ).first()
    if row is None:
        return False
    live, changed, manual, auto = row
    never = manual is None and auto is None
    if not never and changed <= stale_fraction * max(live, 1):
        return False
    session.execute(text(f"ANALYZE {table}"))
    return True


_SESSIONMAKERS: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """The engine's sessionmaker, whose objects stay readable after commit (expire_on_commit=False).

    One per engine, kept while the engine lives: each `sessionmaker(...)` makes a new Session
    subclass, and SQLAlchemy then sets up its event dispatch for that class on its first session,
    which cost about 0.4 ms of CPU in every unit of work (a third of a status-callback batch)."""
    maker = _SESSIONMAKERS.get(engine)
    if maker is None:  # two threads at once may both build one: the same, and one of them is kept
        maker = _SESSIONMAKERS.setdefault(engine, sessionmaker(engine, expire_on_commit=False))
    return maker


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commits on success, rolls back on any exception."""
    with make_sessionmaker(engine).begin() as session:
        yield session


def is_postgres(engine_or_session: Engine | Session) -> bool:
    """True when the bound database is PostgreSQL (for SKIP LOCKED, COPY and friends)."""
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


class SQLiteFileWatch:
    """Notices that the SQLite file a long-running process opened was deleted or replaced (a new
    `make demo`, a restored backup). It holds the file open, so the file's inode cannot be freed
    and handed to the new file: a bare (device, inode) comparison misses a file deleted and
    recreated, whose new inode is often the old number. Inactive for other databases."""

    def __init__(self, url: str) -> None:
        import os

        self._identity = sqlite_file_identity(url)
        self._url = url
        self._fd: int | None = None
        if self._identity is not None:
            from sqlalchemy.engine import make_url

            try:
                self._fd = os.open(str(make_url(url).database), os.O_RDONLY)
            except OSError:
                self._identity = None
            else:
                stat = os.fstat(self._fd)
                self._identity = (stat.st_dev, stat.st_ino)

    @property
    def active(self) -> bool:
        return self._identity is not None

    def replaced(self) -> bool:
        return self._identity is not None and sqlite_file_identity(self._url) != self._identity

    def close(self) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sqlite_file_identity(url: str) -> tuple[int, int] | None:
    """(device, inode) of the SQLite file at `url`; None for other databases, in-memory SQLite or
    a missing file. A long-running process compares it to notice its file was deleted or replaced."""
    import os

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    try:
        stat = os.stat(parsed.database)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def in_values(column: Any, name: str, dialect: str) -> Any:
    """`column IN :name` for a list bound at execution. On PostgreSQL `column = ANY(:name)` with
    the list as one array: the statement's text is the same whatever the list's length, so
    psycopg keeps its conversion and PostgreSQL prepares it (an expanding IN is new SQL for every
    length). Elsewhere an expanding IN. Bind a list (not a tuple)."""
    from sqlalchemy import any_, bindparam

    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
