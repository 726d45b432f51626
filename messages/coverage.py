"""Translation coverage: message x language status table and totals per language (pure).

A translation made from an older Spanish source than the current one carries the reason
`source_changed` (in `reasons`, shown next to its status): it needs review again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from messages.packs import MessageSpec

STATES = ("approved", "needs_review", "draft", "missing")
SOURCE_CHANGED = "source_changed"


@dataclass
class Coverage:
    """`cells[slug][language]` is a status or "missing"; `totals[language][state]` counts;
    `reasons[slug][language]` says why a translation needs review (`source_changed`)."""

    languages: list[str]
    cells: dict[str, dict[str, str]] = field(default_factory=dict)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)

    def complete(self, language: str) -> bool:
        """True when every message is approved in `language`."""
        counts = self.totals.get(language, {})
        return bool(self.cells) and counts.get("approved", 0) == len(self.cells)

    def as_dict(self) -> dict[str, object]:
        return {
            "languages": self.languages,
            "messages": self.cells,
            "reasons": self.reasons,
            "totals": {
                lang: {**counts, "complete": self.complete(lang)} for lang, counts in self.totals.items()
            },
        }


def coverage(specs: Iterable[MessageSpec], languages: Sequence[str]) -> Coverage:
    """Status of every message in every language (languages without any text count as missing)."""
    result = Coverage(languages=list(languages))
    result.totals = {lang: dict.fromkeys(STATES, 0) for lang in languages}
    for spec in sorted(specs, key=lambda s: s.slug):
        row: dict[str, str] = {}
        for lang in languages:
            translation = spec.translations.get(lang)
            state = translation.status if translation else "missing"
            row[lang] = state
            if translation is not None and translation.source_changed:
                result.reasons.setdefault(spec.slug, {})[lang] = SOURCE_CHANGED
            result.totals[lang][state] += 1
        result.cells[spec.slug] = row
    return result
