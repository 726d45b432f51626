"""Plain-text spot scripts, one file per spot and language, for reading on a phone or a teleprompter."""

from __future__ import annotations

from pathlib import Path

from campaign.radio.exports.data import RadioExport, SpotScript, header_fields, part_label


def spot_text(export: RadioExport, spot: SpotScript) -> str:
    """A spot as plain text: header lines, then `LABEL: copy` lines (cues in brackets)."""
    lines = [f"{key}: {value}" for key, value in header_fields(export, spot)]
    if spot.note:
        lines.append(spot.note)
    if spot.pronunciation:
        lines.append(f"Pronunciación: {spot.pronunciation}")
    lines.append("")
    for part in spot.parts:
        if part.is_cue:
            lines.append(f"[{part_label(part)}{': ' + part.text if part.text else ''}]")
        else:
            lines.append(f"{part.label}:")
            lines.append(part.text)
        lines.append("")
    lines.append("FIN DEL SPOT")
    return "\n".join(lines) + "\n"


def write_txt(export: RadioExport, directory: Path) -> list[Path]:
    """Writes `<spot>-<language>.txt` (UTF-8) per spot into `directory`; returns the paths."""
    paths = []
    for spot in export.spots:
        path = directory / f"{spot.spot}-{spot.language}.txt"
        path.write_text(spot_text(export, spot), encoding="utf-8")
        paths.append(path)
    return paths
