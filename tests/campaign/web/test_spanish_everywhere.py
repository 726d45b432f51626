"""Spanish everywhere: every GET page of the web app, as each role, rendered in Spanish, with
no msgid missing from the Spanish catalogue and no common English word in the visible text; the
403 and 404 pages and a form's error page too.

The routes are walked like test_bad_input.py walks them, so a page added later is checked without
touching this test; route parameters come from synthetic seeded data (tests/campaign/web/helpers.py).
What a person wrote (message bodies, inbound texts: `lang` other than Spanish, class "body") and
codes (marked `translate="no"`, in <code>, or `between backticks` in a sentence) are not interface
words and are not checked.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from typing import Any

import pytest

from campaign.core import i18n
from campaign.web import create_app
from tests.campaign.web.helpers import ROLE_USERS, filled_paths, get_routes, seed_every_page, settings
from tests.campaign.web.test_app import PASSWORD, csrf_of, login

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

# Words a Spanish page never shows (interface words of the English version).
ENGLISH = [
    "the", "and", "with", "your", "you", "this", "that", "from", "have", "not found", "save", "cancel",
    "delete", "edit", "search", "submit", "back", "next", "previous", "log in", "log out", "logout", "login",
    "user", "users", "message", "messages", "campaign", "campaigns", "page", "invalid", "required", "unknown",
    "status", "language", "role", "password", "enabled", "disabled", "approved", "needs review",
    "needs_review", "draft", "missing", "pending", "failed", "delivered", "queued", "running", "paused",
    "cancelled", "week", "yes", "none", "reply", "replies", "contacts", "segments", "report", "download",
    "upload", "preview", "launch", "forbidden", "hotline staff", "translator", "reviewer", "version",
    "history", "approve", "checks", "warning", "characters", "spanish", "english",
]
# Whole words, not parts of a path, file name or code (/campaigns, ofertas-falsas, general.welcome).
ENGLISH_RE = re.compile(r"(?<![\w./_-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![\w./_-])", re.I)
SKIPPED_TAGS = {"script", "style", "textarea", "code", "pre"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    """The text a person reads on a page, without user-written texts and codes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: is its content skipped?
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        values = dict(attrs)
        lang = values.get("lang") or ""
        skip = (
            (bool(self.stack) and self.stack[-1])
            or tag in SKIPPED_TAGS
            or (lang != "" and not lang.startswith("es"))
            or values.get("translate") == "no"
            or "body" in (values.get("class") or "").split()
        )
        self.stack.append(skip)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)

    def text(self) -> str:
        # `...` is code in the interface's own sentences (a command, a query, a keyword).
        return " ".join(re.sub(r"`[^`]*`", " ", " ".join(self.parts)).split())


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return parser.text()


class Recording(Mapping[str, Any]):
    """The Spanish catalogue, noting every msgid looked up that it lacks."""

    def __init__(self, inner: Mapping[str, Any]) -> None:
        self.inner = inner
        self.missing: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self.inner[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.inner:
            self.missing.add(key)
        return self.inner.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


@pytest.fixture
def recorded(monkeypatch) -> Recording:
    original = i18n.catalogue
    spanish = Recording(original("es"))
    monkeypatch.setattr(i18n, "catalogue", lambda locale: spanish if locale == "es" else original(locale))
    return spanish


@pytest.fixture
def world(engine, recorded):
    samples = seed_every_page(engine, PASSWORD)
    app = create_app(settings())
    return app, samples


def _client(app) -> TestClient:
    return TestClient(
        app, follow_redirects=False, headers={"Accept-Language": "es-GT,es;q=0.9", "Accept": "text/html"}
    )


def _problems(url: str, response) -> list[str]:
    if "text/html" not in response.headers.get("content-type", ""):
        return []
    text = visible_text(response.text)
    words = sorted({m.group(1).lower() for m in ENGLISH_RE.finditer(text)})
    if not words:
        return []
    where = [text[max(0, m.start() - 40) : m.end() + 40] for m in ENGLISH_RE.finditer(text)][:3]
    return [f"{url} ({response.status_code}): English {words} in …{' … '.join(where)}…"]


def test_every_page_as_every_role_is_in_spanish(world, recorded):
    app, samples = world
    routes = get_routes(app)
    assert len(routes) > 15
    problems: list[str] = []
    rendered: dict[str, set[str]] = {}
    for username, role in ROLE_USERS.items():
        with _client(app) as client:
            assert login(client, username=username).status_code == 303
            for path in routes:
                if path in ("/logout",):
                    continue
                for url in filled_paths(path, samples):
                    response = client.get(url)
                    problems.extend(_problems(f"{role} {url}", response))
                    if response.status_code == 200:
                        rendered.setdefault(role, set()).add(path)
                    if response.status_code not in (404, 422):  # else: try the next sample value
                        break
    with _client(app) as anonymous:
        for url in ("/login", "/no-such-page"):
            problems.extend(_problems(f"anonymous {url}", anonymous.get(url)))
    assert problems == []
    assert recorded.missing == set(), f"msgids without Spanish: {sorted(recorded.missing)}"
    # The walk reached the pages of each role (not only login redirects and errors).
    assert {"/messages", "/messages/{slug}", "/messages/{slug}/{lang}"} <= rendered["translator"]
    assert {"/admin/users", "/audit", "/campaigns", "/inbox"} <= rendered["admin"]
    assert "/inbox" in rendered["hotline"] and "/campaigns" not in rendered["hotline"]


def test_error_pages_and_form_errors_are_in_spanish(world, recorded):
    app, samples = world
    with _client(app) as client:
        login(client, username="rosa")
        forbidden = client.get("/campaigns")
        assert forbidden.status_code == 403
        assert "No puede abrir esta página" in forbidden.text and "traductor(a)" in forbidden.text
        missing = client.get("/messages/no-existe")
        assert missing.status_code == 404 and "No existe el mensaje" in missing.text
        nowhere = client.get("/no/existe/nada")
        assert nowhere.status_code == 404 and "Esta página no existe" in nowhere.text
        token = csrf_of(client.get("/messages/bienvenida/mam").text)
        refused = client.post("/messages/bienvenida/mam", data={"body": "{{ otra }}", "csrf_token": token})
        assert refused.status_code == 422 and "La traducción no se guardó" in refused.text
        no_token = client.post("/messages/bienvenida/mam", data={"body": "x"})
        assert no_token.status_code == 403 and "código de seguridad" in no_token.text
        for response in (forbidden, missing, nowhere, refused, no_token):
            assert _problems(str(response.url), response) == []
    assert recorded.missing == set()
