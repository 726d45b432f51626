"""Pure classification of an inbound SMS into an intent, with the keyword catalogue of the content pack.

No session, no clock: `classify(text, language, catalogue)` takes values and returns an `Intent`.

Matching rules (both the text and every keyword go through the same `normalize`):
- opt_out / opt_in / help are *whole-message* keywords, like the carriers' STOP handling: the
  message is the keyword ("Áltoo!!" -> "alto"), or the keyword followed only by courtesy words
  ("baja por favor"); "salir de aqui" is not an opt-out. Opt-out keywords of every language
  count (a STOP must stop everything, whatever language the contact was registered with).
- urgent phrases are found *anywhere* in the message, as whole words ("por favor auxilio me
  pegan"), and win over help and reply (a person in danger must reach a human first).
- everything else is a reply. Whether an opt-in keyword counts (only after an opt-out) is decided
  by campaign/responses.py, which knows the contact.

Normalization: lower case, accents and apostrophes removed, punctuation to spaces, runs of the
same letter collapsed to one ("altoooo" -> "alto"; "llamar" -> "lamar" on both sides alike).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from campaign.hotline.models import Intent

# Keywords every deployment understands, whatever the pack says (carrier-standard words).
BASE_KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "es": {
        "opt_out": ("stop", "alto", "baja", "cancelar", "no mas", "salir", "parar", "unsubscribe"),
        "opt_in": ("inicio", "start", "alta", "si", "unstop"),
        "help": ("ayuda", "info", "help"),
        "urgent": ("auxilio", "peligro", "socorro", "me pegan", "me tienen encerrada",
                   "me tienen encerrado", "emergencia"),
    },
}

INTENT_NAMES = ("opt_out", "opt_in", "help", "urgent")
_REPEATS = re.compile(r"(.)\1+")
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Words that may follow a whole-message keyword without changing its meaning.
COURTESY_WORDS = frozenset(
    {"por", "favor", "porfavor", "porfa", "gracias", "please", "pls", "ya", "ahora", "now", "plis"}
)


def normalize(text: str) -> str:
    """Lower case, no accents, no apostrophes, punctuation -> space, repeated letters collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = re.sub(r"['\u2019\u02bc\u2018\u00b4`]", "", stripped)
    words = _NON_WORD.sub(" ", stripped).split()
    return " ".join(_REPEATS.sub(r"\1", w) for w in words)


@dataclass(frozen=True)
class KeywordTable:
    """A catalogue compiled for matching: per language, per intent, normalized phrases."""

    languages: Mapping[str, Mapping[str, frozenset[str]]]

    def phrases(self, intent: str, languages: Iterable[str]) -> frozenset[str]:
        """Every normalized phrase of `intent` in the given languages."""
        out: set[str] = set()
        for code in languages:
            out |= self.languages.get(code, {}).get(intent, frozenset())
        return frozenset(out)


def _catalogue_items(catalogue: Any) -> Mapping[str, Mapping[str, Iterable[str]]]:
    """Reads the catalogue's data: a mapping language -> intent -> keywords, or an object holding one."""
    if catalogue is None:
        return {}
    if isinstance(catalogue, KeywordTable):
        return catalogue.languages
    for attribute in ("languages", "by_language", "keywords", "data"):
        value = getattr(catalogue, attribute, None)
        if isinstance(value, Mapping):
            return value
    if hasattr(catalogue, "as_dict"):
        return catalogue.as_dict()
    if isinstance(catalogue, Mapping):
        return catalogue
    raise TypeError(f"cannot read keywords from {type(catalogue).__name__}")


def compile_catalogue(catalogue: Any = None, *, include_base: bool = True) -> KeywordTable:
    """Normalizes a keyword catalogue (plus BASE_KEYWORDS) into a KeywordTable for `classify`."""
    table: dict[str, dict[str, set[str]]] = {}
    sources = [BASE_KEYWORDS] if include_base else []
    sources.append(_catalogue_items(catalogue))  # type: ignore[arg-type]
    statuses: Mapping[str, str] = getattr(catalogue, "statuses", None) or {}
    for source in sources:
        for language, intents in source.items():
            for intent, words in (intents or {}).items():
                name = str(getattr(intent, "value", intent))
                if name not in INTENT_NAMES:
                    continue
                # Unreviewed opt-out/urgent/help words still count (erring towards stopping
                # messages and reaching a person); an unreviewed opt-in word could re-subscribe
                # someone who never asked, so it waits for a reviewer.
                if name == "opt_in" and statuses.get(language, "approved") != "approved":
                    continue
                if isinstance(words, str):
                    words = [words]
                normalized = {normalize(str(w)) for w in words or ()}
                table.setdefault(language, {}).setdefault(name, set()).update(n for n in normalized if n)
    return KeywordTable(
        {lang: {k: frozenset(v) for k, v in intents.items()} for lang, intents in table.items()}
    )


def _whole_message_match(words: list[str], phrases: frozenset[str]) -> str | None:
    if not words:
        return None
    joined = " ".join(words)
    if joined in phrases:
        return joined
    for size in (2, 1):
        head = " ".join(words[:size])
        if len(words) > size and head in phrases and all(w in COURTESY_WORDS for w in words[size:]):
            return head
    return None


def _contains_phrase(words: list[str], phrases: frozenset[str]) -> str | None:
    padded = " " + " ".join(words) + " "
    for phrase in sorted(phrases, key=len, reverse=True):
        if f" {phrase} " in padded:
            return phrase
    return None


@dataclass(frozen=True)
class Classification:
    """The intent of one message and the keyword (normalized) that decided it, if any."""

    intent: Intent
    keyword: str | None = None


def classify_detail(text: str, language: str | None, catalogue: Any) -> Classification:
    """Like `classify`, also saying which keyword matched (recorded on consent events)."""
    table = catalogue if isinstance(catalogue, KeywordTable) else compile_catalogue(catalogue)
    words = normalize(text or "").split()
    if not words:
        return Classification(Intent.REPLY)
    mine = [language or "es", "es"]
    everyone = list(table.languages)
    keyword = _whole_message_match(words, table.phrases("opt_out", everyone))
    if keyword:
        return Classification(Intent.OPT_OUT, keyword)
    keyword = _contains_phrase(words, table.phrases("urgent", everyone))
    if keyword:
        return Classification(Intent.URGENT, keyword)
    keyword = _whole_message_match(words, table.phrases("help", everyone))
    if keyword:
        return Classification(Intent.HELP, keyword)
    keyword = _whole_message_match(words, table.phrases("opt_in", mine))
    if keyword:
        return Classification(Intent.OPT_IN, keyword)
    return Classification(Intent.REPLY)


def classify(text: str, language: str | None, catalogue: Any) -> Intent:
    """The intent of an inbound text for a contact speaking `language` (None = unknown).

    `catalogue` is a `KeywordTable` (fastest: compile once), a `messages.keywords` catalogue, or
    a plain mapping language -> intent -> keywords; BASE_KEYWORDS are always included.
    """
    return classify_detail(text, language, catalogue).intent
