"""SMS encoding, exactly: GSM 03.38 (default alphabet + extension table) or UCS-2, and segment counts.

Pure functions over strings. The rules are the provider's (Twilio's message segment calculator):

- GSM-7 when every character is in the default alphabet or the extension table; an extension
  character (``^ { } \\ [ ~ ] | €`` and form feed) costs two septets (ESC + code). One segment
  holds 160 septets; a concatenated message holds 153 per segment, and an escape pair is never
  split across two segments.
- UCS-2 otherwise: one UTF-16 code unit per BMP character, two for a character outside the BMP
  (emoji); 70 units in one segment, 67 per segment when concatenated, and a surrogate pair is
  never split.

``characters`` counts code points (what a person would call characters, except that an emoji
built from several code points counts each of them). The empty text has 0 segments.

Policies (``apply_policy``): ``exact`` sends the text unchanged; ``smart`` applies the provider's
smart-encoding replacements (typographic quotes, dashes, ellipsis, odd spaces); ``fold`` is
``smart`` and, only when it lowers the segment count, also á í ó ú Á Í Ó Ú -> a i o u (GSM-7
already has é ñ ü ¿ ¡).

Speed: the common case (all default-alphabet text) is one compiled-regex scan; the per-character
walk runs only for multi-segment messages that contain escapes or surrogate pairs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from campaign.core.errors import Invalid
from campaign.core.i18n import _

DATA_DIR = Path(__file__).with_name("data")

GSM_SINGLE = 160
GSM_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

GSM7 = "GSM-7"
UCS2 = "UCS-2"

POLICIES = ("exact", "smart", "fold")


def _load_tables() -> tuple[frozenset[str], frozenset[str]]:
    tables = json.loads((DATA_DIR / "gsm7_tables.json").read_text(encoding="utf-8"))
    basic = frozenset(tables["basic_chars_python"])
    extension = frozenset(tables["extension_chars_python"]) | {"\x0c"}
    # Cross-check the convenience strings against the code tables they were derived from.
    from_codes = {
        chr(int(v[2:], 16)) for v in tables["basic_gsm_code_to_unicode"].values() if v.startswith("U+")
    }
    ext_codes = {chr(int(v[2:], 16)) for v in tables["extension_after_ESC_0x1B"].values()}
    assert from_codes == basic, "gsm7_tables.json: basic table and character string disagree"
    assert ext_codes == extension, "gsm7_tables.json: extension table and character string disagree"
    return basic, extension


def _load_smart_map() -> dict[int, str]:
    raw = json.loads((DATA_DIR / "smart_encoding_map.json").read_text(encoding="utf-8"))["map"]
    return {int(key[2:], 16): value for key, value in raw.items()}


GSM_BASIC, GSM_EXTENSION = _load_tables()
GSM_ALL = GSM_BASIC | GSM_EXTENSION
SMART_MAP: dict[int, str] = _load_smart_map()
FOLD_MAP: dict[int, str] = {ord(a): b for a, b in zip("áíóúÁÍÓÚ", "aiouAIOU", strict=True)}

# A character class of everything that is NOT a one-septet GSM character: the fast path of
# analyze() is a single C-level scan for it.
_NOT_BASIC = re.compile("[^" + "".join(re.escape(c) for c in sorted(GSM_BASIC)) + "]")
_SMART_KEYS = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(SMART_MAP)) + "]")


@dataclass(frozen=True, slots=True)
class SmsInfo:
    """What one SMS text costs: encoding, segments, code points, units (septets or UTF-16 units),
    the characters that force UCS-2 (in order of first appearance), and the text itself."""

    encoding: str
    segments: int
    characters: int
    units: int
    non_gsm: list[str]
    text: str

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of `campaign messages segments --json`."""
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "units": self.units,
            "non_gsm": list(self.non_gsm),
            "text": self.text,
        }


def _segments_for(units: int, single: int, multi: int) -> int:
    if units == 0:
        return 0
    if units <= single:
        return 1
    return -(-units // multi)


def _greedy_segments(costs: list[int], multi: int) -> int:
    """Segments when some characters take two units that must stay together."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments


def analyze(text: str) -> SmsInfo:
    """Encoding and segment count of `text` exactly as given (no replacements)."""
    n = len(text)
    found = _NOT_BASIC.findall(text)
    if not found:
        return SmsInfo(GSM7, _segments_for(n, GSM_SINGLE, GSM_MULTI), n, n, [], text)
    others = set(found)
    if others <= GSM_EXTENSION:
        units = n + len(found)
        if units <= GSM_SINGLE:
            segments = 1
        else:
            segments = _greedy_segments([2 if c in GSM_EXTENSION else 1 for c in text], GSM_MULTI)
        return SmsInfo(GSM7, segments, n, units, [], text)
    non_gsm = others - GSM_EXTENSION
    ordered = sorted(non_gsm, key=text.index) if len(non_gsm) > 1 else list(non_gsm)
    astral = sum(1 for c in found if c > "\uffff") if max(non_gsm) > "\uffff" else 0
    units = n + astral
    if units <= UCS2_SINGLE or astral == 0:
        segments = _segments_for(units, UCS2_SINGLE, UCS2_MULTI)
    else:
        segments = _greedy_segments([2 if c > "\uffff" else 1 for c in text], UCS2_MULTI)
    return SmsInfo(UCS2, segments, n, units, ordered, text)


def split_segments(text: str) -> list[str]:
    """The parts a concatenated SMS is cut into; never splits an escape or a surrogate pair."""
    info = analyze(text)
    if info.segments <= 1:
        return [text] if text else []
    if info.encoding == GSM7:
        multi, cost = GSM_MULTI, (lambda c: 2 if c in GSM_EXTENSION else 1)
    else:
        multi, cost = UCS2_MULTI, (lambda c: 2 if ord(c) > 0xFFFF else 1)
    parts: list[str] = []
    start, used = 0, 0
    for i, c in enumerate(text):
        w = cost(c)
        if used + w > multi:
            parts.append(text[start:i])
            start, used = i, 0
        used += w
    parts.append(text[start:])
    return parts


def smart_replace(text: str) -> str:
    """The provider's smart-encoding replacements (’ -> ', “ -> ", … -> ..., – -> -, ...)."""
    if _SMART_KEYS.search(text) is None:
        return text
    return text.translate(SMART_MAP)


def fold_accents(text: str) -> str:
    """á í ó ú Á Í Ó Ú -> a i o u A I O U (the accents GSM-7 lacks)."""
    return text.translate(FOLD_MAP)


def apply_policy(text: str, policy: str = "exact") -> SmsInfo:
    """The SmsInfo of `text` as it would be sent under `policy` (exact | smart | fold).

    Raises Invalid("encoding", ...) for an unknown policy.
    """
    if policy == "exact" or _NOT_BASIC.search(text) is None:
        if policy not in POLICIES:
            raise Invalid(
                "encoding", _("unknown policy %(policy)r (use exact, smart or fold)", policy=policy)
            )
        return analyze(text)
    if policy not in POLICIES:
        raise Invalid("encoding", _("unknown policy %(policy)r (use exact, smart or fold)", policy=policy))
    info = analyze(smart_replace(text))
    if policy == "fold" and info.encoding == UCS2 and set(info.non_gsm) <= _FOLDABLE:
        folded = analyze(fold_accents(info.text))
        if folded.segments < info.segments:
            return folded
    return info


_FOLDABLE = frozenset("áíóúÁÍÓÚ")


@lru_cache(maxsize=1)
def gsm_alphabet() -> tuple[frozenset[str], frozenset[str]]:
    """(default alphabet, extension table) as sets of characters, for lint and tests."""
    return GSM_BASIC, GSM_EXTENSION
