"""Content packs: read and validate `messages/packs/<pack>/<slug>.yaml` files into plain specs.

Pure (files in, dataclasses out). Every problem is collected as "file: field: reason" and a pack
with any problem raises `PackInvalid` listing them all, so nothing half-loads. The schema is
documented in messages/packs/README.md; `spec_to_yaml` writes the same schema back out.
Loading specs into the database is `messages.packload`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, default_registry
from campaign.core.yamlfiles import load_yaml
from messages.keywords import KEYWORDS_FILE, KeywordCatalogue, parse_catalogue
from messages.rendering import check_template, template_variables
from messages.whatsapp import CATEGORIES, check_category, check_content_sid, check_variables

DEFAULT_PACK_DIR = Path(__file__).parent / "packs" / "guatemala"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CHANNELS = ("sms", "radio", "whatsapp")
SAFETY_FLAGS = ("discreet", "first_contact", "help", "system")
STATUSES = ("draft", "needs_review", "approved")
SLOTS = (15, 20, 30, 45, 60)
MESSAGE_KEYS = {
    "slug", "topic", "channels", "title", "description", "audiences", "variables",
    "safety_flags", "segment_budget", "slot_seconds", "whatsapp_category", "translations",
}
TRANSLATION_KEYS = {"status", "body", "script", "pronunciation", "reviewer", "notes", "whatsapp"}
WHATSAPP_KEYS = {"content_sid", "variables"}


class PackInvalid(Invalid):
    """A pack failed validation; `errors` lists every problem as "file: field: reason"."""

    def __init__(self, errors: list[str]) -> None:
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        shown = "\n  ".join(errors[:50]) + more
        super().__init__("pack", f"{len(errors)} problem(s), nothing loaded:\n  {shown}")
        self.errors = errors


@dataclass
class TranslationSpec:
    """One language of a message as written in a pack file."""

    language: str
    status: str
    body: str
    script: list[dict[str, Any]] | None = None
    pronunciation: str | None = None
    reviewer: str | None = None
    notes: str | None = None
    content_sid: str | None = None  # the approved WhatsApp template (Twilio Content SID)
    content_variables: dict[str, str] | None = None  # {"1": "organizacion", ...}
    # From the database, never from a file: made from an older Spanish source than the current.
    source_changed: bool = False


@dataclass
class MessageSpec:
    """One message as written in a pack file."""

    slug: str
    topic: str
    channels: list[str]
    title: str | None = None
    description: str | None = None
    audiences: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    safety_flags: list[str] = field(default_factory=list)
    segment_budget: int = 1
    slot_seconds: int | None = None
    whatsapp_category: str | None = None
    translations: dict[str, TranslationSpec] = field(default_factory=dict)

    @property
    def is_radio(self) -> bool:
        return "radio" in self.channels


@dataclass
class Pack:
    """A validated pack: its name, messages by slug, and keyword catalogue (None when absent)."""

    name: str
    directory: Path
    messages: dict[str, MessageSpec]
    keywords: KeywordCatalogue | None


def _validate_script(parts: Any, where: str, errors: list[str]) -> list[dict[str, Any]] | None:
    """Radio script parts: messages.radio.validate_script when the radio module provides it."""
    try:
        from messages import radio  # owned by the radio engineer; may not exist yet
    except ImportError:
        radio = None  # type: ignore[assignment]
    validator = getattr(radio, "validate_script", None)
    if validator is not None:
        try:
            return list(validator(parts))
        except (AppError, ValueError, TypeError) as exc:
            errors.append(f"{where}.script: {exc}")
            return None
    if not isinstance(parts, list) or not parts:
        errors.append(f"{where}.script: expected a non-empty list of parts")
        return None
    for i, part in enumerate(parts, 1):
        if not isinstance(part, Mapping) or not (("speaker" in part and "text" in part) or "cue" in part):
            errors.append(f"{where}.script[{i}]: each part needs speaker+text or a cue")
            return None
    return [dict(p) for p in parts]


def spoken_text(script: list[dict[str, Any]]) -> str:
    """The spoken lines of a radio script joined by newlines (stored as the translation body)."""
    return "\n".join(str(p["text"]) for p in script if p.get("speaker") and p.get("text"))


def _str_list(value: Any, where: str, errors: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{where}: expected a list of strings")
        return []
    return list(value)


def parse_message(
    data: Any, *, source: str, stem: str, registry: LanguageRegistry, errors: list[str]
) -> MessageSpec | None:
    """Validates one parsed message file; appends problems to `errors`; None when unusable."""
    if not isinstance(data, Mapping):
        errors.append(f"{source}: expected a mapping at the top level")
        return None
    for key in sorted(set(data) - MESSAGE_KEYS):
        errors.append(f"{source}: {key}: unknown field")
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        errors.append(f"{source}: slug: {slug!r} is not a slug (lower-case words joined by -)")
        return None
    if slug != stem:
        errors.append(f"{source}: slug: {slug!r} differs from the file name {stem!r}")
    topic = data.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        errors.append(f"{source}: topic: required text")
    channels = _str_list(data.get("channels"), f"{source}: channels", errors)
    if not channels or set(channels) - set(CHANNELS):
        errors.append(f"{source}: channels: {channels!r} must be a non-empty list of sms, radio, whatsapp")
    flags = _str_list(data.get("safety_flags"), f"{source}: safety_flags", errors)
    for flag in flags:
        if flag not in SAFETY_FLAGS:
            errors.append(f"{source}: safety_flags: {flag!r} is not one of {', '.join(SAFETY_FLAGS)}")
    variables = _str_list(data.get("variables"), f"{source}: variables", errors)
    budget = data.get("segment_budget", 1)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        errors.append(f"{source}: segment_budget: {budget!r} must be a whole number >= 1")
        budget = 1
    slot = data.get("slot_seconds")
    if "radio" in channels and slot not in SLOTS:
        errors.append(f"{source}: slot_seconds: {slot!r} must be one of {SLOTS} for a radio spot")
    elif slot is not None and slot not in SLOTS:
        errors.append(f"{source}: slot_seconds: {slot!r} must be one of {SLOTS}")
    category = data.get("whatsapp_category")
    if category is not None:
        try:
            category = check_category(category)
        except Invalid as exc:
            errors.append(f"{source}: whatsapp_category: {exc.reason}")
            category = None
    spec = MessageSpec(
        slug=slug, topic=str(topic or ""), channels=channels,
        title=data.get("title"), description=data.get("description"),
        audiences=_str_list(data.get("audiences"), f"{source}: audiences", errors),
        variables=variables, safety_flags=flags, segment_budget=budget,
        slot_seconds=slot if isinstance(slot, int) else None, whatsapp_category=category,
    )
    translations = data.get("translations")
    if not isinstance(translations, Mapping) or not translations:
        errors.append(f"{source}: translations: expected a mapping of language -> translation")
        return spec
    for lang, tdata in translations.items():
        where = f"{source}: translations.{lang}"
        if str(lang) not in registry:
            errors.append(f"{where}: unknown language code {lang!r} (add it to CAMPAIGN_EXTRA_LANGUAGES)")
            continue
        parsed = _parse_translation(spec, str(lang), tdata, where, errors)
        if parsed is not None:
            spec.translations[str(lang)] = parsed
    if data.get("whatsapp_category") is None and any(t.content_sid for t in spec.translations.values()):
        errors.append(f"{source}: whatsapp_category: " + _(
            "required when a translation has a WhatsApp template (one of %(categories)s: it sets the price)",
            categories=", ".join(CATEGORIES)))
    return spec


def _parse_whatsapp(
    spec: MessageSpec, value: Any, where: str, errors: list[str]
) -> tuple[str, dict[str, str]] | None:
    """A translation's `whatsapp: {content_sid: HX..., variables: {1: organizacion}}` block."""
    if not isinstance(value, Mapping):
        errors.append(f"{where}.whatsapp: " + _("expected a mapping with content_sid and variables"))
        return None
    for key in sorted(set(value) - WHATSAPP_KEYS, key=str):
        errors.append(f"{where}.whatsapp.{key}: unknown field")
    sid: str | None = None
    mapping: dict[str, str] | None = None
    try:
        sid = check_content_sid(value.get("content_sid"), "content_sid")
    except Invalid as exc:
        errors.append(f"{where}.whatsapp.{exc.field}: {exc.reason}")
    try:
        mapping = check_variables(value.get("variables"), spec.variables, "variables")
    except Invalid as exc:
        errors.append(f"{where}.whatsapp.{exc.field}: {exc.reason}")
    return (sid, mapping) if sid is not None and mapping is not None else None


def _parse_translation(
    spec: MessageSpec, lang: str, tdata: Any, where: str, errors: list[str]
) -> TranslationSpec | None:
    if not isinstance(tdata, Mapping):
        errors.append(f"{where}: expected a mapping with status and body")
        return None
    for key in sorted(set(tdata) - TRANSLATION_KEYS):
        errors.append(f"{where}.{key}: unknown field")
    status = tdata.get("status", "draft")
    if status not in STATUSES:
        errors.append(f"{where}.status: {status!r} is not one of {', '.join(STATUSES)}")
    script = None
    if spec.is_radio:
        script = _validate_script(tdata.get("script"), where, errors)
        if script is None:
            return None
        body = spoken_text(script)
        texts = [str(p.get("text", "")) for p in script]
    else:
        raw_body = tdata.get("body")
        body = raw_body if isinstance(raw_body, str) else ""
        if not body.strip():
            errors.append(f"{where}.body: required text")
            return None
        texts = [body]
    used: set[str] = set()
    for text in texts:
        try:
            used |= template_variables(text)
            check_template(text, spec.variables)  # bounds: size, constructs, what it renders
        except Invalid as exc:
            errors.append(f"{where}.body: {exc.reason}")
            return None
    if used != set(spec.variables):
        errors.append(
            f"{where}.body: uses variables {sorted(used)} but the message declares {sorted(spec.variables)}"
        )
    whatsapp = _parse_whatsapp(spec, tdata["whatsapp"], where, errors) if "whatsapp" in tdata else None
    return TranslationSpec(
        language=lang, status=str(status), body=body.rstrip("\n"), script=script,
        pronunciation=tdata.get("pronunciation"), reviewer=tdata.get("reviewer"), notes=tdata.get("notes"),
        content_sid=whatsapp[0] if whatsapp else None, content_variables=whatsapp[1] if whatsapp else None,
    )


def read_pack(directory: Path | str | None = None, *, registry: LanguageRegistry | None = None) -> Pack:
    """Reads and validates every file of a pack; raises PackInvalid listing all problems."""
    directory = Path(directory or DEFAULT_PACK_DIR)
    if not directory.is_dir():
        raise Invalid(str(directory), _("pack directory not found"))
    registry = registry or default_registry()
    errors: list[str] = []
    messages: dict[str, MessageSpec] = {}
    keywords: KeywordCatalogue | None = None
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    for path in files:
        try:
            data = load_yaml(path.read_text(encoding="utf-8"), source=path.name)
        except UnicodeDecodeError as exc:
            errors.append(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}")
            continue
        except Invalid as exc:  # not YAML, or beyond a bound (size, nesting, aliases)
            errors.append(str(exc))
            continue
        if path.name == KEYWORDS_FILE:
            keywords, problems = parse_catalogue(data, source=path.name)
            errors.extend(problems)
            continue
        if path.name.startswith("_"):
            continue
        spec = parse_message(data, source=path.name, stem=path.stem, registry=registry, errors=errors)
        if spec is not None:
            messages[spec.slug] = spec
    if not files:
        errors.append(f"{directory}: no .yaml files")
    if errors:
        raise PackInvalid(errors)
    return Pack(name=directory.name, directory=directory, messages=messages, keywords=keywords)


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def spec_to_dict(spec: MessageSpec) -> dict[str, Any]:
    """A message in the pack file schema (fields in documented order, empty optionals left out)."""
    out: dict[str, Any] = {"slug": spec.slug, "topic": spec.topic, "channels": list(spec.channels)}
    for key in ("title", "description"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    out["audiences"] = list(spec.audiences)
    out["variables"] = list(spec.variables)
    out["safety_flags"] = list(spec.safety_flags)
    if "sms" in spec.channels:
        out["segment_budget"] = spec.segment_budget
    if spec.slot_seconds is not None:
        out["slot_seconds"] = spec.slot_seconds
    if spec.whatsapp_category:
        out["whatsapp_category"] = spec.whatsapp_category
    translations: dict[str, Any] = {}
    for lang, t in spec.translations.items():
        entry: dict[str, Any] = {"status": t.status}
        if t.script is not None:
            entry["script"] = t.script
            if t.pronunciation:
                entry["pronunciation"] = t.pronunciation
        else:
            entry["body"] = t.body
        if t.reviewer:
            entry["reviewer"] = t.reviewer
        if t.notes:
            entry["notes"] = t.notes
        if t.content_sid:
            entry["whatsapp"] = {"content_sid": t.content_sid, "variables": dict(t.content_variables or {})}
        translations[lang] = entry
    out["translations"] = translations
    return out


def to_yaml(data: Mapping[str, Any]) -> str:
    """YAML text in the pack style (UTF-8, block style, multi-line bodies as literal blocks)."""
    return yaml.dump(dict(data), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
