"""What every response of the web app carries, and who may reach an app with a public key.

- `SecurityHeaders`: a Content-Security-Policy with no inline script (every script is a file under
  /static), no framing, `nosniff`, no Referer, and `Cache-Control: no-store` on everything but the
  static files (pages, JSON and exports carry personal data).
- `LoopbackGuard`: with a key anyone knows (the development secret key, or the sandbox provider,
  whose signing key is public) the app answers only requests that reach it on a loopback address
  directly; anything else gets 503 and a log line. It lives in the app factory, so `uvicorn
  --factory` or `--workers` cannot skip it; `campaign serve` refuses such a host before starting.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign.core.i18n import _

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
IN_PROCESS_CLIENT = "testclient"  # Starlette's TestClient calls the app in-process, with no socket


class SecurityHeaders:
    """Adds `HEADERS` to every HTTP response, and `Cache-Control: no-store` outside /static/ unless
    the route set its own (only public data does: /sms/rules.json)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not static and "cache-control" not in headers:  # a route may say its data is public
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


@functools.lru_cache(maxsize=256)  # asked twice per request, about the same few addresses
def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackGuard:
    """Answers 503 to any request that did not reach the app on a loopback address directly
    (a non-loopback local or peer address, a Unix socket, or a proxy's forwarding header), when
    `settings.unsafe_to_expose` says the keys are public. Starlette's TestClient, which calls the
    app in-process with no socket, is let through (a peer on a socket always has an IP; a proxy's
    rewrite of the peer is refused by its forwarding header)."""

    def __init__(self, app: ASGIApp, *, problem: str) -> None:
        self.app = app
        self.problem = problem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._direct_loopback(scope):
            await self.app(scope, receive, send)
            return
        log.error("refused a request from beyond this machine: %s", self.problem)
        if scope["type"] != "http":
            return
        body = f"refused: this server only answers on 127.0.0.1 ({self.problem})\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _direct_loopback(scope: Scope) -> bool:
        if any(name in PROXY_HEADERS for name, _ in scope.get("headers", ())):
            return False
        server, client = scope.get("server"), scope.get("client")
        if client is not None and client[0] == IN_PROCESS_CLIENT:  # no socket: a real peer is an IP
            return True
        return (
            server is not None
            and is_loopback(str(server[0]))
            and client is not None
            and is_loopback(str(client[0]))
        )


class RefuseNul:
    """Answers 400 to a request with a NUL byte in its path, query or form body (PostgreSQL cannot
    store one, and no person types it). Provider webhooks (/twilio/) keep theirs: a NUL in an
    inbound message is dropped and the message kept (campaign.hotline.webhooks). The file uploads
    of FILE_UPLOADS keep theirs too: a workbook is binary, and the importer reads (and refuses) the
    file itself; their handlers read no other text field than the CSRF token, except the radio
    recording upload, which checks its spot and language fields for NUL and length itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        raw = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string") or b"")
        if "\x00" in path or _has_nul(raw):
            await _refuse(send)
            return
        if (
            path.startswith("/twilio/")
            or scope.get("method") in ("GET", "HEAD", "OPTIONS")
            or (path in FILE_UPLOADS and _is_multipart(scope))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _has_nul(body):
            await _refuse(send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


FILE_UPLOADS = frozenset({"/contacts/upload", "/radio/recordings"})


def _is_multipart(scope: Scope) -> bool:
    kind = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
    return kind.lower().startswith(b"multipart/form-data")


def _has_nul(data: bytes) -> bool:
    return b"\x00" in data or b"%00" in data


async def _refuse(send: Send) -> None:
    body = b"bad request: a NUL byte in the address or the form\n"
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# What a form adds around an uploaded file (boundaries, the other fields, the CSRF token), at most.
FORM_SLACK_BYTES = 64 * 1024


class RefuseLarge:
    """Answers 413, in the request's language, to a request whose Content-Length is over its route's
    `max_body_size` (`limits`: path -> bytes, read off the app's routes), before anything reads the
    body: not the CSRF check's form parser (which spools an upload to disk), not a webhook's
    signature. FastAPI's own limit on the route stays for a body sent without its length (its
    plain 413). Runs inside LocaleMiddleware; `limits` is read at each request (create_app fills
    it once the routes are included)."""

    def __init__(self, app: ASGIApp, *, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is not None:
            declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"")
            if declared.isdigit() and int(declared) > limit:
                text = _("What was sent is too large for this address (at most %(max)s).", max=_size(limit))
                await PlainTextResponse(text, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _size(count: int) -> str:
    return f"{count >> 20} MB" if count >= 1 << 20 else f"{count >> 10} KB"
