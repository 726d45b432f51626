"""Rendering message templates: a Jinja2 sandbox with strict variables, and text normalization.

Pure functions. Templates are SMS text, so autoescape is off; the sandbox stops a template from
reaching Python internals; StrictUndefined makes a missing variable an error that names it
(never an empty string in a message sent to thousands of people). Compiled templates are cached.

Rendering context (built by `build_context`): the deployment defaults (hotline numbers,
organisation name) overlaid by campaign variables, then step variables, as top-level names; the
contact as `contact` (name, first_name, language, department, municipality, ...).

Bounds: a template is at most `MAX_TEMPLATE` characters of `{{ ... }}` and if/elif/else (no
loops, no `set`, no macros), its operators, calls and filters refuse any text or list longer than
`MAX_OUTPUT` before building it, a render stops after `MAX_RENDER_SECONDS`, and its output is at
most `MAX_OUTPUT` characters. So `{{ x * 200000000 }}` is an error naming the line, not gigabytes
of memory in lint, preview or planning.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from campaign.core.errors import Invalid
from campaign.core.i18n import _

# Typed or pasted apostrophes in Mayan orthography (glottal stop): right single quote, modifier
# letter apostrophe, left single quote, acute accent, grave accent. All become ASCII ' (GSM-7).
APOSTROPHES = "\u2019\u02bc\u2018\u00b4`"
_APOSTROPHE_TABLE = {ord(c): "'" for c in APOSTROPHES}


def normalize_text(text: str) -> str:
    """NFC, then every apostrophe variant (’ ʼ ‘ ´ `) -> '. Idempotent."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        return text.translate(_APOSTROPHE_TABLE)
    if "`" in text:
        return text.replace("`", "'")
    return text


def first_name(value: Any) -> str:
    """The first word of a name (or of a contact's `name`); empty when there is none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = getattr(value, "name", None) or (value.get("name") if isinstance(value, Mapping) else "")
    parts = str(value or "").split()
    return parts[0] if parts else ""


# --- bounds: no template can exhaust memory or time -----------------------------------------------

MAX_TEMPLATE = 5_000  # characters of one template (an SMS body, one part of a radio script)
MAX_OUTPUT = 10_000  # characters one render may produce (and any text or list built on the way)
MAX_RENDER_SECONDS = 1.0
ALLOWED_STATEMENTS = (nodes.Output, nodes.If)  # {{ ... }} and if/elif/else: no loops, no set
# Jinja's own filters that a message may use; the others (center, indent, wordwrap, format,
# batch, ...) take sizes or are not for SMS text. The project's own filters are kept.
SAFE_BUILTIN_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last",
        "length", "lower", "replace", "round", "string", "title", "trim", "truncate", "upper",
    }
)
# Methods a template may call, e.g. {{ contact.name.split()[0] }}; every other call is refused.
SAFE_METHODS = frozenset(
    {
        "capitalize", "endswith", "get", "lower", "lstrip", "replace", "rstrip", "split",
        "startswith", "strip", "title", "upper",
    }
)


class TemplateLimit(Exception):
    """A template went past a bound (length, time, construct); becomes TemplateRefused."""


class TemplateRefused(Invalid):
    """Invalid("template", ...) for a template that breaks a bound or uses a refused construct
    (as opposed to one that merely fails with the values given)."""

    def __init__(self, reason: str) -> None:
        super().__init__("template", reason)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _too_long() -> TemplateLimit:
    return TemplateLimit(_("the text would be longer than %(max)d characters", max=MAX_OUTPUT))


def _check_size(value: Any) -> Any:
    size = _size(value)
    if size is not None and size > MAX_OUTPUT:
        raise _too_long()
    return value


def _check_count(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
        raise TemplateLimit(_("the number %(value)d is larger than %(max)d", value=value, max=MAX_OUTPUT))


def _replace_size(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * (len(new) - len(old)) > MAX_OUTPUT:
            raise _too_long()


def _join_size(items: Any, separator: Any = "") -> None:
    if isinstance(items, list | tuple):
        total = sum(len(str(item)) for item in items) + len(str(separator)) * max(len(items) - 1, 0)
        if total > MAX_OUTPUT:
            raise _too_long()


class _Deadline:
    """The end of the current render (per thread: planning renders in one thread, the web in many)."""

    local = threading.local()

    @classmethod
    def check(cls) -> None:
        end = getattr(cls.local, "end", None)
        if end is not None and time.monotonic() > end:
            raise TemplateLimit(_("rendering took longer than %(max)g s", max=MAX_RENDER_SECONDS))


def _bounded_filter(name: str, fn: Any) -> Any:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _Deadline.check()
        values = args[1:] if args and isinstance(args[0], Environment | Context | EvalContext) else args
        for value in (*values[1:], *kwargs.values()):
            _check_count(value)
        if name == "replace" and len(values) >= 3:
            _replace_size(*values[:3])
        if name == "join" and values:
            _join_size(values[0], values[1] if len(values) > 1 else kwargs.get("d", ""))
        return _check_size(fn(*args, **kwargs))

    for attribute in ("jinja_pass_arg",):  # keep how Jinja passes the context/environment
        if hasattr(fn, attribute):
            setattr(bounded, attribute, getattr(fn, attribute))
    return bounded


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus bounds on every operator, call and filter a template can reach."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _Deadline.check()
        if operator == "*":
            for text, times in ((left, right), (right, left)):
                if _size(text) is not None and isinstance(times, int):
                    if _size(text) * times > MAX_OUTPUT:  # type: ignore[operator]
                        raise _too_long()
        elif operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float):
                if abs(right) > 64 or abs(left) > 2**64:
                    raise TemplateLimit(_("a power larger than 64 or of a number beyond 2^64"))
        elif operator == "%" and isinstance(left, str):
            raise TemplateLimit(_("formatting text with % is not allowed in a message template"))
        elif operator == "+" and _size(left) is not None and _size(right) is not None:
            if _size(left) + _size(right) > MAX_OUTPUT:  # type: ignore[operator]
                raise _too_long()
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _Deadline.check()
        if isinstance(__obj, Undefined):
            __obj._fail_with_undefined_error()  # "'lipsum' is undefined", not "not callable"
        name = getattr(__obj, "__name__", None)
        if getattr(__obj, "__self__", None) is None or name not in SAFE_METHODS:
            raise SecurityError(f"calling {name or type(__obj).__name__!s} is not allowed")
        for value in (*args, *kwargs.values()):
            _check_count(value)
        if name == "replace" and len(args) >= 2:
            _replace_size(__obj.__self__, *args[:2])
        return _check_size(super().call(__context, __obj, *args, **kwargs))


def _environment() -> SandboxedEnvironment:
    env = _BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["first_name"] = first_name
    for name in [n for n in env.filters if n not in SAFE_BUILTIN_FILTERS and n != "first_name"]:
        del env.filters[name]
    env.filters = {name: _bounded_filter(name, fn) for name, fn in env.filters.items()}
    env.globals.clear()  # range, lipsum, cycler, joiner, namespace, dict: none is for SMS text
    return env


ENV = _environment()


def _check_statements(tree: nodes.Template) -> None:
    """Only output and if/elif/else: loops, `set`, macros, includes and blocks are refused."""
    for node in tree.find_all(nodes.Stmt):
        if not isinstance(node, ALLOWED_STATEMENTS):
            tag = type(node).__name__.lower()
            raise TemplateRefused(
                _(
                    "line %(line)d: %(tag)s is not allowed in a message template (only {{ ... }} and if)",
                    line=node.lineno,
                    tag=tag,
                ),
            )


@lru_cache(maxsize=4096)
def _compile(template: str) -> Any:
    if len(template) > MAX_TEMPLATE:
        raise TemplateRefused(_("longer than %(max)d characters", max=MAX_TEMPLATE))
    try:
        _check_statements(ENV.parse(template))
        return ENV.from_string(template)
    except TemplateSyntaxError as exc:
        raise Invalid(
            "template", _("line %(line)s: %(message)s", line=exc.lineno, message=exc.message)
        ) from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line where a render failed (Jinja rewrites tracebacks to point at it)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _limited(exc: BaseException, reason: str, *, refused: bool = True) -> Invalid:
    line = _template_line(exc)
    text = f"line {line}: {reason}" if line else reason
    return TemplateRefused(text) if refused else Invalid("template", text)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Renders `template` with `variables` and returns normalized text (see `normalize_text`).

    Raises Invalid("variable", "'x' is undefined ...") for a missing variable,
    Invalid("template", ...) for a syntax error or a sandbox violation.
    """
    compiled = _compile(template)
    _Deadline.local.end = time.monotonic() + MAX_RENDER_SECONDS
    try:
        parts: list[str] = []
        size = 0
        for part in compiled.generate(variables):
            size += len(part)
            if size > MAX_OUTPUT:
                raise _too_long()
            _Deadline.check()
            parts.append(part)
        out = "".join(parts)
    except UndefinedError as exc:
        known = ", ".join(sorted(variables)) or "none"
        raise Invalid(
            "variable", _("%(message)s (variables given: %(known)s)", message=exc.message, known=known)
        ) from exc
    except SecurityError as exc:
        raise _limited(exc, f"not allowed in a message template: {exc}") from exc
    except TemplateLimit as exc:
        raise _limited(exc, str(exc)) from exc
    except Invalid:
        raise
    except Exception as exc:  # noqa: BLE001 - 1/0, "a" + 1, a huge float...: the template's fault
        raise _limited(exc, f"{type(exc).__name__}: {exc}"[:200], refused=False) from exc
    finally:
        _Deadline.local.end = None
    return normalize_text(out)


def check_template(template: str, declared: Collection[str] = ()) -> None:
    """Raises TemplateRefused when a template breaks a bound or uses a refused construct: checked
    by compiling it, then rendering it once with placeholder values for `declared` and a sample
    contact (an error that only comes from the placeholders, such as "[n]" + 1, is not one)."""
    _compile(template)
    try:
        render(template, sample_context({}, declared))
    except TemplateRefused:
        raise
    except Invalid:
        pass


@lru_cache(maxsize=4096)
def _variables(template: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(ENV.parse(template)))
    except TemplateSyntaxError as exc:
        raise Invalid(
            "template", _("line %(line)s: %(message)s", line=exc.lineno, message=exc.message)
        ) from exc


def template_variables(template: str) -> set[str]:
    """The top-level names a template uses (e.g. {"hotline_mujer", "contact"})."""
    return set(_variables(template))


@lru_cache(maxsize=4096)
def _contact_fields(template: str) -> tuple[tuple[str, bool], ...]:
    try:
        tree = ENV.parse(template)
    except TemplateSyntaxError as exc:
        raise Invalid(
            "template", _("line %(line)s: %(message)s", line=exc.lineno, message=exc.message)
        ) from exc
    guarded: set[int] = set()  # field nodes under `| default(...)` or `is defined`
    for check in tree.find_all((nodes.Filter, nodes.Test)):
        if check.name in ("default", "d", "defined", "undefined") and check.node is not None:
            guarded.add(id(check.node))
    fields: dict[str, bool] = {}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            target, name = node.node, node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str):
            target, name = node.node, node.arg.value
        else:
            continue
        if not (isinstance(target, nodes.Name) and target.name == "contact"):
            continue
        fields[name] = fields.get(name, False) or id(node) in guarded
    return tuple(sorted(fields.items()))


def contact_fields(template: str) -> dict[str, bool]:
    """The contact fields a template reads (`contact.colonia`, `contact["colonia"]`), each with
    True when the template says what to write without it (`| default(...)`, `is defined`)."""
    return dict(_contact_fields(template))


def build_context(
    *,
    defaults: Mapping[str, Any] | None = None,
    campaign: Mapping[str, Any] | None = None,
    step: Mapping[str, Any] | None = None,
    contact: Any = None,
) -> dict[str, Any]:
    """Deployment defaults, overlaid by campaign variables, then step variables; plus `contact`."""
    context: dict[str, Any] = {}
    for layer in (defaults, campaign, step):
        if layer:
            context.update(layer)
    if contact is not None:
        context["contact"] = contact
    return context


SAMPLE_CONTACT: dict[str, Any] = {
    "name": "María Ejemplo Pérez",
    "first_name": "María",
    "language": "es",
    "department": "San Marcos",
    "municipality": "Tecún Umán",
    "municipality_code": "GT-SM-12",
    "phone": "+50230000000",
}


class SampleContact(dict):
    """The synthetic contact of lint and previews: any other field (a custom field imported with
    the audience, such as `colonia`) reads as a placeholder `[colonia]`, because which fields
    exist is the audience's business; `campaign launch` checks the names against the imports."""

    def __missing__(self, key: str) -> str:
        return f"[{key}]"


def sample_context(defaults: Mapping[str, Any], declared: Collection[str] = ()) -> dict[str, Any]:
    """A context for lint and previews: defaults, a synthetic contact, and a placeholder for any
    other declared variable (so a message can be checked before a campaign gives it values)."""
    context = build_context(defaults=defaults, contact=SampleContact(SAMPLE_CONTACT))
    for name in declared:
        context.setdefault(name, f"[{name}]")
    return context
