"""The keyword catalogue: words that mean opt-out, opt-in, help or urgent, per language.

Read from the pack's `_keywords.yaml`; the opt-out words every carrier expects (STOP, ...) are
always present for Spanish even when the file forgets them. The file's `triage:` section holds the
triage lexicon (danger stems, words for partners and minors, negators, ...; its categories are
TRIAGE_CATEGORIES). Matching itself (classifying an inbound text) lives in
`campaign/hotline/intents.py`; this module only loads and validates the lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign.core.errors import Invalid
from campaign.core.i18n import _

INTENTS = ("opt_out", "opt_in", "help", "urgent")
# Categories of the `triage:` section, what each holds (see the pack's _keywords.yaml header).
TRIAGE_CATEGORIES: dict[str, str] = {
    "danger": "patterns anywhere that show someone hurt, threatened, held, forced or in fear",
    "danger_person": "verb stems that are danger only about a person (me/la/le before, -me after)",
    "not_danger": "patterns that cancel a danger_person match (se me pego la gripe)",
    "missing": "a person who has not come back or cannot be found (with a person word)",
    "people": "words for people: partners, family, neighbours (context for missing and cues)",
    "partners": "words for a partner or ex-partner (reported as a cue)",
    "minors": "words for children and adolescents",
    "with_minor": "patterns that are danger when the message is about a minor",
    "held_verbs": "taking or keeping something (with held_items: danger)",
    "held_items": "documents or children someone takes or keeps",
    "control": "control, insults, money: a person must read it (help, high priority)",
    "help": "patterns anywhere that ask for help, information, orientation or a call",
    "not_help": "patterns that cancel a help match (gracias por la ayuda)",
    "urgency": "with a help request: urgent",
    "negators": "words that negate a danger cue right after them (no me pega)",
    "clitics": "object pronouns before a verb (me, la, le, nos, ...)",
    "auxiliaries": "words allowed between a clitic or negator and its verb (esta, quiere, va a)",
    "opt_out_phrases": "patterns anywhere that ask for no more messages",
    "opt_out_leading": "opt-out words that count at the start or end of a longer message",
    "opt_out_unclear": "a wish to stop that a person must confirm",
    "opt_in_phrases": "patterns anywhere that ask for messages again",
    "affirmations": "a bare yes (re-subscribes only as the answer to our question)",
    "fillers": "courtesy words ignored around a whole-message keyword",
    "abbreviations": "SMS spellings, as 'short = long' (q = que, xfa = por favor)",
}
STATUSES = ("draft", "needs_review", "approved")
KEYWORDS_FILE = "_keywords.yaml"
DEFAULT_PACK_DIR = Path(__file__).parent / "packs" / "guatemala"

# Never lose the universal opt-out words, whatever the pack says.
REQUIRED_OPT_OUT = ("STOP",)


@dataclass(frozen=True)
class KeywordCatalogue:
    """language -> intent -> keywords (as written), plus each language's review status."""

    languages: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    # language -> triage category (TRIAGE_CATEGORIES) -> patterns, as written
    triage: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def keywords(self, language: str, intent: str) -> tuple[str, ...]:
        """The keywords of one intent in one language (empty when none)."""
        return tuple(self.languages.get(language, {}).get(intent, ()))

    def for_intent(self, intent: str) -> dict[str, tuple[str, ...]]:
        """language -> keywords for one intent."""
        return {lang: tuple(intents.get(intent, ())) for lang, intents in self.languages.items()}

    def all_keywords(self, intent: str) -> tuple[str, ...]:
        """Every language's keywords for one intent, deduplicated (an inbound text may not say its
        language)."""
        seen: dict[str, None] = {}
        for words in self.for_intent(intent).values():
            seen.update(dict.fromkeys(words))
        return tuple(seen)

    def as_dict(self) -> dict[str, Any]:
        """The `_keywords.yaml` shape."""
        data: dict[str, Any] = {
            "keywords": {
                lang: {"status": self.statuses.get(lang, "draft"),
                       **{i: list(words) for i, words in intents.items()}}
                for lang, intents in self.languages.items()
            }
        }
        if self.triage:
            data["triage"] = {
                lang: {c: list(words) for c, words in categories.items()}
                for lang, categories in self.triage.items()
            }
        return data


def _parse_triage(data: Any, source: str, errors: list[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    triage: dict[str, dict[str, tuple[str, ...]]] = {}
    if data is None:
        return triage
    if not isinstance(data, Mapping):
        errors.append(f"{source}: triage: expected a mapping of language -> categories")
        return triage
    for lang, spec in data.items():
        where = f"{source}: triage.{lang}"
        if not isinstance(spec, Mapping):
            errors.append(f"{where}: expected a mapping of category -> list of patterns")
            continue
        categories: dict[str, tuple[str, ...]] = {}
        for key, words in spec.items():
            if key not in TRIAGE_CATEGORIES:
                errors.append(f"{where}.{key}: unknown category (use {', '.join(TRIAGE_CATEGORIES)})")
                continue
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                errors.append(f"{where}.{key}: expected a list of non-empty patterns")
                continue
            categories[str(key)] = tuple(w.strip() for w in words)
        triage[str(lang)] = categories
    return triage


def parse_catalogue(data: Any, *, source: str = KEYWORDS_FILE) -> tuple[KeywordCatalogue, list[str]]:
    """Validates a parsed `_keywords.yaml`; returns the catalogue and a list of errors
    (each naming the file, field and reason)."""
    errors: list[str] = []
    languages: dict[str, dict[str, tuple[str, ...]]] = {}
    statuses: dict[str, str] = {}
    if not isinstance(data, Mapping) or not isinstance(data.get("keywords"), Mapping):
        return KeywordCatalogue(), [f"{source}: keywords: expected a mapping of language -> lists"]
    for lang, spec in data["keywords"].items():
        where = f"{source}: keywords.{lang}"
        if not isinstance(spec, Mapping):
            errors.append(f"{where}: expected a mapping of intent -> list of words")
            continue
        status = spec.get("status", "draft")
        if status not in STATUSES:
            errors.append(f"{where}.status: {status!r} is not one of {', '.join(STATUSES)}")
        statuses[str(lang)] = str(status)
        intents: dict[str, tuple[str, ...]] = {}
        for key, words in spec.items():
            if key == "status":
                continue
            if key not in INTENTS:
                errors.append(f"{where}.{key}: unknown intent (use {', '.join(INTENTS)})")
                continue
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                errors.append(f"{where}.{key}: expected a list of non-empty words")
                continue
            intents[key] = tuple(w.strip() for w in words)
        languages[str(lang)] = intents
    if "es" in languages:
        opt_out = languages["es"].setdefault("opt_out", ())
        missing = [w for w in REQUIRED_OPT_OUT if w.casefold() not in {x.casefold() for x in opt_out}]
        languages["es"]["opt_out"] = tuple(opt_out) + tuple(missing)
    triage = _parse_triage(data.get("triage"), source, errors)
    return KeywordCatalogue(languages, statuses, triage), errors


DEFAULT_CATALOGUE = KeywordCatalogue(
    {"es": {"opt_out": ("STOP", "ALTO", "BAJA", "CANCELAR", "SALIR"), "opt_in": ("INICIO", "ALTA"),
            "help": ("AYUDA", "INFO"), "urgent": ("auxilio", "peligro")}},
    {"es": "approved"},
)


def load_catalogue(pack_dir: Path | str | None = None) -> KeywordCatalogue:
    """The keyword catalogue of a pack (default: the shipped pack). Raises Invalid naming the
    file and field when it does not validate; a pack without `_keywords.yaml` gets a minimal
    Spanish catalogue (STOP/ALTO/BAJA..., AYUDA) so opt-outs always work."""
    path = Path(pack_dir or DEFAULT_PACK_DIR) / KEYWORDS_FILE
    if not path.exists():
        return DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise Invalid(str(path), _("not valid YAML: %(exc)s", exc=exc)) from exc
    catalogue, errors = parse_catalogue(data, source=str(path))
    if errors:
        raise Invalid("keywords", "; ".join(errors))
    return catalogue


def catalogue_problems(catalogue: KeywordCatalogue) -> list[tuple[str, str, str]]:
    """Lint findings (level, language, text): a word in two intents of one language, a language
    without opt-out words, Spanish not approved."""
    findings: list[tuple[str, str, str]] = []
    for lang, intents in catalogue.languages.items():
        if not intents.get("opt_out"):
            findings.append(("error", lang, "no opt_out keywords: people could not unsubscribe"))
        owner: dict[str, str] = {}
        for intent in ("opt_out", "opt_in", "help"):
            for word in intents.get(intent, ()):
                key = word.casefold()
                if key in owner and owner[key] != intent:
                    findings.append(
                        ("error", lang, f"keyword {word!r} is both {owner[key]} and {intent}")
                    )
                owner.setdefault(key, intent)
    if "es" not in catalogue.languages:
        findings.append(("error", "es", "no Spanish keywords"))
    elif catalogue.statuses.get("es") != "approved":
        findings.append(("warning", "es", "Spanish keywords are not approved"))
    return findings
