"""A local HTTP server speaking Twilio's Messages API (2010-04-01) for tests and benchmarks.

Implements create (POST .../Messages.json), fetch (GET .../Messages/{Sid}.json), inbound media
(GET .../Messages/{Sid}/Media/{MediaSid}: basic auth, then a redirect to the media store) and list
(GET .../Messages.json filtered by To, From, DateSent, DateSent<, DateSent>, paged) with the JSON
shapes of Twilio's OpenAPI description, HTTP basic auth (20003 on failure), a configurable
latency, and scripted faults per recipient: error responses (400 21211/21614/21610, 429 20429,
500, 63018, ...), hangs past the client's timeout (after accepting the message), and dropped
connections (before or after accepting). Every accepted message is recorded in `messages`.

WhatsApp (`To=whatsapp:+...`, `From=whatsapp:+...` or a Messaging Service), as Twilio behaves:
- a number in `not_on_whatsapp` is accepted, then fails with 63003 (status callback);
- free text (Body) to a number that has not written in the last 24 h (`whatsapp_inbound(...)`,
  by the fake's clock) is accepted, then fails with 63016;
- a ContentSid in `approved_templates` is accepted at any time; any other ContentSid is refused
  at once with 400 21655; Body and MediaUrl then are not needed;
- MediaUrl: the fake FETCHES each URL over HTTP (`media_fetches`: url, HTTP status, content type,
  bytes) and, when the fetch fails (not 200, or empty), the message fails with 63019.
Status callbacks are not posted anywhere: `status_events` holds (url, form) for each, signed on
demand with `signature(url, form)` so that a test posts them through the app's real webhook.

    with FakeTwilio(latency=0.05) as fake:
        settings = get_settings(provider="twilio", twilio_api_base=fake.base_url, ...)
        fake.script("+50230000001", Fail(400, 21211))

Run standalone (used by the dispatch benchmark and the crash test): `python -m
tests.fakes.twilio_server --port 0 --latency 0.05` prints the base URL on its first line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ACCOUNT_SID = "AC" + "f" * 32  # synthetic test account
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
API = "/2010-04-01/Accounts/"

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number: {to}",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    21655: "The ContentSid is Invalid",
    63007: "Twilio could not find a Channel with the specified From address",
    63018: "Rate limit exceeded for the sender",
}
WHATSAPP_WINDOW_SECONDS = 24 * 3600

OK = "ok"
HANG = "hang"  # accept and record the message, answer only after `hang_seconds` (client times out)
DROP = "drop"  # close the connection without reading on: nothing recorded
DROP_AFTER_ACCEPT = "drop_after_accept"  # record the message, then close without answering


@dataclass(frozen=True)
class Fail:
    """An error response: HTTP status and Twilio error code (None: a bare 500 without a code)."""

    status: int
    code: int | None = None


Behaviour = str | Fail


def _rfc2822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=False).replace("-0000", "+0000")


class FakeTwilio:
    """The server; start with `with FakeTwilio() as fake:` or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        hang_seconds: float = 3.0,
        port: int = 0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.latency = latency
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.hang_seconds = hang_seconds
        self.clock = clock
        self.messages: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status answered)
        # Called with each accepted message before it is answered (tests: "meanwhile, ...").
        self.on_accept: Callable[[dict[str, Any]], None] | None = None
        self._by_sid: dict[str, dict[str, Any]] = {}
        # Inbound media (voice notes, images a contact sent): media SID -> (content type, bytes).
        self.media: dict[str, tuple[str, bytes]] = {}
        self.media_requests: list[tuple[str, bool]] = []  # (path, whether our credentials came with it)
        # WhatsApp: numbers (E.164, no prefix) that are not WhatsApp users; templates Twilio approved;
        # when each number last wrote to us on WhatsApp; media fetched; status callbacks to deliver.
        self.not_on_whatsapp: set[str] = set()
        self.approved_templates: set[str] = set()
        self.last_whatsapp_inbound: dict[str, datetime] = {}
        self.media_fetches: list[dict[str, Any]] = []
        # Checks a fetched media URL's signature (tests: campaign.core.media_urls.verify_media_url);
        # its answer, or the refusal's reason, is recorded with the fetch as "verified".
        self.media_verifier: Callable[[str], Any] | None = None
        self.status_events: list[tuple[str, dict[str, str]]] = []
        self._scripts: dict[str | None, list[Behaviour]] = {}
        self._always: dict[str | None, Behaviour] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- fault injection -------------------------------------------------------------------------

    def script(self, to: str | None, *behaviours: Behaviour) -> None:
        """Next create requests for `to` (None: any number) behave so, one each, then normally."""
        with self._lock:
            self._scripts.setdefault(to, []).extend(behaviours)

    def always(self, to: str | None, behaviour: Behaviour) -> None:
        """Every create request for `to` (None: any number) behaves so until `reset()`."""
        with self._lock:
            self._always[to] = behaviour

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._always.clear()

    def chaos(self, *, seed: int, faults: float, max_latency: float) -> None:
        """Random faults for every create request from now on: with probability `faults` one of a
        transient error (500, 429 20429, 400 63018), a hang past the client's timeout, a dropped
        connection before or after accepting; each request also waits a random latency up to
        `max_latency`. `faults=0` turns it off. (benchmarks/chaos.py)"""
        import random

        with self._lock:
            self._random = random.Random(seed)
            self._faults, self._max_latency = faults, max_latency

    def _random_behaviour(self) -> tuple[Behaviour, float]:
        rng = getattr(self, "_random", None)
        if rng is None or not (self._faults or self._max_latency):
            return OK, 0.0
        latency = rng.uniform(0, self._max_latency)
        if rng.random() >= self._faults:
            return OK, latency
        faults: list[Behaviour] = [
            Fail(500), Fail(429, 20429), Fail(400, 63018), HANG, DROP, DROP_AFTER_ACCEPT,
        ]
        return rng.choice(faults), latency

    def _behaviour_for(self, to: str) -> Behaviour:
        with self._lock:
            for key in (to, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.pop(0)
            return self._always.get(to) or self._always.get(None) or OK

    # --- inbound media ---------------------------------------------------------------------------

    def add_media(self, content_type: str, data: bytes, *, message_sid: str | None = None) -> str:
        """Stores a contact's media as Twilio would keep it; returns its MediaUrl (for a webhook).
        GET on it needs our basic auth (401 otherwise) and redirects, as Twilio does, to the media
        store (here /_fake/media-store/{MediaSid}, no auth), which serves the bytes."""
        with self._lock:
            self._counter += 1
            sid = "ME" + hashlib.md5(f"media:{self._counter}".encode()).hexdigest()
            self.media[sid] = (content_type, data)
        message = message_sid or "MM" + hashlib.md5(f"message:{sid}".encode()).hexdigest()
        return f"{self.base_url}{API}{self.account_sid}/Messages/{message}/Media/{sid}"

    def whatsapp_inbound(self, phone: str, at: datetime | None = None) -> None:
        """`phone` (E.164 or whatsapp:+...) wrote to us on WhatsApp at `at` (default: the clock):
        free text may go to it for 24 h."""
        with self._lock:
            self.last_whatsapp_inbound[phone.removeprefix("whatsapp:")] = at or self.clock()

    def signature(self, url: str, form: dict[str, str]) -> str:
        """X-Twilio-Signature of a callback, made with this account's auth token."""
        from twilio.request_validator import RequestValidator

        signature: str = RequestValidator(self.auth_token).compute_signature(url, form)
        return signature

    def take_status_events(self) -> list[tuple[str, dict[str, str]]]:
        """The status callbacks not delivered yet (url, form), oldest first; forgets them."""
        with self._lock:
            events, self.status_events = self.status_events, []
        return events

    # --- what it saw ---------------------------------------------------------------------------

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        """Accepted messages for one number."""
        with self._lock:
            return [m for m in self.messages if m["to"] == to]

    def callbacks(self) -> list[str]:
        with self._lock:
            return [m["status_callback"] for m in self.messages]

    # --- API --------------------------------------------------------------------------------------

    def accept(
        self,
        form: dict[str, str],
        account: str,
        *,
        received: float | None = None,
        handled: float | None = None,
        peer: int | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        received = time.monotonic() if received is None else received
        with self._lock:
            self._counter += 1
            sid = "SM" + hashlib.md5(f"{account}:{self._counter}".encode()).hexdigest()
            service = form.get("MessagingServiceSid")
            record = {
                "account_sid": account,
                "api_version": "2010-04-01",
                "body": form.get("Body") or "",
                "date_created": now,
                "date_sent": now,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From") or None,
                "messaging_service_sid": service,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "accepted" if service and not form.get("From") else "queued",
                "to": form["To"],
                "status_callback": form.get("StatusCallback"),
                "received": received,  # time.monotonic() when the request arrived (rate checks)
                "handled": received if handled is None else handled,  # when its handler began
                "peer": peer,  # the client's port: which connection (rate checks)
                "content_sid": form.get("ContentSid"),
                "content_variables": form.get("ContentVariables"),
                "media_url": list(form.get("MediaUrl") or []),
            }
            self.messages.append(record)
            self._by_sid[sid] = record
        return record

    def whatsapp_outcome(self, record: dict[str, Any]) -> None:
        """What WhatsApp does with an accepted message: fetch its media, then deliver it or fail
        it (63003 not a WhatsApp user, 63016 free text outside the window, 63019 media not
        fetched), each outcome queued as status callbacks (sent, then delivered or failed)."""
        to = str(record["to"]).removeprefix("whatsapp:")
        code: int | None = None
        for url in record["media_url"]:
            if not self._fetch_media(url):
                code = 63019
        if to in self.not_on_whatsapp:
            code = 63003
        elif not record["content_sid"]:
            last = self.last_whatsapp_inbound.get(to)
            if last is None or (self.clock() - last).total_seconds() > WHATSAPP_WINDOW_SECONDS:
                code = 63016
        with self._lock:
            if code is None:
                record["status"] = "delivered"
                self._callback(record, "sent")
                self._callback(record, "delivered")
            else:
                record["status"], record["error_code"] = "failed", code
                record["error_message"] = ERROR_MESSAGES.get(code)
                self._callback(record, "failed", code)

    def _callback(self, record: dict[str, Any], status: str, code: int | None = None) -> None:
        url = record.get("status_callback")
        if not url:
            return
        form = {
            "AccountSid": record["account_sid"], "ApiVersion": "2010-04-01", "MessageSid": record["sid"],
            "SmsSid": record["sid"], "MessageStatus": status, "SmsStatus": status, "To": record["to"],
            "From": record["from"] or "",
        }
        if code is not None:
            form["ErrorCode"] = str(code)
        self.status_events.append((url, form))

    def _fetch_media(self, url: str) -> bool:
        """GETs a MediaUrl as Twilio does (no credentials); records and returns whether it worked."""
        import urllib.error
        import urllib.request

        seen: dict[str, Any] = {"url": url, "status": None, "content_type": None, "bytes": 0}
        if self.media_verifier is not None:
            try:
                seen["verified"] = self.media_verifier(url)
            except Exception as exc:  # noqa: BLE001 - recorded for the test to read
                seen["verified"] = getattr(exc, "reason", type(exc).__name__)
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - 127.0.0.1 in tests
                data = answer.read()
                seen.update(status=answer.status, content_type=answer.headers.get("Content-Type"),
                            bytes=len(data))
        except urllib.error.HTTPError as exc:
            seen["status"] = exc.code
        except (OSError, ValueError) as exc:
            seen["status"], seen["error"] = None, type(exc).__name__
        with self._lock:
            self.media_fetches.append(seen)
        return seen["status"] == 200 and seen["bytes"] > 0

    def resource(self, record: dict[str, Any]) -> dict[str, Any]:
        uri = f"{API}{record['account_sid']}/Messages/{record['sid']}"
        out = {k: v for k, v in record.items() if k not in ("status_callback", "received", "handled", "peer")}
        for key in ("date_created", "date_sent", "date_updated"):
            out[key] = _rfc2822(record[key]) if record[key] else None
        out["uri"] = uri + ".json"
        out["subresource_uris"] = {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"}
        return out

    def lookup(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._by_sid.get(sid)

    def select(self, account: str, query: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            found = [m for m in self.messages if m["account_sid"] == account]
        if "To" in query:
            found = [m for m in found if m["to"] == query["To"]]
        if "From" in query:
            found = [m for m in found if m["from"] == query["From"]]
        for key, keep in (
            ("DateSent", lambda sent, bound, day: sent.date() == bound if day else sent == bound),
            ("DateSent<", lambda sent, bound, day: (sent.date() if day else sent) <= bound),
            ("DateSent>", lambda sent, bound, day: (sent.date() if day else sent) >= bound),
        ):
            if key in query:
                bound, day = _parse_date(query[key])
                found = [m for m in found if m["date_sent"] and keep(m["date_sent"], bound, day)]
        return sorted(found, key=lambda m: m["date_created"], reverse=True)  # newest first, as Twilio


def _parse_date(value: str) -> tuple[Any, bool]:
    value = value.strip()
    if len(value) == 10:
        return date.fromisoformat(value), True
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC), False


# Linux's receive timestamps (asm-generic/socket.h; the socket module does not name them).
SO_TIMESTAMPNS = 35
_STAMP_SPACE = socket.CMSG_SPACE(16) if sys.platform == "linux" else 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    fake: FakeTwilio

    def server_bind(self) -> None:
        # Accepted connections inherit it, so even a connection's first request is stamped.
        if _STAMP_SPACE:
            self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a SIGKILLed dispatcher, a dropped connection) is
        what the chaos trials do on purpose: not worth a traceback. Anything else still prints."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _StampedReader(io.RawIOBase):
    """A connection's bytes, with the kernel's receive time of the first read since `reset()`
    (SO_TIMESTAMPNS): when a request reached this machine, however late the handler thread
    runs. The chaos trials count arrivals per 1 s window; a handler stalled by its process
    (the GIL, a garbage collection) would stamp a backlog of requests together."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self.stamp: float | None = None  # time.monotonic() scale
        self._first = True

    def reset(self) -> None:
        self.stamp, self._first = None, True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size, ancillary, _flags, _address = self._connection.recvmsg_into([buffer], _STAMP_SPACE)
        if self._first:
            self._first = False
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    seconds, nanoseconds = struct.unpack("qq", data[:16])
                    # The kernel stamps in wall-clock time: moved onto the monotonic clock.
                    self.stamp = seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
        return size


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _Server
    _reader: _StampedReader | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _STAMP_SPACE:
            self._reader = _StampedReader(self.connection)
            self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        if self._reader is not None:
            self._reader.reset()
        super().handle_one_request()

    def _arrival(self) -> float:
        """When this request arrived (time.monotonic()): the kernel's stamp where there is one."""
        stamp = self._reader.stamp if self._reader is not None else None
        return stamp if stamp is not None else time.monotonic()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    # --- plumbing -------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        # Recorded before answering: a client that has its answer must find the request recorded.
        self.server.fake.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Twilio-Request-Id", "RQ" + hashlib.md5(data).hexdigest())
        self.end_headers()
        self.wfile.write(data)

    def _send_bytes(self, content_type: str, data: bytes) -> None:
        self.server.fake.requests.append((self.command, self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int | None, **fmt: str) -> None:
        if code is None:
            self._send_json(status, {"code": 20500, "message": ERROR_MESSAGES[20500], "status": status,
                                     "more_info": "https://www.twilio.com/docs/errors/20500"})
            return
        message = ERROR_MESSAGES.get(code, "Error {code}").format(code=code, path=self.path, **fmt)
        self._send_json(status, {"code": code, "message": message, "status": status,
                                 "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _account(self) -> tuple[str, list[str]] | None:
        fake = self.server.fake
        parts = urlsplit(self.path).path.removeprefix(API).split("/")
        auth = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
        if auth != f"Basic {expected}" or parts[0] != fake.account_sid:
            self._send_json(401, {"code": 20003, "message": ERROR_MESSAGES[20003], "status": 401,
                                  "detail": "Your AccountSid or AuthToken was incorrect.",
                                  "more_info": "https://www.twilio.com/docs/errors/20003"})
            return None
        return parts[0], parts[1:]

    def _query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    # --- routes ---------------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server.fake
        received, handled = self._arrival(), time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        fields = parse_qs(self.rfile.read(length).decode())
        form: dict[str, Any] = {k: v[0] for k, v in fields.items()}
        if "MediaUrl" in fields:
            form["MediaUrl"] = fields["MediaUrl"]  # repeated: one per medium
        if not self.path.startswith(API):
            return self._error(404, 20404)
        if fake.latency:
            time.sleep(fake.latency)
        found = self._account()
        if found is None:
            return None
        account, rest = found
        if rest != ["Messages.json"]:
            return self._error(404, 20404)
        to = form.get("To", "")
        behaviour = fake._behaviour_for(to)
        if behaviour == OK:
            behaviour, latency = fake._random_behaviour()
            if latency:
                time.sleep(latency)
        if behaviour == DROP:
            return self._drop()
        if isinstance(behaviour, Fail):
            return self._error(behaviour.status, behaviour.code, to=to)
        if not to:
            return self._error(400, 21604)
        whatsapp = to.startswith("whatsapp:")
        content_sid = form.get("ContentSid")
        if content_sid and (not whatsapp or content_sid not in fake.approved_templates):
            return self._error(400, 21655)
        if not form.get("Body") and not content_sid and not form.get("MediaUrl"):
            return self._error(400, 21602)
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21606)
        if whatsapp and form.get("From") and not str(form["From"]).startswith("whatsapp:"):
            return self._error(400, 63007)
        number = to.removeprefix("whatsapp:")
        if not number.startswith("+") or not number[1:].isdigit() or not 8 <= len(number) <= 16:
            return self._error(400, 21211, to=to)
        record = fake.accept(form, account, received=received, handled=handled, peer=self.client_address[1])
        if fake.on_accept is not None:
            fake.on_accept(record)
        answer = fake.resource(record)  # queued/accepted: WhatsApp's verdict comes by callback
        if whatsapp:
            fake.whatsapp_outcome(record)
        if behaviour == DROP_AFTER_ACCEPT:
            return self._drop()
        if behaviour == HANG:
            time.sleep(fake.hang_seconds)
        try:
            self._send_json(201, answer)
        except OSError:  # the client gave up (timeout): the message stays accepted
            self.close_connection = True
        return None

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        if self.path.startswith("/_fake/stats"):  # not Twilio: lets a parent process read what was accepted
            with fake._lock:
                counts: dict[str, int] = {}
                for m in fake.messages:
                    counts[m["to"]] = counts.get(m["to"], 0) + 1
                stats: dict[str, Any] = {"accepted": len(fake.messages), "by_to": counts}
                if "received=1" in self.path:  # when each arrived (time.monotonic(), the machine's clock)
                    stats["received"] = [m["received"] for m in fake.messages]
            return self._send_json(200, stats)
        if self.path.startswith("/_fake/media-store/"):  # where Twilio's media redirect leads
            found = fake.media.get(self.path.rsplit("/", 1)[-1])
            fake.media_requests.append((self.path, "Authorization" in self.headers))
            if found is None:
                return self._error(404, 20404)
            return self._send_bytes(*found)
        if not self.path.startswith(API):
            return self._error(404, 20404)
        if fake.latency:
            time.sleep(fake.latency)
        found = self._account()
        if found is None:
            return None
        account, rest = found
        if len(rest) == 4 and rest[0] == "Messages" and rest[2] == "Media":
            fake.media_requests.append((self.path, True))
            if rest[3] not in fake.media:
                return self._error(404, 20404)
            fake.requests.append((self.command, self.path, 307))
            self.send_response(307)
            self.send_header("Location", f"/_fake/media-store/{rest[3]}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if len(rest) == 2 and rest[0] == "Messages" and rest[1].endswith(".json"):
            record = fake.lookup(rest[1].removesuffix(".json"))
            if record is None or record["account_sid"] != account:
                return self._error(404, 20404)
            return self._send_json(200, fake.resource(record))
        if rest != ["Messages.json"]:
            return self._error(404, 20404)
        query = self._query()
        page_size = max(1, min(1000, int(query.get("PageSize", 50))))
        page = int(query.get("Page", 0))
        matches = fake.select(account, query)
        chunk = matches[page * page_size:(page + 1) * page_size]
        base = f"{API}{account}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}}

        def page_uri(n: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': n})}"

        more = (page + 1) * page_size < len(matches)
        return self._send_json(200, {
            "messages": [fake.resource(m) for m in chunk],
            "end": page * page_size + max(0, len(chunk) - 1),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "uri": page_uri(page),
        })


def serve(argv: list[str] | None = None) -> None:
    """Command line: run the fake until killed; prints the base URL first (for a parent process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeTwilio(latency=args.latency, port=args.port)
    print(fake.base_url, flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass


def twilio_settings(fake: FakeTwilio, **overrides: Any) -> Any:
    """Settings for the twilio provider pointed at `fake` (fast retries-free defaults for tests)."""
    from campaign.core.config import get_settings

    values: dict[str, Any] = {
        "provider": "twilio",
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": "+15005550006",
        "twilio_api_base": fake.base_url,
        "public_url": "https://campaign.example.org",
        "secret_key": "test-only-secret-key-not-a-real-one",  # the web app refuses the development key
        "rate_per_second": 1000.0,
        "concurrency": 4,
    }
    values.update(overrides)
    return get_settings(**values)


if __name__ == "__main__":
    serve(sys.argv[1:])

