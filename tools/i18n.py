"""Keeps the gettext catalogues in step with the code: `update` adds new msgids, `check` lists gaps.

    python tools/i18n.py update   # every _()/N_()/ngettext msgid of the code and templates into
                                  # campaign/locale/es/LC_MESSAGES/<area>.po (sorted, no locations)
    python tools/i18n.py check    # exits 1 listing msgids without a Spanish translation

A msgid belongs to the area of the first file that uses it (core, blasts, hotline, radio, web,
providers, campaign, audiences, messages), so work in one area edits one file.

The command line's help is written in English in the code, as typer reads it: `help="..."`
strings and the docstrings of commands (`@app.command()`, `@app.callback()`). Those are msgids
too (campaign/cli_usage.py translates them when `campaign ... --help` is drawn).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "campaign" / "locale"
TARGET_LOCALES = ("es",)
SOURCES = ("campaign", "audiences", "messages")
METHOD_MAP = [
    ("**/migrations/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
]
OPTIONS_MAP = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
FIXED_DATE = datetime(2026, 11, 29, tzinfo=UTC)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]")


def area_of(path: str) -> str:
    """The catalogue a source file's strings go to."""
    parts = Path(path).parts
    if parts[0] == "campaign" and len(parts) > 2:
        return parts[1]
    return parts[0]


def extracted() -> dict[str, tuple[str, str | tuple[str, str]]]:
    """msgid -> (area, message id as gettext sees it: str, or (singular, plural))."""
    found: dict[str, tuple[str, str | tuple[str, str]]] = {}
    for top in SOURCES:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / top, METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, strip_comment_tags=True
        ):
            key = message[0] if isinstance(message, tuple) else message
            if not key:
                continue
            found.setdefault(key, (area_of(f"{top}/{filename}"), message))
    for path, text in help_texts():
        found.setdefault(text, (area_of(path), text))
    return found


def help_texts() -> list[tuple[str, str]]:
    """(file, text) of every command-line help text, cleaned as typer cleans them: string `help=`
    arguments; the docstrings of functions registered as commands or callbacks (`@app.command()`
    or `app.command("name")(function)`); strings assigned to a command's `__doc__`."""
    out: list[tuple[str, str]] = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            registered = {
                node.args[0].id
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and _registers(node.func) and node.args
                and isinstance(node.args[0], ast.Name)
            }
            for node in ast.walk(tree):
                texts: list[ast.expr] = []
                if isinstance(node, ast.Call):
                    texts = [k.value for k in node.keywords if k.arg == "help"]
                elif isinstance(node, ast.Assign) and any(
                    isinstance(target, ast.Attribute) and target.attr == "__doc__" for target in node.targets
                ):
                    value = node.value.value if isinstance(node.value, ast.Subscript) else node.value
                    texts = list(value.values) if isinstance(value, ast.Dict) else [value]  # type: ignore[arg-type]
                elif isinstance(node, ast.FunctionDef) and (
                    node.name in registered or any(_registers(d) for d in node.decorator_list)
                ):
                    doc = ast.get_docstring(node, clean=True)
                    if doc:
                        out.append((relative, doc))
                for text in texts:
                    if isinstance(text, ast.Constant) and isinstance(text.value, str):
                        out.append((relative, inspect.cleandoc(text.value)))
    return [(path, text) for path, text in out if text]


def _registers(decorator: ast.expr) -> bool:
    """`something.command(...)` or `something.callback(...)`: typer reads the docstring."""
    func = decorator.func if isinstance(decorator, ast.Call) else None
    return isinstance(func, ast.Attribute) and func.attr in ("command", "callback")


def new_catalog(locale: str) -> Catalog:
    """An empty catalogue with a fixed header (no dates that change on every update)."""
    catalog = Catalog(
        locale=locale,
        project="campaign-engine",
        fuzzy=False,
        creation_date=FIXED_DATE,
        revision_date=FIXED_DATE,
        last_translator="campaign-engine team",
        language_team="es",
    )
    # Two forms, as gettext and our ngettext use them (CLDR's extra "many" form adds nothing here).
    catalog._num_plurals, catalog._plural_expr = 2, "(n != 1)"
    return catalog


def load(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return new_catalog(locale)
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def update() -> None:
    found = extracted()
    for locale in TARGET_LOCALES:
        folder = LOCALE_DIR / locale / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        existing: dict[str, object] = {}
        for path in folder.glob("*.po"):
            for message in load(path, locale):
                if message.id:
                    key = message.id[0] if isinstance(message.id, tuple | list) else message.id
                    existing[key] = message.string
        areas = sorted({area for area, _ in found.values()} | {p.stem for p in folder.glob("*.po")})
        for area in areas:
            catalog = new_catalog(locale)
            for key, (msg_area, message) in found.items():
                if msg_area != area:
                    continue
                string = existing.get(key)
                if isinstance(message, tuple):
                    plural = string if isinstance(string, tuple | list) else ("", "")
                    catalog.add(message, string=tuple(plural))
                else:
                    catalog.add(message, string=string if isinstance(string, str) else "")
            path = folder / f"{area}.po"
            if not len(catalog):
                path.unlink(missing_ok=True)
                continue
            with path.open("wb") as handle:
                write_po(handle, catalog, sort_output=True, no_location=True, width=0, omit_header=False)
    print(f"{len(found)} msgids in the code; catalogues updated under {LOCALE_DIR}")


def problems() -> list[str]:
    """Every msgid without a Spanish form, and every translation whose placeholders differ."""
    found = extracted()
    out: list[str] = []
    for locale in TARGET_LOCALES:
        translated: dict[str, object] = {}
        for path in (LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"):
            for message in load(path, locale):
                if message.id and not message.fuzzy:
                    key = message.id[0] if isinstance(message.id, tuple | list) else message.id
                    translated[key] = message.string
        for key, (area, _message) in sorted(found.items()):
            string = translated.get(key)
            strings: Iterable[object] = string if isinstance(string, tuple | list) else [string]
            if not all(strings):
                out.append(f"{locale} [{area}] untranslated: {key!r}")
                continue
            want = set(PLACEHOLDER.findall(key))
            for text in strings:
                got = set(PLACEHOLDER.findall(str(text)))
                if got - want or (want - got - {"num"}):
                    out.append(f"{locale} [{area}] placeholders differ: {key!r} -> {text!r}")
    return out


def main(argv: list[str]) -> int:
    if argv[1:] == ["update"]:
        update()
        return 0
    if argv[1:] == ["check"]:
        gaps = problems()
        for line in gaps:
            print(line)
        print(f"{len(gaps)} problems")
        return 1 if gaps else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
