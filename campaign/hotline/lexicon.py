"""The triage lexicon compiled for matching: text normalization, sound keys and word patterns.

Pure: no session, no clock, no I/O. `compile_lexicon(catalogue)` turns the pack's keyword
catalogue (messages/keywords.py) into a `Lexicon`; `tokenize(text, lexicon)` turns a message into
`Tokens`, whose `keys` every pattern is matched against.

Normalization, the same for a message and for every word of the lexicon:
1. zero-width and other format characters removed ("ST\u200bOP" = "STOP"); lower case; accents and
   apostrophes removed; punctuation becomes a clause break (kept, so a negator before a comma
   does not reach across it: "no, me están pegando").
2. runs of three or more single letters joined ("S T O P", "s.t.o.p" = "stop").
3. SMS spellings expanded from the lexicon's abbreviations ("q" = "que", "xfa" = "por favor").
4. a sound key per word, so that the usual misspellings meet: "ch" kept; "qu"/"q" = k; "c" = s
   before e/i, else k; z = s; x = s; v = b; ll = y; a silent h dropped; "gue"/"gui" = ge/gi;
   a final y = i; then every run of one letter becomes one ("nesesito", "necesito",
   "nececito" -> "nesesito"; "golpiando" -> "golpiando"; "amenasa" = "amenaza").

Pattern syntax (one pattern = words separated by spaces): `word`; `stem-` (any word starting so);
`-ending` (any word ending so: `-ando`); `(a|b c|d-)` one of (an alternative may be several
words); `[a|b]` optional; `~` up to four other words. A pattern matches whole words, in order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GAP_WORDS = 4
_APOSTROPHES = re.compile(r"['\u2019\u02bc\u2018\u00b4`]")
_WORD = re.compile(r"[a-z0-9]+|[^a-z0-9\s]+")
_REPEATS = re.compile(r"(.)\1+")
_STRETCHED = re.compile(r"([a-z])\1\1")


def _strip_marks(text: str) -> str:
    """Lower case, without format characters (zero-width), accents or apostrophes."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _APOSTROPHES.sub("", stripped)


def raw_words(text: str) -> list[tuple[str, bool]]:
    """(word, clause break before it) for each word; spaced-out letters joined."""
    out: list[tuple[str, bool]] = []
    pending_break = False
    for piece in _WORD.findall(_strip_marks(text)):
        if not piece[0].isalnum():
            pending_break = True
            continue
        out.append((piece, pending_break))
        pending_break = False
    return _join_spelled(out)


def _join_spelled(words: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """ "s t o p" -> "stop": a run of three or more one-letter words becomes one word."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and len(words[j][0]) == 1 and words[j][0].isalpha():
            j += 1
        if j - i >= 3:
            out.append(("".join(w for w, _ in words[i:j]), words[i][1]))
            i = j
        else:
            out.append(words[i])
            i += 1
    return out


def sound_key(word: str) -> str:
    """The sound key of one normalized word (see the module docstring)."""
    if word.isdigit():
        return word
    w = word.replace("ch", "\x01").replace("ll", "y")
    w = w.replace("gue", "ge").replace("gui", "gi").replace("qu", "k").replace("q", "k")
    w = re.sub(r"c(?=[ei])", "s", w).replace("c", "k")
    w = w.replace("z", "s").replace("x", "s").replace("v", "b").replace("h", "")
    if len(w) > 1 and w.endswith("y"):
        w = w[:-1] + "i"
    elif w == "y":
        w = "i"
    w = w.replace("\x01", "ch")
    return _REPEATS.sub(r"\1", w)


def normalize(text: str) -> str:
    """Plain normalized text (no sound keys, no abbreviations): lower case, no accents, no
    punctuation, repeated letters collapsed ("Áltoo!!" -> "alto"). For display and old callers."""
    return " ".join(_REPEATS.sub(r"\1", w) for w, _ in raw_words(text))


@dataclass(frozen=True)
class Tokens:
    """A message as the matcher sees it: sound keys, and where clause breaks are."""

    keys: tuple[str, ...]
    breaks: frozenset[int]  # indexes of words that start a new clause
    joined: str  # " k1 k2 ... kn " (padded), what patterns search
    words: tuple[str, ...] = ()  # the same words as written (normalized), to report cues
    stretched: frozenset[int] = frozenset()  # words written with a letter three times ("ayudaaa")

    def text(self, span: tuple[int, int]) -> str:
        """The words of a span as written (normalized)."""
        return " ".join((self.words or self.keys)[span[0]:span[1]])

    def offset_to_index(self, offset: int) -> int:
        """The number of words that end before character `offset` of `joined`."""
        return self.joined.count(" ", 0, offset) - 1


@dataclass(frozen=True)
class Pattern:
    """One lexicon pattern, compiled; `text` is the pattern as written (reported as the cue)."""

    text: str
    regex: re.Pattern[str]

    def spans(self, tokens: Tokens) -> list[tuple[int, int]]:
        """(first, last+1) word indexes of every non-overlapping match in the message."""
        found = []
        for match in self.regex.finditer(tokens.joined):
            if match.end() > match.start():
                found.append((tokens.offset_to_index(match.start()), tokens.offset_to_index(match.end())))
        return found


def _alternative(text: str, abbreviations: Mapping[str, str]) -> str:
    """The regex of one alternative (one or more words, each maybe a stem)."""
    parts = []
    for word in text.split():
        stem, ending = word.endswith("-"), word.startswith("-")
        word = word.strip("-")
        expanded = word if stem or ending else abbreviations.get(word, word)
        keys = [sound_key(w) for w in expanded.split()]
        body = r" ".join(re.escape(k) for k in keys)
        parts.append((r"[a-z0-9]*" if ending else "") + body + (r"[a-z0-9]*" if stem else ""))
    return " ".join(parts)


_UNIT = re.compile(r"\([^)]*\)|\[[^\]]*\]|~|\S+")


def compile_pattern(text: str, abbreviations: Mapping[str, str] | None = None) -> Pattern:
    """Compiles one pattern (see the module docstring); raises ValueError on a malformed one."""
    abbreviations = abbreviations or {}
    plain = _strip_marks(text).strip()
    units = _UNIT.findall(plain)
    if not units or "".join(units).replace(" ", "") != plain.replace(" ", ""):
        raise ValueError(f"cannot read pattern {text!r}")
    def malformed(unit: str) -> bool:
        if unit == "~":
            return False
        inner = unit[1:-1] if (unit[0], unit[-1]) in (("(", ")"), ("[", "]")) else unit
        return bool(set(inner) & set("()[]~")) or (inner is unit and "|" in unit)

    if any(malformed(u) for u in units):
        raise ValueError(f"cannot read pattern {text!r}: unbalanced ( ) or [ ]")
    regex = r"(?<= )"
    for unit in units:
        if unit == "~":
            regex += r"(?:\S+ ){0,%s}" % GAP_WORDS  # noqa: UP031 - braces are regex syntax here
            continue
        optional = unit.startswith("[")
        inner = unit[1:-1] if unit[0] in "([" else unit
        choices = [c.strip() for c in inner.split("|") if c.strip()]
        if not choices:
            raise ValueError(f"empty choice in pattern {text!r}")
        group = "(?:" + "|".join(_alternative(c, abbreviations) for c in choices) + ") "
        regex += f"(?:{group})?" if optional else group
    return Pattern(text, re.compile(regex))


def _words(values: Iterable[str], abbreviations: Mapping[str, str] | None = None) -> frozenset[str]:
    """Plain words (or whole phrases) as space-joined sound keys."""
    out = set()
    for value in values:
        words = [w for w, _ in raw_words(value)]
        expanded = " ".join(abbreviations.get(w, w) if abbreviations else w for w in words).split()
        if expanded:
            out.add(" ".join(sound_key(w) for w in expanded))
    return frozenset(out)


# Categories holding patterns; the others hold plain words (see messages.keywords).
PATTERN_CATEGORIES = (
    "danger", "not_danger", "missing", "people", "partners", "minors", "with_minor", "held_verbs",
    "held_items", "control", "not_help", "help", "urgency", "opt_out_phrases", "opt_out_unclear",
    "opt_in_phrases",
)
WORD_CATEGORIES = (
    "negators", "clitics", "auxiliaries", "opt_out_leading", "affirmations", "fillers",
    "opt_out_words", "opt_in_words",
)


@dataclass(frozen=True)
class Lexicon:
    """Every language's lexicon merged (danger in any language counts), plus per-language
    opt-in words (only the contact's own language and Spanish may re-subscribe someone)."""

    patterns: Mapping[str, tuple[Pattern, ...]]
    words: Mapping[str, frozenset[str]]
    danger_person: tuple[str, ...]  # sound keys of stems
    abbreviations: Mapping[str, str]
    opt_in_by_language: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # one regex per category, any of its patterns: most messages match few categories, and one
    # search that fails is much cheaper than a search per pattern
    any_of: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    stems_by_start: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def category(self, name: str) -> tuple[Pattern, ...]:
        """The compiled patterns of one category (empty when none)."""
        return self.patterns.get(name, ())

    def spans(self, name: str, tokens: Tokens) -> list[tuple[int, int]]:
        """Every span of the message that a pattern of category `name` matches."""
        combined = self.any_of.get(name)
        if combined is None or combined.search(tokens.joined) is None:
            return []
        return [span for pattern in self.patterns[name] for span in pattern.spans(tokens)]

    def first(self, name: str, tokens: Tokens) -> tuple[int, int] | None:
        """The first span (in pattern order) a pattern of category `name` matches, or None."""
        combined = self.any_of.get(name)
        if combined is None or combined.search(tokens.joined) is None:
            return None
        for pattern in self.patterns[name]:
            found = pattern.spans(tokens)
            if found:
                return found[0]
        return None

    def person_stem(self, key: str) -> str | None:
        """The danger_person stem this word starts with, if any."""
        for stem in self.stems_by_start.get(key[:3], ()):
            if key.startswith(stem):
                return stem
        return None

    def word_set(self, name: str) -> frozenset[str]:
        """The sound keys of one word category (empty when none)."""
        return self.words.get(name, frozenset())

    def tokenize(self, text: str) -> Tokens:
        """The message's sound keys, abbreviations expanded, with its clause breaks."""
        keys: list[str] = []
        words: list[str] = []
        breaks: set[int] = set()
        stretched: set[int] = set()
        for word, brk in raw_words(text):
            if brk and keys:
                breaks.add(len(keys))
            if _STRETCHED.search(word):
                stretched.add(len(keys))
            for part in self.abbreviations.get(word, word).split():
                keys.append(sound_key(part))
                words.append(_REPEATS.sub(r"\1", part))
        return Tokens(
            tuple(keys), frozenset(breaks), " " + " ".join(keys) + " ", tuple(words), frozenset(stretched)
        )


def _catalogue_parts(catalogue: Any) -> tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, str]]:
    """(keywords by language, triage by language, statuses) of a catalogue or a plain mapping."""
    if catalogue is None:
        return {}, {}, {}
    if isinstance(catalogue, Mapping):
        return catalogue, {}, {}
    languages = getattr(catalogue, "languages", None) or {}
    triage = getattr(catalogue, "triage", None) or {}
    statuses = getattr(catalogue, "statuses", None) or {}
    return languages, triage, statuses


def _abbreviations(entries: Iterable[str]) -> dict[str, str]:
    out = {}
    for entry in entries:
        short, _, long = entry.partition("=")
        if short.strip() and long.strip():
            out[_strip_marks(short).strip()] = " ".join(w for w, _ in raw_words(long))
    return out


def compile_lexicon(catalogue: Any = None, *, base: Any = None) -> Lexicon:
    """Compiles a keyword catalogue (a messages.keywords.KeywordCatalogue, or a plain mapping
    language -> intent -> words) merged over `base` (the built-in minimum, always included).

    Raises ValueError naming a malformed pattern. Unreviewed opt-in words do not count (an
    unreviewed word must not re-subscribe anyone); unreviewed opt-out, help and danger words do.
    """
    sources = [s for s in (base, catalogue) if s is not None]
    keywords: dict[str, dict[str, list[str]]] = {}
    triage: dict[str, dict[str, list[str]]] = {}
    for source in sources:
        languages, lexicon, statuses = _catalogue_parts(source)
        for lang, intents in languages.items():
            for intent, listed in (intents or {}).items():
                name = str(getattr(intent, "value", intent))
                if name == "opt_in" and statuses.get(lang, "approved") != "approved":
                    continue
                values = [listed] if isinstance(listed, str) else list(listed or ())
                keywords.setdefault(lang, {}).setdefault(name, []).extend(str(w) for w in values)
        for lang, categories in lexicon.items():
            for name, values in categories.items():
                triage.setdefault(lang, {}).setdefault(name, []).extend(values)
    abbreviations: dict[str, str] = {}
    for categories in triage.values():
        abbreviations.update(_abbreviations(categories.get("abbreviations", ())))
    patterns: dict[str, list[Pattern]] = {}
    words: dict[str, set[str]] = {}
    stems: list[str] = []
    for categories in triage.values():
        for name in PATTERN_CATEGORIES:
            patterns.setdefault(name, []).extend(
                compile_pattern(p, abbreviations) for p in categories.get(name, ())
            )
        for name in WORD_CATEGORIES:
            words.setdefault(name, set()).update(_words(categories.get(name, ()), abbreviations))
        stems.extend(sound_key(_strip_marks(s).rstrip("-")) for s in categories.get("danger_person", ()))
    opt_in_by_language: dict[str, frozenset[str]] = {}
    for lang, intents in keywords.items():
        patterns.setdefault("danger", []).extend(
            compile_pattern(w, abbreviations) for w in intents.get("urgent", ())
        )
        patterns.setdefault("help", []).extend(
            compile_pattern(w, abbreviations) for w in intents.get("help", ())
        )
        words.setdefault("opt_out_words", set()).update(_words(intents.get("opt_out", ()), abbreviations))
        opt_in_by_language[lang] = _words(intents.get("opt_in", ()), abbreviations)
    unique_stems = tuple(dict.fromkeys(s for s in stems if s))
    short = [s for s in unique_stems if len(s) < 3]
    if short:
        raise ValueError(f"danger_person stems need three letters or more: {', '.join(short)}")
    by_start: dict[str, list[str]] = {}
    for stem in unique_stems:
        by_start.setdefault(stem[:3], []).append(stem)
    return Lexicon(
        patterns={k: tuple(v) for k, v in patterns.items() if v},
        words={k: frozenset(v) for k, v in words.items()},
        danger_person=unique_stems,
        abbreviations=abbreviations,
        opt_in_by_language=opt_in_by_language,
        any_of={
            k: re.compile("|".join(f"(?:{p.regex.pattern})" for p in v)) for k, v in patterns.items() if v
        },
        stems_by_start={k: tuple(v) for k, v in by_start.items()},
    )
