"""The FastAPI application factory: settings, database, sessions, error pages and routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import campaign.schema  # noqa: F401 - every entry point loads the whole model registry
from campaign.core.config import Settings, get_settings
from campaign.core.db import SQLiteFileWatch, make_engine, unit_of_work
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _, best_match, use_locale
from campaign.web.auth import LoginRequired, verify_csrf
from campaign.web.group_commit import GroupCommit
from campaign.web.security import LoopbackGuard, RefuseLarge, RefuseNul, SecurityHeaders
from campaign.web.templating import templates, use_timezone

log = logging.getLogger(__name__)
T = TypeVar("T")
STATIC_DIR = Path(__file__).with_name("static")


@dataclass
class WebState:
    """What every request needs: settings, the engine (built on first use) and, on SQLite, one
    lock that serializes writers in this process (SQLite allows one writer at a time; several
    worker processes wait for each other through SQLite's busy timeout)."""

    settings: Settings
    _engine: Engine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    write_lock: threading.Lock | None = None
    has_radio: bool = False

    _file: SQLiteFileWatch | None = None  # the SQLite file this server opened

    def __post_init__(self) -> None:
        self._file = SQLiteFileWatch(self.settings.database_url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from campaign.core.crypto import ensure_active

                    ensure_active(self.settings)
                    if self._file is None or not self._file.active:
                        self._file = SQLiteFileWatch(self.settings.database_url)
                    self._engine = make_engine(self.settings.database_url)
                    if self._engine.dialect.name == "sqlite":
                        self.write_lock = threading.Lock()
        return self._engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One writing unit of work (serialized on SQLite): commits on success."""
        engine = self.engine
        with self.write_lock or contextlib.nullcontext(), unit_of_work(engine) as session:
            yield session

    _provider: object | None = None
    _writer: ThreadPoolExecutor | None = None

    async def run_write(self, work: Callable[[], T]) -> T:
        """Runs a blocking writing unit of work off the event loop.

        On SQLite every such write goes through one dedicated thread, so concurrent requests wait
        in the event loop (cheap) rather than as threads contending for the write lock and the
        GIL: measured with 8 concurrent webhooks, 240 req/s through the shared thread pool against
        more than 400 through one writer thread. On PostgreSQL: the shared thread pool.
        """
        if self.engine.dialect.name != "sqlite":
            return await run_in_threadpool(work)
        return await asyncio.get_running_loop().run_in_executor(self._sqlite_writer(), work)

    def _sqlite_writer(self) -> ThreadPoolExecutor:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        return self._writer

    _group_commit: GroupCommit | None = None
    _group_executor: ThreadPoolExecutor | None = None

    def group_commit(self) -> GroupCommit:
        """The provider webhooks' group commit (campaign/web/group_commit.py), built on first use
        (from the event loop). SQLite: batches go through the one writer thread; PostgreSQL: two
        batches at once per process, each on its own connection. Each batch costs about 1 ms of
        CPU whatever its size (connection checkout, four round trips, commit) and a callback
        about 0.02 ms more, so fewer, larger batches are cheaper: measured in one process, 0.60
        ms of CPU per status callback with four at once, 0.45 with two, 0.38 with one (two
        keeps one batch's round trips overlapping the other's work)."""
        if self._group_commit is None:
            if self.engine.dialect.name == "sqlite":
                executor, parallel = self._sqlite_writer(), 1
            else:
                parallel = 2
                executor = self._group_executor = ThreadPoolExecutor(parallel, thread_name_prefix="webhooks")
            self._group_commit = GroupCommit(
                self.write, executor, max_batch=self.settings.webhook_batch_max, parallel=parallel
            )
        return self._group_commit

    @property
    def provider(self):
        """The SMS provider for hotline replies (one per process, as providers/ asks)."""
        if self._provider is None:
            from campaign.providers import get_provider

            with self._lock:
                if self._provider is None:
                    self._provider = get_provider(self.settings)
        return self._provider

    _hashing: asyncio.Semaphore | None = None

    def hashing(self) -> asyncio.Semaphore:
        """Bounds password hashing to half the CPUs at once per process (at least one), so a storm
        of logins queues in the event loop instead of starving the webhooks of CPU and memory
        (argon2 takes 64 MiB per hash); built on first use, from the event loop."""
        if self._hashing is None:
            self._hashing = asyncio.Semaphore(max(1, (os.cpu_count() or 2) // 2))
        return self._hashing

    def database_replaced(self) -> bool:
        """Whether the SQLite file this process opened was deleted or replaced since (a new
        `make demo`, a restored backup): its open connections would go on serving the old data."""
        return self._file is not None and self._file.replaced()

    def dispose(self) -> None:
        if self._group_executor is not None:
            self._group_executor.shutdown(wait=True)
            self._group_executor = None
        self._group_commit = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._file is not None:
            self._file.close()


class ReplacedDatabaseGuard:
    """Answers 503 to every request once the SQLite file the server opened was deleted or
    replaced: it must not go on serving (or writing into) a database that no longer exists."""

    def __init__(self, app: ASGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.state.database_replaced():
            from campaign.core.i18n import _

            path = make_url(self.state.settings.database_url).database
            message = _(
                "The database file %(path)s was deleted or replaced while the server was running "
                "(a new `make demo`?). Restart `campaign serve` to open the new one.",
                path=path,
            )
            await PlainTextResponse(message, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class LocaleMiddleware:
    """Runs each request in its person's language: the logged-in user's preference (set later by
    `auth.current_user` when users have one), else the browser's Accept-Language, else the
    deployment's CAMPAIGN_LOCALE (Spanish by default)."""

    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", ()) if k == b"accept-language"), b"")
        chosen = best_match(header.decode("latin-1")) or self.default
        with use_locale(chosen):
            await self.app(scope, receive, send)


def _is_webhook(request: Request) -> bool:
    return request.url.path.startswith("/twilio/")


def _error_heading(status: int) -> str:
    """The error page's title, in the request's language."""
    from campaign.core.i18n import _

    headings = {
        403: _("You cannot open this page"),
        404: _("Not found"),
        405: _("Not possible here"),
        409: _("Not possible now"),
        413: _("Too large"),
        422: _("Please check the data"),
        429: _("Too many requests"),
    }
    return headings.get(status) or _("Error %(status)s", status=status)


def _starlette_detail(status: int, message: str) -> str:
    """Starlette's own English details ("Not Found") in the request's language."""
    from campaign.core.i18n import _

    if message == "Not Found":
        return _("This page does not exist: check the address.")
    if message == "Method Not Allowed":
        return _("This address does not accept this kind of request.")
    if message == "Content Too Large":  # a route's max_body_size (a body sent without its length)
        return _("What was sent is too large for this address.")
    return message


def _error_response(request: Request, status: int, message: str) -> Response:
    if _is_webhook(request) or "text/html" not in request.headers.get("accept", "text/html"):
        return PlainTextResponse(message, status_code=status)
    user = getattr(request.state, "user", None)
    context = {"status": status, "message": message, "user": user, "heading": _error_heading(status)}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web app for `settings` (default: from the environment). The engine is built lazily
    and disposed at shutdown."""
    from campaign.core.crypto import ensure_active
    from campaign.core.logs import install_redaction

    install_redaction()  # no phone number in any log line of the web process
    settings = settings or get_settings()
    ensure_active(settings)  # the keys of personal data: a missing key fails at start, not per request
    public_host = urlsplit(settings.public_url).hostname or ""
    problem = settings.unsafe_to_expose(public_host)
    if problem:  # here, not only in `campaign serve`: `uvicorn --factory` builds the app itself
        raise Invalid(
            "CAMPAIGN_PUBLIC_URL",
            _("refusing to serve %(url)s: %(problem)s", url=settings.public_url, problem=problem),
        )
    state = WebState(settings)
    use_timezone(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state._hashing = None  # asyncio primitives belong to one event loop: this one
        # What is loaded by now (modules, the app) lives as long as the process: out of the
        # collector's sight, a full collection pauses every request for less (webhook p99).
        # Given back at shutdown: a process that serves many apps (the tests) leaks nothing.
        gc.freeze()
        yield
        gc.unfreeze()
        state.dispose()

    app = FastAPI(title="Campaign engine", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="campaign_session",
        max_age=int(settings.session_max_hours * 3600),  # the server-side session ends first anyway
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    body_limits: dict[str, int] = {}  # path -> max_body_size of its route, filled below
    app.add_middleware(RefuseLarge, limits=body_limits)
    app.add_middleware(ReplacedDatabaseGuard, state=state)
    app.add_middleware(LocaleMiddleware, default=settings.locale)
    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders)
    beyond = settings.unsafe_to_expose("0.0.0.0")
    if beyond:  # public keys: answer only on loopback, however the server was started
        app.add_middleware(LoopbackGuard, problem=beyond)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, LoginRequired):
            if _is_webhook(request):
                return PlainTextResponse("login required", status_code=401)
            target = "/login" if exc.next_path in ("/", "/login") else f"/login?next={exc.next_path}"
            return RedirectResponse(target, status_code=303)
        return _error_response(request, exc.http_status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return _error_response(request, 422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_response(request, exc.status_code, _starlette_detail(exc.status_code, str(exc.detail)))

    from campaign.web import (
        media,
        routes_audit,
        routes_auth,
        routes_authoring,
        routes_case,
        routes_contacts,
        routes_contacts_import,
        routes_dashboard,
        routes_inbox,
        routes_messages,
        routes_replies,
        routes_reports,
        routes_segments,
        routes_users,
        routes_webhooks,
    )

    app.include_router(routes_webhooks.router)  # signed, not CSRF: the provider has no session
    app.include_router(media.router)  # signed, expiring URLs the provider fetches voice notes from
    csrf = [Depends(verify_csrf)]
    app.include_router(routes_auth.router, dependencies=csrf)
    app.include_router(routes_inbox.router, dependencies=csrf)
    app.include_router(routes_case.router, dependencies=csrf)
    app.include_router(routes_replies.router, dependencies=csrf)
    app.include_router(routes_authoring.router, dependencies=csrf)  # before /campaigns/{slug}
    app.include_router(routes_reports.router, dependencies=csrf)
    app.include_router(routes_dashboard.router, dependencies=csrf)
    app.include_router(routes_audit.router, dependencies=csrf)
    app.include_router(routes_messages.router, dependencies=csrf)
    app.include_router(routes_users.router, dependencies=csrf)
    app.include_router(routes_contacts_import.router, dependencies=csrf)  # before /contacts/{id}
    app.include_router(routes_contacts.router, dependencies=csrf)
    app.include_router(routes_segments.router, dependencies=csrf)
    radio = _optional_router("campaign.radio.web")
    if radio is not None:
        app.include_router(radio, dependencies=csrf)
        state.has_radio = True
    body_limits.update(_body_limits(app.routes))
    return app


def _body_limits(routes: Iterable[Any]) -> Iterator[tuple[str, int]]:
    """(path, max_body_size) of every route that has one, through included routers (none of ours
    is included with a prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _body_limits(included.routes)
        elif isinstance(route, APIRoute) and route.max_body_size is not None:
            yield route.path, route.max_body_size


def _optional_router(module_name: str):
    """The `router` of an optional area's web module, or None when the area has none yet."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    return getattr(module, "router", None)
