"""Every error a person can be shown is raised in their language: no English-only literal as its message.

A static sweep (the AST of campaign/, audiences/, messages/ and scheduler.py): a raise of any
`AppError` subclass (Invalid, NotFound, Forbidden, MalformedWebhook, LaunchRefused, ...) whose
message is a string literal with words, an f-string, or a `+`/`if` of them fails this test with
file:line; the message must come from `_()` (or `N_()`, `ngettext`, a translated variable). The
allowlist names each exception with its reason. The Spanish behaviour itself is asserted through
the real entry points in tests/campaign/test_cli_spanish.py and tests/campaign/web/test_spanish_errors.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("campaign", "audiences", "messages", "scheduler.py")
# Errors (with their subclasses) whose text is not a sentence for people.
NOT_MESSAGES = {
    # A provider's failure (ProviderError, UnknownOutcome): its code and diagnostic are stored in
    # outbound.error_code/error_message beside Twilio's own English text, for operators; no page or
    # command shows them (people read the status and the code, translated where shown).
    "ProviderError",
}
# file:first words of the message -> why it may stay as written. Keep it short.
ALLOWLIST: dict[str, str] = {}


def _python_files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            if "migrations" not in file.parts:
                yield file


def _error_classes(trees: dict[Path, ast.Module], root: str) -> set[str]:
    """`root` and every class of the project deriving from it (by name, transitively)."""
    bases: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {root}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def _english(node: ast.AST) -> bool:
    """A literal sentence (words with a space), an f-string, or an expression built from them."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and " " in node.value.strip()
    if isinstance(node, ast.BinOp):
        return _english(node.left) or _english(node.right)
    if isinstance(node, ast.IfExp):
        return _english(node.body) or _english(node.orelse)
    return False


def untranslated_errors() -> list[str]:
    """`path:line: Class message` for every error raised with an English-only literal message."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in _python_files()}
    classes = _error_classes(trees, "AppError")
    for name in NOT_MESSAGES:
        classes -= _error_classes(trees, name)
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in classes:
                continue
            # InvalidTransition(what, current, target, hint=...): `what` and `hint` are words; the
            # statuses are codes. Everything else: the last positional argument is the message.
            first = node.args[0] if name == "InvalidTransition" else node.args[-1] if node.args else None
            messages = [first] if first is not None else []
            messages += [k.value for k in node.keywords if k.arg in ("reason", "message", "hint")]
            for message in messages:
                if _english(message):
                    where = path.relative_to(ROOT).as_posix()
                    text = ast.unparse(message)[:70]
                    if not any(where == key.split(":")[0] and text.startswith(key.split(":", 1)[1])
                               for key in ALLOWLIST):
                        found.append(f"{where}:{node.lineno}: {name} {text}")
    return sorted(found)


def test_every_error_message_goes_through_gettext():
    left = untranslated_errors()
    assert left == [], "errors raised with an English-only message (use _()):\n" + "\n".join(left)


def test_the_sweep_finds_what_it_is_for(tmp_path):
    """The scan is not vacuous: the shapes it must catch are caught, translated ones are not."""
    sample = ast.parse(
        "raise Invalid('f', 'too short')\n"
        "raise NotFound(f'no segment {slug!r}')\n"
        "raise Forbidden('no such ' + what)\n"
        "raise Invalid('f', _('too short'))\n"
        "raise Invalid('f', exc.reason + _where(mark))\n"
    )
    calls = [n.exc for n in sample.body if isinstance(n, ast.Raise)]
    flagged = [_english(c.args[-1]) for c in calls if isinstance(c, ast.Call)]
    assert flagged == [True, True, True, False, False]
