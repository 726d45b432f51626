"""Words for people in their language: gettext catalogues (Spanish default, English available).

Contract:
- Source strings (msgids) are English; `campaign/locale/es/LC_MESSAGES/*.po` hold the Spanish.
  English needs no catalogue. A missing translation falls back to the English msgid, and the
  test `tests/campaign/core/test_i18n.py` fails on any msgid without its Spanish form.
- Placeholders are named, gettext/Jinja style: `_("%(n)d contacts imported", n=5)`. Python and
  templates (`{{ _("...", n=5) }}`, Jinja's newstyle gettext) format the same way.
- The locale is per context (a contextvar): the CLI sets it once from CAMPAIGN_LOCALE, the web
  per request (user preference, then Accept-Language). Default: Spanish.
- `N_()` marks module-level constants for extraction; translate them where shown with `_(value)`.
- Catalogues are split by area (core, blasts, hotline, radio, web, audiences, messages, ...) so
  that work in one area does not touch another's file; at run time they merge into one.
  `python tools/i18n.py update` adds new msgids to the right file; `check` lists what is missing.

Leaf module: imports nothing of the project.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

LOCALES: tuple[str, ...] = ("es", "en")
DEFAULT_LOCALE = "es"
SOURCE_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# Babel's names for formatting numbers and dates the way Guatemala writes them.
BABEL_LOCALES: dict[str, str] = {"es": "es_GT", "en": "en_US"}

_current: ContextVar[str] = ContextVar("campaign_locale", default=DEFAULT_LOCALE)


def normalize_locale(value: str | None) -> str | None:
    """`es-GT`, `es_GT`, `ES` -> `es`; None when it is not a locale the interface speaks."""
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code in LOCALES else None


def get_locale() -> str:
    """The locale of the current context (CLI command, HTTP request)."""
    return _current.get()


def set_locale(value: str | None) -> str:
    """Sets the current context's locale (unknown or empty values give the default); returns it."""
    code = normalize_locale(value) or DEFAULT_LOCALE
    _current.set(code)
    return code


@contextlib.contextmanager
def use_locale(value: str | None) -> Iterator[str]:
    """Runs a block in `value`'s locale, then restores the previous one."""
    token = _current.set(normalize_locale(value) or DEFAULT_LOCALE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def best_match(accept_language: str | None) -> str | None:
    """The interface locale an `Accept-Language` header prefers most (None when none matches)."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = normalize_locale(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return sorted(ranked)[0][2] if ranked else None


@cache
def catalogue(locale: str) -> Mapping[str, Any]:
    """msgid -> msgstr (or tuple of plural forms) of every area's .po file for `locale`.

    Fuzzy and empty entries are left out, so they fall back to English (and fail the i18n test).
    """
    from babel.messages.pofile import read_po

    merged: dict[str, Any] = {}
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=locale):
                if not message.id or message.fuzzy:
                    continue
                key = message.id[0] if isinstance(message.id, tuple | list) else message.id
                value = message.string
                if isinstance(value, tuple | list):
                    if all(value):
                        merged[key] = tuple(value)
                elif value:
                    merged[key] = value
    return merged


def _lookup(msgid: str) -> str:
    locale = _current.get()
    if locale == SOURCE_LOCALE:
        return msgid
    found = catalogue(locale).get(msgid)
    if isinstance(found, tuple):
        return str(found[0])
    return found or msgid


def _format(text: str, values: Mapping[str, Any]) -> str:
    return text % values if values else text


def gettext(msgid: str, **values: Any) -> str:
    """`msgid` in the current locale, with `%(name)s` placeholders filled from `values`."""
    return _format(_lookup(str(msgid)), values)


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """The singular or plural form for `n` in the current locale; `%(num)d` is `n` unless given."""
    values.setdefault("num", n)
    locale = _current.get()
    forms = None if locale == SOURCE_LOCALE else catalogue(locale).get(singular)
    if isinstance(forms, tuple):
        # Spanish and English both: one form for 1, the other for the rest.
        text = forms[0] if n == 1 else forms[min(1, len(forms) - 1)]
    else:
        text = singular if n == 1 else plural
    return _format(str(text), values)


_ = gettext


class LazyString:
    """A msgid translated when it is shown (module-level constants, help texts)."""

    __slots__ = ("msgid",)

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid

    def __str__(self) -> str:
        return _lookup(self.msgid)

    def __repr__(self) -> str:
        return f"N_({self.msgid!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __mod__(self, values: Any) -> str:
        return str(self) % values

    def __html__(self) -> str:  # Jinja: escape it like any other text
        from markupsafe import escape

        return str(escape(str(self)))


def N_(msgid: str) -> LazyString:  # noqa: N802 - the gettext convention
    """Marks `msgid` for extraction; the result shows in the locale current when printed."""
    return LazyString(msgid)


def install_jinja(env: Any) -> None:
    """Adds `_`, `gettext` and `ngettext` to a Jinja environment (newstyle: `%(name)s` filled)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_lookup, _jinja_ngettext, newstyle=True)
    env.globals["get_locale"] = get_locale


def _jinja_ngettext(singular: str, plural: str, n: int) -> str:
    locale = _current.get()
    forms = None if locale == SOURCE_LOCALE else catalogue(locale).get(singular)
    if isinstance(forms, tuple):
        return str(forms[0] if n == 1 else forms[min(1, len(forms) - 1)])
    return singular if n == 1 else plural


def babel_locale() -> str:
    """Babel's locale name for formatting numbers and dates in the current locale (`es_GT`)."""
    return BABEL_LOCALES.get(_current.get(), "es_GT")
