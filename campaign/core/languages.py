"""The language registry: codes, names, aliases, SMS folding policy and radio speech rate.

Leaf module (no domain imports) so that `audiences` can map "K'iche'" to `quc` on import and
`messages` can pick encodings and speech rates from the same table. A deployment adds languages
with the CAMPAIGN_EXTRA_LANGUAGES setting; nothing here is an enum.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign.core.errors import Invalid
from campaign.core.i18n import _


@dataclass(frozen=True)
class Language:
    """One language a contact may speak and a message may be written in.

    `encoding_policy` is the default SMS encoding policy for the language (exact/smart/fold);
    `syllables_per_second` is the default radio reading rate (calibration may override it).
    The default policy is `fold`: Mayan orthographies (ALMG) use ä ë ï ö ü and glottal
    apostrophes, not acute accents, so folding á í ó ú (only when it saves a segment) never
    changes a Mayan word, while a Spanish name or word inside the text would otherwise force UCS-2.
    """

    code: str
    name: str
    native_name: str
    aliases: tuple[str, ...] = ()
    encoding_policy: str = "fold"
    syllables_per_second: float = 5.0
    family: str = "mayan"
    extra: Mapping[str, Any] = field(default_factory=dict)


# Spanish radio copy is read at about 70 words per 30 s; running Spanish copy counts ~1.9
# syllables per word (vowel nuclei, messages/duration.py; dictionary words average more, but
# "de", "la", "y", "es" are frequent), so ~4.4 syllables per second. Mayan defaults start near
# the same rate until a producer calibrates them (`campaign radio calibrate`).
BUILTIN_LANGUAGES: tuple[Language, ...] = (
    Language(
        "es", "Spanish", "Español",
        aliases=("espanol", "español", "spanish", "castellano", "spa", "es-gt", "esp"),
        encoding_policy="fold", syllables_per_second=4.4, family="romance",
    ),
    Language(
        "quc", "K'iche'", "K'iche'",
        aliases=("kiche", "k'iche'", "k'iche", "quiche", "quiché", "qui", "quc"),
    ),
    Language(
        "kek", "Q'eqchi'", "Q'eqchi'",
        aliases=("qeqchi", "q'eqchi'", "q'eqchi", "kekchi", "kekchí", "quekchi", "kek"),
    ),
    Language(
        "cak", "Kaqchikel", "Kaqchikel",
        aliases=("kaqchikel", "cakchiquel", "kakchiquel", "cak"),
    ),
    Language("mam", "Mam", "Mam", aliases=("mam",)),
    Language(
        "kjb", "Q'anjob'al", "Q'anjob'al",
        aliases=("qanjobal", "q'anjob'al", "kanjobal", "kanjobal", "kjb"),
    ),
)


def fold_key(text: str) -> str:
    """Lower-case, accent-free, apostrophe-free form used to match names and aliases."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    kept = [c for c in decomposed if not unicodedata.combining(c)]
    return "".join(c for c in kept if c.isalnum() or c == "-")


class LanguageRegistry:
    """Looks languages up by code, name or alias (case, accents and apostrophes ignored)."""

    def __init__(self, languages: Iterable[Language]) -> None:
        self._by_code: dict[str, Language] = {}
        self._by_key: dict[str, Language] = {}
        for language in languages:
            self._by_code[language.code] = language
            for key in (language.code, language.name, language.native_name, *language.aliases):
                self._by_key.setdefault(fold_key(key), language)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Language]:
        return iter(self._by_code.values())

    def codes(self) -> list[str]:
        """Every registered code, Spanish first, then in registration order."""
        return list(self._by_code)

    def get(self, code: str) -> Language:
        """The language with this exact code; raises Invalid naming the code and the known ones."""
        try:
            return self._by_code[code]
        except KeyError:
            raise Invalid("language", self.unknown(code)) from None

    def code_for(self, value: str, *, field: str = "--lang") -> str:
        """The code of the language `value` names (code, name or alias: `kiche` is quc); raises
        Invalid(field) listing the valid codes with their aliases."""
        found = self.resolve(value)
        if found is None:
            raise Invalid(field, self.unknown(value))
        return found.code

    def unknown(self, value: str) -> str:
        """The message for a value that names no language: every code, with its name and aliases."""
        def names(lang: Language) -> str:
            return ", ".join(dict.fromkeys([lang.name, *(a for a in lang.aliases if a != lang.code)]))

        known = "; ".join(f"{lang.code} ({names(lang)})" for lang in self)
        return f"unknown language code {value!r}; use one of: {known}"

    def resolve(self, value: str) -> Language | None:
        """The language a free-text value names (`K'iche'`, `quiché`, `QUC`), or None."""
        if not value or not value.strip():
            return None
        return self._by_key.get(fold_key(value))


def build_registry(extra: Mapping[str, Mapping[str, Any]] | None = None) -> LanguageRegistry:
    """The built-in languages plus a deployment's own (from settings.extra_languages)."""
    languages = list(BUILTIN_LANGUAGES)
    for code, spec in (extra or {}).items():
        known = {"name", "native_name", "aliases", "encoding_policy", "syllables_per_second"}
        unknown = set(spec) - known
        if unknown:
            raise Invalid(f"extra_languages.{code}", _("unknown keys %(unknown)s", unknown=sorted(unknown)))
        languages.append(
            Language(
                code=code,
                name=str(spec.get("name", code)),
                native_name=str(spec.get("native_name", spec.get("name", code))),
                aliases=tuple(spec.get("aliases", ())),
                encoding_policy=str(spec.get("encoding_policy", "fold")),
                syllables_per_second=float(spec.get("syllables_per_second", 5.0)),
            )
        )
    return LanguageRegistry(languages)


def default_registry() -> LanguageRegistry:
    """The registry for the current settings (built-ins plus CAMPAIGN_EXTRA_LANGUAGES)."""
    from campaign.core.config import get_settings

    return build_registry(get_settings().extra_languages)
