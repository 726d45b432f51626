"""Radio spot scripts: validation of the structured script, rendering with variables, radio lint.

A radio translation's `script` is an ordered list of parts, each either a speaker line
`{"speaker": "LOCUTOR", "text": "..."}` or a production cue `{"cue": "MÚSICA", "text": "sube y
baja", "seconds": 3}` (cues: MÚSICA, EFECTO, SFX, PAUSA). Texts are Jinja2 templates rendered
with the same variables as SMS (hotline numbers, organisation). Pure functions: no session.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from messages.duration import count_syllables, estimate_seconds
from messages.rendering import normalize_text, render

CUES = ("MÚSICA", "EFECTO", "SFX", "PAUSA")
# Spellings producers type for the same cue.
CUE_ALIASES = {"MUSICA": "MÚSICA", "MUSIC": "MÚSICA", "EFECTOS": "EFECTO", "FX": "SFX", "PAUSE": "PAUSA"}
SLOT_LENGTHS = (15, 20, 30, 45, 60)
MAX_CUE_SECONDS = 60.0
MARGIN_SECONDS = 2.5
# Variables that carry the call to action (a number to call); any name starting with these counts.
# Variables that carry a number to call (messages/lint.py uses the same list).
HOTLINE_PREFIXES = (
    "hotline",
    "linea",
    "línea",
    "policia",
    "telefono",
    "numero",
    "pdh",
    "alba",
    "consulado",
    "casa_migrante",
)
_SPEAKER = re.compile(r"^[A-ZÁÉÍÓÚÑÜ0-9][A-ZÁÉÍÓÚÑÜ0-9 .'\-/]{0,39}$")
_PAUSE_IN_CUE = re.compile(r"^(PAUSA|PAUSE)\s+(\d+(?:[.,]\d+)?)\s*S?$")
_VARIABLE_USE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ScriptPart:
    """One part of a script: a speaker line (`speaker` set) or a production cue (`cue` set)."""

    text: str
    speaker: str | None = None
    cue: str | None = None
    seconds: float = 0.0

    @property
    def is_cue(self) -> bool:
        return self.cue is not None

    @property
    def label(self) -> str:
        """What the left column of a radio script shows: the speaker or the cue, in caps."""
        return (self.cue or self.speaker or "").upper()

    def as_dict(self) -> dict[str, Any]:
        if self.cue is not None:
            out: dict[str, Any] = {"cue": self.cue, "seconds": self.seconds}
            if self.text:
                out["text"] = self.text
            return out
        return {"speaker": self.speaker, "text": self.text}


def _upper_label(value: str) -> str:
    return unicodedata.normalize("NFC", " ".join(value.split()).upper())


def _cue(raw: Any, field: str) -> tuple[str, float | None]:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(field, _("a cue must be one of %(cues)s", cues=", ".join(CUES)))
    label = _upper_label(raw)
    pause = _PAUSE_IN_CUE.match(label)  # "PAUSA 2 s" written in the cue itself
    if pause:
        return "PAUSA", float(pause.group(2).replace(",", "."))
    label = CUE_ALIASES.get(label, label)
    if label not in CUES:
        raise Invalid(field, _("unknown cue %(raw)r; use one of %(cues)s", raw=raw, cues=", ".join(CUES)))
    return label, None


def _seconds(raw: Any, field: str) -> float:
    if isinstance(raw, bool) or raw is None or raw == "":
        raise Invalid(field, _("a cue needs its length in seconds (e.g. seconds: 3)"))
    text = str(raw).strip().lower().removesuffix("s").strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        raise Invalid(field, _("%(raw)r is not a number of seconds", raw=raw)) from None
    if not 0 < value <= MAX_CUE_SECONDS:
        raise Invalid(field, _(
                "%(value)g s is out of range (more than 0, at most %(max)g)", value=value, max=MAX_CUE_SECONDS
            ))
    return value


def validate_script(parts: Any) -> list[dict[str, Any]]:
    """Checks a script as written in a pack and returns it normalized (labels in caps, NFC text,
    apostrophes unified, cue seconds as floats).

    Raises Invalid naming the part (1-based, as a producer counts them) and the field at fault,
    e.g. `script part 3.seconds: a cue needs its length in seconds`.
    """
    if not isinstance(parts, list) or not parts:
        raise Invalid("script", _("a radio script is a non-empty list of speaker lines and cues"))
    out: list[dict[str, Any]] = []
    for index, part in enumerate(parts, start=1):
        where = f"script part {index}"
        if not isinstance(part, Mapping):
            raise Invalid(where, _("each part is a mapping: {speaker, text} or {cue, text, seconds}"))
        unknown = set(part) - {"speaker", "cue", "text", "seconds"}
        if unknown:
            raise Invalid(
                where, _("unknown field(s) %(fields)s", fields=", ".join(sorted(map(str, unknown))))
            )
        has_speaker, has_cue = part.get("speaker") is not None, part.get("cue") is not None
        if has_speaker == has_cue:
            raise Invalid(where, _("give either a speaker (a line to read) or a cue (music, effect, pause)"))
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise Invalid(f"{where}.text", _("must be text"))
        text = normalize_text(" ".join((text or "").split()))
        if has_speaker:
            speaker = part["speaker"]
            label = _upper_label(speaker) if isinstance(speaker, str) else ""
            if not _SPEAKER.match(label):
                raise Invalid(
                    f"{where}.speaker",
                    _(
                        "%(speaker)r is not a speaker label (LOCUTOR, VOZ 1, NARRADORA; "
                        "at most 40 characters)",
                        speaker=speaker,
                    ),
                )
            if not text:
                raise Invalid(f"{where}.text", _("the line of %(label)s is empty", label=label))
            if "seconds" in part:
                raise Invalid(f"{where}.seconds", _("only cues have seconds; a line is timed from its text"))
            out.append({"speaker": label, "text": text})
            continue
        cue, pause_seconds = _cue(part["cue"], f"{where}.cue")
        if pause_seconds is not None and part.get("seconds") is None:
            seconds = _seconds(pause_seconds, f"{where}.cue")
        else:
            seconds = _seconds(part.get("seconds"), f"{where}.seconds")
        entry: dict[str, Any] = {"cue": cue, "seconds": seconds}
        if text:
            entry["text"] = text
        out.append(entry)
    if not any("speaker" in part for part in out):
        raise Invalid("script", _("a radio script needs at least one spoken line"))
    return out


def spoken_text(script: list[dict[str, Any]] | list[ScriptPart]) -> str:
    """The speaker lines joined, one per line (what `Translation.body` holds for a spot)."""
    lines = []
    for part in script:
        item = part.as_dict() if isinstance(part, ScriptPart) else part
        if item.get("speaker"):
            lines.append(str(item.get("text", "")))
    return "\n".join(lines)


def render_script(script: list[dict[str, Any]], variables: Mapping[str, Any]) -> list[ScriptPart]:
    """Validates `script` and renders every text with `variables` (same sandbox as SMS).

    Raises Invalid naming the part for a bad script, or for a variable the context lacks.
    """
    parts = []
    for index, part in enumerate(validate_script(script), start=1):
        try:
            text = render(part.get("text", ""), variables) if part.get("text") else ""
        except Invalid as exc:
            raise Invalid(f"script part {index}.text", str(exc)) from exc
        text = " ".join(text.split())
        if "cue" in part:
            parts.append(ScriptPart(text=text, cue=part["cue"], seconds=float(part["seconds"])))
        else:
            parts.append(ScriptPart(text=text, speaker=part["speaker"]))
    return parts


def translation_script(translation: Any) -> list[dict[str, Any]]:
    """The script of a translation; a radio translation without one reads its body as LOCUTOR."""
    script = getattr(translation, "script", None)
    if script:
        return list(script)
    body = (getattr(translation, "body", "") or "").strip()
    if not body:
        raise Invalid("script", _(
            "translation %(language)s has no script or body", language=getattr(translation, "language", "?")
        ))
    return [{"speaker": "LOCUTOR", "text": line} for line in body.splitlines() if line.strip()]


def script_parts(translation: Any, variables: Mapping[str, Any]) -> list[ScriptPart]:
    """The rendered parts of a radio translation (contract used by exports, planning, lint)."""
    return render_script(translation_script(translation), variables)


def is_hotline_variable(name: str) -> bool:
    """True for a variable that carries a number to call (hotline_mujer, linea_maya, policia, pdh, ...)."""
    return name.lower().startswith(HOTLINE_PREFIXES)


def call_to_action_count(script: list[dict[str, Any]]) -> int:
    """How many times the spoken lines say a hotline variable (the call to action)."""
    return sum(
        1
        for part in script
        if part.get("speaker")
        for name in _VARIABLE_USE.findall(str(part.get("text", "")))
        if is_hotline_variable(name)
    )


@dataclass(frozen=True)
class RadioIssue:
    """One finding of radio lint: `level` is "error" or "warning"; `code` is stable for tests."""

    code: str
    level: str
    message: str


def _lint_variables(script: list[dict[str, Any]], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The given variables, plus a stand-in for any variable the spot uses but no one gave yet
    (a hotline reads as four digits; anything else as its name)."""
    context: dict[str, Any] = dict(given or {})
    for part in script:
        for name in _VARIABLE_USE.findall(str(part.get("text", ""))):
            if name not in context:
                context[name] = "1000" if is_hotline_variable(name) else name.replace("_", " ")
    return context


def lint_radio(
    message: Any,
    translation: Any,
    *,
    syllables_per_second: float,
    variables: Mapping[str, Any] | None = None,
    margin_seconds: float = MARGIN_SECONDS,
) -> list[RadioIssue]:
    """Radio-specific lint of one spot translation.

    Flags: a script that does not validate; a missing or non-standard slot length; an estimated
    read longer than the slot (error) or than the slot minus `margin_seconds` (warning); a call to
    action (hotline variable) said fewer than twice.
    """
    language = getattr(translation, "language", None)
    try:
        script = validate_script(translation_script(translation))
    except Invalid as exc:
        return [RadioIssue("radio-script", "error", str(exc))]
    issues: list[RadioIssue] = []
    slot = getattr(message, "slot_seconds", None)
    if slot is None:
        reason = _("no slot length; use one of %(slots)s s", slots=SLOT_LENGTHS)
        issues.append(RadioIssue("radio-slot", "error", reason))
    elif slot not in SLOT_LENGTHS:
        reason = _("slot %(slot)s s is not one of %(slots)s s", slot=slot, slots=SLOT_LENGTHS)
        issues.append(RadioIssue("radio-slot", "warning", reason))
    try:
        parts = render_script(script, _lint_variables(script, variables))
    except Invalid as exc:
        issues.append(RadioIssue("radio-render", "error", str(exc)))
        return issues
    estimate = estimate_seconds(parts, syllables_per_second=syllables_per_second, language=language)
    if slot is not None:
        syllables = sum(count_syllables(p.text, language=language) for p in parts if not p.is_cue)
        detail = _("estimated %(seconds).1f s (%(syllables)d syllables at %(rate).2f/s + cues)",
                   seconds=estimate, syllables=syllables, rate=syllables_per_second)
        if estimate > slot:
            reason = _("%(detail)s is longer than the %(slot)s s slot", detail=detail, slot=slot)
            issues.append(RadioIssue("radio-too-long", "error", reason))
        elif estimate > slot - margin_seconds:
            issues.append(
                RadioIssue(
                    "radio-tight",
                    "warning",
                    _("%(detail)s leaves less than %(margin)s s of margin in the %(slot)s s slot",
                      detail=detail, margin=format(margin_seconds, "g"), slot=slot),
                )
            )
    said = call_to_action_count(script)
    if said < 2:
        issues.append(
            RadioIssue(
                "radio-call-to-action",
                "warning",
                _("the hotline (call to action) is said %(n)d time(s); say it at least twice", n=said),
            )
        )
    return issues
