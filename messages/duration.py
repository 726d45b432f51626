"""Radio read-time estimates: syllables by vowel nuclei (Spanish and Mayan orthographies) over a rate.

Pure functions. A syllable is counted per vowel nucleus: a run of vowels is one nucleus when it
is a diphthong or triphthong (a weak vowel i/u/ü next to any vowel: "bueno", "ciudad", "hoy"),
and splits where two strong vowels meet (a/e/o and accented á é í ó ú: "le-ón", "pa-ís").
Mayan orthographies write long vowels doubled ("aa", "ee") and lax vowels with a diaeresis
(ä ë ï ö ü): a doubled vowel is one nucleus, and the glottal stop (') is a consonant that
separates vowels ("ja'a'" = two). Digits are read one by one with their Spanish names (phone
numbers such as hotlines are said digit by digit, in every language of the campaign).

Estimated seconds = spoken syllables / syllables_per_second + the seconds of every cue. Spanish
radio copy is read at about 70 words per 30 s (the registry default of 4.9 syllables/s).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

STRONG_VOWELS = frozenset("aeoáéóíúàèòìùâêôäëöï")
WEAK_VOWELS = frozenset("iuü")
VOWELS = STRONG_VOWELS | WEAK_VOWELS | frozenset("îû")
APOSTROPHES = "'\u2019\u02bc\u2018\u00b4`"

# Syllables of each digit's Spanish name: cero, uno, dos, tres, cuatro, cinco, seis, siete, ocho, nueve.
DIGIT_SYLLABLES = {"0": 2, "1": 2, "2": 1, "3": 1, "4": 2, "5": 2, "6": 1, "7": 2, "8": 2, "9": 2}

# A word keeps its glottal apostrophes (a consonant inside "k'iche'"); each digit is its own word.
_WORD = re.compile(r"(?:[^\W\d_]|')*[^\W\d_](?:[^\W\d_]|')*|\d", re.UNICODE)


def _letters(text: str) -> str:
    """NFC lower-case text with apostrophes kept as word-internal consonants."""
    text = unicodedata.normalize("NFC", text.lower())
    for mark in APOSTROPHES[1:]:
        text = text.replace(mark, "'")
    return text


def word_syllables(word: str, *, long_vowels: bool = False) -> int:
    """Vowel nuclei in one word (letters only). `long_vowels`: a doubled vowel is one nucleus
    (Mayan orthographies); otherwise it is a hiatus as in Spanish "le-er"."""
    word = unicodedata.normalize("NFC", word.lower())
    count = 0
    previous: str | None = None  # the previous letter, when it was a vowel
    for index, letter in enumerate(word):
        vowel = letter in VOWELS
        if letter == "y":
            # y is a vowel when no vowel follows it ("y", "hoy", "muy"); a consonant in "ya", "yo".
            following = word[index + 1] if index + 1 < len(word) else ""
            vowel = following not in VOWELS
            if vowel:
                letter = "i"
        if not vowel:
            previous = None
            continue
        if previous is None:
            count += 1
        elif long_vowels and letter == previous:
            pass  # Mayan long vowel: "aa", "oo"
        elif previous in STRONG_VOWELS and letter in STRONG_VOWELS:
            count += 1  # hiatus
        elif previous in WEAK_VOWELS and letter in WEAK_VOWELS and letter == previous:
            count += 1  # "chiita": two identical weak vowels do not join
        previous = letter
    if count == 0 and any(c.isalpha() for c in word):
        return 1  # a written interjection or abbreviation is still said
    return count


def count_syllables(text: str, *, language: str | None = None) -> int:
    """Syllables of spoken text: words by vowel nuclei, digits by their Spanish names.

    `language` picks the long-vowel rule: any code other than Spanish ("es") reads a doubled
    vowel as one long vowel.
    """
    long_vowels = language is not None and language.split("-")[0] != "es"
    total = 0
    for token in _WORD.findall(_letters(text)):
        if token.isdigit():
            total += DIGIT_SYLLABLES.get(token, 2)
        else:
            total += word_syllables(token, long_vowels=long_vowels)
    return total


def count_words(text: str) -> int:
    """Words as a listener hears them (digits each count as a word)."""
    return len(_WORD.findall(_letters(text)))


def _fields(part: Any) -> tuple[bool, str, float]:
    """(is_cue, text, seconds) of a ScriptPart-like object or a script dict."""
    if isinstance(part, Mapping):
        is_cue = bool(part.get("cue"))
        return is_cue, str(part.get("text") or ""), float(part.get("seconds") or 0)
    return bool(part.is_cue), str(part.text or ""), float(part.seconds or 0)


def spoken_syllables(parts: Iterable[Any], *, language: str | None = None) -> int:
    """Syllables of the speaker lines (cues are not read aloud)."""
    return sum(
        count_syllables(text, language=language)
        for is_cue, text, _ in map(_fields, parts)
        if not is_cue
    )


def cue_seconds(parts: Iterable[Any]) -> float:
    """Total seconds of the production cues (music beds, effects, pauses)."""
    return sum(seconds for is_cue, _, seconds in map(_fields, parts) if is_cue)


def estimate_seconds(
    parts: Iterable[Any], *, syllables_per_second: float, language: str | None = None
) -> float:
    """Estimated air time of a script, in seconds: spoken syllables / rate + cue seconds.

    `parts` are ScriptPart objects (messages.radio) or script dicts with rendered text.
    Raises ValueError for a rate that is not positive (a programming error, not user input).
    """
    if syllables_per_second <= 0:
        raise ValueError(f"syllables_per_second must be positive, got {syllables_per_second}")
    parts = list(parts)
    spoken = spoken_syllables(parts, language=language) / syllables_per_second
    return round(spoken + cue_seconds(parts), 1)


def rate_from_measurement(syllables: int, seconds: float) -> float:
    """The speaking rate a measured read implies (syllables per second of speech)."""
    if seconds <= 0:
        raise ValueError("seconds of speech must be positive")
    return syllables / seconds
