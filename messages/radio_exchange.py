"""Radio spots in the translator's file: a script as plain lines, back again, and its read time.

A translator gets a spot as one row (one PO entry): its script written one part a line,

    [EFECTO 1 s] Ruido de calle y tráfico
    LOCUTOR: Niños pidiendo dinero ...

so the speaker labels and cues stay in place and only the words change; `lines_to_script` reads
the returned text back into script parts (validated like a pack's, errors naming the line).
`read_hint` says how long the words take at the language's speaking rate against the spot's slot.
Pure, except `speaking_rate`, which reads the latest calibration (takes a session, reads only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, default_registry
from messages.duration import cue_seconds, estimate_seconds
from messages.models import RadioCalibration
from messages.radio import MARGIN_SECONDS, render_script, validate_script

_CUE_LINE = re.compile(r"^\[\s*([^\]\d]+?)\s+(\d+(?:[.,]\d+)?)\s*s?\s*\]\s*(.*)$", re.IGNORECASE)
_SPEAKER_LINE = re.compile(r"^([^:]{1,40}):\s*(.*)$")


def script_to_lines(script: list[dict[str, Any]]) -> str:
    """A script as the translator sees it: `LABEL: words` lines and `[CUE n s] note` lines."""
    lines = []
    for part in script:
        if part.get("cue"):
            note = f" {part['text']}" if part.get("text") else ""
            lines.append(f"[{part['cue']} {float(part['seconds']):g} s]{note}")
        else:
            lines.append(f"{part['speaker']}: {part.get('text', '')}")
    return "\n".join(lines)


def lines_to_script(text: str) -> list[dict[str, Any]]:
    """The script a translator's text describes (one part a line). Raises Invalid naming the line."""
    parts: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        cue = _CUE_LINE.match(line)
        speaker = None if cue else _SPEAKER_LINE.match(line)
        if cue:
            part: dict[str, Any] = {"cue": cue.group(1), "seconds": cue.group(2).replace(",", ".")}
            if cue.group(3).strip():
                part["text"] = cue.group(3).strip()
        elif speaker:
            part = {"speaker": speaker.group(1).strip(), "text": speaker.group(2).strip()}
        else:
            raise Invalid(
                _("line %(n)d", n=number),
                _("write each part as 'LOCUTOR: words' or '[MÚSICA 3 s] note', as exported"),
            )
        parts.append(part)
    return validate_script(parts)


def speaking_rate(session: Session, language: str, *, registry: LanguageRegistry | None = None) -> float:
    """Syllables per second for `language`: its latest calibration, else the registry's default.

    Raises Invalid for a language code the registry does not know and nobody calibrated.
    """
    latest = session.scalars(
        select(RadioCalibration.syllables_per_second)
        .where(RadioCalibration.language == language)
        .order_by(RadioCalibration.recorded_at.desc(), RadioCalibration.id.desc())
        .limit(1)
    ).first()
    if latest is not None:
        return float(latest)
    return (registry or default_registry()).get(language).syllables_per_second


def read_seconds(
    script: list[dict[str, Any]], variables: Mapping[str, Any], *, rate: float, language: str
) -> float:
    """Estimated air time of a script with these variables (raises Invalid for a bad script)."""
    parts = render_script(script, variables)
    return estimate_seconds(parts, syllables_per_second=rate, language=language)


def read_hint(
    slot: int | None,
    source_seconds: float | None,
    target_seconds: float | None,
    *,
    script: list[dict[str, Any]],
    rate: float,
    language: str,
) -> str:
    """The translator's read-time hint for one spot: the slot, how long the Spanish reads, how
    many syllables fit in `language` at `rate` (slot minus cues and a margin), and how long the
    current translation reads."""
    words: list[str] = []
    if slot:
        words.append(_("%(slot)d s slot", slot=slot))
    if source_seconds is not None:
        words.append(_("Spanish reads in about %(s)s s", s=format(source_seconds, "g")))
    if slot:
        room = max(0.0, slot - cue_seconds(script) - MARGIN_SECONDS)
        words.append(
            _(
                "fits about %(n)d syllables in %(lang)s (%(rate)s per second)",
                n=int(room * rate),
                lang=language,
                rate=format(rate, ".1f"),
            )
        )
    if target_seconds is not None:
        words.append(_("this translation reads in about %(s)s s", s=format(target_seconds, "g")))
    return "; ".join(words)
