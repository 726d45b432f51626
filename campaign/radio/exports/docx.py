"""Editable DOCX of radio spots (Word/LibreOffice): same structure as the PDF, for producers to adapt."""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_BREAK
from docx.shared import Mm, Pt

from campaign.radio.exports.data import (
    RadioExport,
    format_seconds,
    header_fields,
    language_name,
    local_day,
    part_label,
    status_label,
)

PAGE_SIZES_MM = {"a4": (210, 297), "letter": (215.9, 279.4)}


def write_docx(export: RadioExport, path: Path, *, page_size: str = "a4") -> Path:
    """Writes the DOCX to `path` and returns it, in the PDF's order: a page per spot (its title, a
    two-column table with labels in caps on the left and copy on the right, and the page note of a
    Spanish spot on a Mayan-language station), then each station's schedule (spots by title,
    languages by name, statuses in Spanish)."""
    document = Document()
    width, height = PAGE_SIZES_MM[page_size.lower()]
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(width), Mm(height)
    for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, margin, Mm(18))
    document.core_properties.title = f"{export.campaign_name}: radio"
    first = True

    def page_break() -> None:
        nonlocal first
        if not first:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        first = False

    for spot in export.spots:
        page_break()
        document.add_heading(spot.title or spot.spot, level=1)
        header = document.add_table(rows=0, cols=2)
        for key, value in header_fields(export, spot):
            cells = header.add_row().cells
            cells[0].text = key
            cells[0].paragraphs[0].runs[0].bold = True
            cells[1].text = value
        if spot.note:
            document.add_paragraph().add_run(spot.note).bold = True
        if spot.pronunciation:
            document.add_paragraph(f"Pronunciación: {spot.pronunciation}")
        script = document.add_table(rows=0, cols=2)
        script.style = "Table Grid"
        for part in spot.parts:
            cells = script.add_row().cells
            cells[0].width, cells[1].width = Mm(40), Mm(130)
            cells[0].text = part_label(part)
            cells[0].paragraphs[0].runs[0].bold = True
            text = (f"[{part.text}]" if part.text else "") if part.is_cue else part.text
            run = cells[1].paragraphs[0].add_run(text)
            run.font.size = Pt(10 if part.is_cue else 13)
            run.italic = part.is_cue
        document.add_paragraph().add_run("FIN DEL SPOT").bold = True

    for schedule in export.stations:
        page_break()
        st = schedule.station
        document.add_heading(f"{export.campaign_name}: pauta de radio", level=1)
        document.add_paragraph(f"{st['name']}" + (f" · {st['frequency']}" if st.get("frequency") else ""))
        document.add_paragraph(
            f"Idiomas: {', '.join(map(str, _languages(st)))}"
            + (f" · Contacto: {st['contact_person']}" if st.get("contact_person") else "")
            + f" · Horas en {export.timezone}"
        )
        if not schedule.rows:
            document.add_paragraph("No hay transmisiones planificadas todavía.")
            continue
        table = document.add_table(rows=1, cols=6)
        table.style = "Table Grid"
        headings = ["Fecha", "Hora", "Spot", "Idioma", "Duración", "Estado"]
        for cell, text in zip(table.rows[0].cells, headings, strict=True):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        for row in schedule.rows:
            cells = table.add_row().cells
            values = [
                local_day(row.local_time),
                row.local_time.strftime("%H:%M"),
                row.title or row.spot,
                language_name(row.language),
                format_seconds(row.duration_seconds),
                status_label(row.status),
            ]
            for cell, text in zip(cells, values, strict=True):
                cell.text = text
    document.save(str(path))
    return path


def _languages(station: dict[str, object]) -> list[object]:
    value = station.get("languages")
    return list(value) if isinstance(value, list | tuple) else []
