"""Rendering message templates: a Jinja2 sandbox with strict variables, and text normalization.

Pure functions. Templates are SMS text, so autoescape is off; the sandbox stops a template from
reaching Python internals; StrictUndefined makes a missing variable an error that names it
(never an empty string in a message sent to thousands of people). Compiled templates are cached.

Rendering context (built by `build_context`): the deployment defaults (hotline numbers,
organisation name) overlaid by campaign variables, then step variables, as top-level names; the
contact as `contact` (name, first_name, language, department, municipality, ...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from campaign.core.errors import Invalid

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


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["first_name"] = first_name
    return env


ENV = _environment()


@lru_cache(maxsize=4096)
def _compile(template: str) -> Any:
    try:
        return ENV.from_string(template)
    except TemplateSyntaxError as exc:
        raise Invalid("template", f"line {exc.lineno}: {exc.message}") from exc


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Renders `template` with `variables` and returns normalized text (see `normalize_text`).

    Raises Invalid("variable", "'x' is undefined ...") for a missing variable,
    Invalid("template", ...) for a syntax error or a sandbox violation.
    """
    compiled = _compile(template)
    try:
        out = compiled.render(variables)
    except UndefinedError as exc:
        known = ", ".join(sorted(variables)) or "none"
        raise Invalid("variable", f"{exc.message} (variables given: {known})") from exc
    except SecurityError as exc:
        raise Invalid("template", f"not allowed in a message template: {exc}") from exc
    return normalize_text(out)


@lru_cache(maxsize=4096)
def _variables(template: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(ENV.parse(template)))
    except TemplateSyntaxError as exc:
        raise Invalid("template", f"line {exc.lineno}: {exc.message}") from exc


def template_variables(template: str) -> set[str]:
    """The top-level names a template uses (e.g. {"hotline_mujer", "contact"})."""
    return set(_variables(template))


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
    "phone": "+50230000000",
}


def sample_context(defaults: Mapping[str, Any], declared: Collection[str] = ()) -> dict[str, Any]:
    """A context for lint and previews: defaults, a synthetic contact, and a placeholder for any
    other declared variable (so a message can be checked before a campaign gives it values)."""
    context = build_context(defaults=defaults, contact=dict(SAMPLE_CONTACT))
    for name in declared:
        context.setdefault(name, f"[{name}]")
    return context
