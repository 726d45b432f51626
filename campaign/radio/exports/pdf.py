"""Print-ready PDF of radio spots for one station's producer: one page per spot (the scripts
first, in the station's languages), then the station's schedule, every label in Spanish.

Spot pages use the standard two-column radio layout: cues and speaker labels on the left in
caps, the copy on the right. The vendored DejaVu Sans (campaign/radio/fonts) is embedded so every
character of Spanish and Mayan orthographies (ä ë ï ö ü, ẍ, apostrophes) prints and can be
extracted back as text, on any machine.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from campaign.radio.exports.data import (
    RadioExport,
    SpotScript,
    format_seconds,
    header_fields,
    language_name,
    local_day,
    part_label,
    status_label,
)

FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
PAGE_SIZES = {"a4": A4, "letter": LETTER}


def register_fonts() -> None:
    """Registers the vendored TTFs with reportlab (once per process)."""
    if REGULAR in pdfmetrics.getRegisteredFontNames():
        return
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONTS_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    return {
        "title": ParagraphStyle("title", fontName=BOLD, fontSize=18, leading=23, spaceAfter=4 * mm),
        "subtitle": ParagraphStyle("subtitle", fontName=REGULAR, fontSize=11, leading=15, spaceAfter=2 * mm),
        "small": ParagraphStyle("small", fontName=REGULAR, fontSize=9, leading=12),
        "label": ParagraphStyle("label", fontName=BOLD, fontSize=11, leading=16),
        "copy": ParagraphStyle("copy", fontName=REGULAR, fontSize=13, leading=19),
        "cue": ParagraphStyle(
            "cue", fontName=REGULAR, fontSize=10, leading=14, textColor=colors.HexColor("#444444")
        ),
        "cell": ParagraphStyle("cell", fontName=REGULAR, fontSize=9, leading=11),
        "cellbold": ParagraphStyle("cellbold", fontName=BOLD, fontSize=9, leading=11),
        "notes": ParagraphStyle("notes", fontName=REGULAR, fontSize=10, leading=14, spaceBefore=2 * mm),
        "note": ParagraphStyle(
            "note",
            fontName=BOLD,
            fontSize=11,
            leading=15,
            spaceBefore=3 * mm,
            textColor=colors.HexColor("#8a1c1c"),
        ),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _cover(export: RadioExport, index: int, styles: dict[str, ParagraphStyle]) -> list[object]:
    schedule = export.stations[index]
    st = schedule.station
    story: list[object] = [
        _p(f"{export.campaign_name}: pauta de radio", styles["title"]),
        _p(f"{st['name']}" + (f" · {st['frequency']}" if st.get("frequency") else ""), styles["subtitle"]),
        _p(
            f"Idiomas: {', '.join(map(str, _languages(st)))}"
            + (f" · Contacto: {st['contact_person']}" if st.get("contact_person") else "")
            + f" · Horas en {export.timezone}",
            styles["small"],
        ),
        Spacer(1, 4 * mm),
    ]
    if not schedule.rows:
        story.append(_p("No hay transmisiones planificadas todavía.", styles["notes"]))
        return story
    header = ["Fecha", "Hora", "Spot", "Idioma", "Duración", "Estado"]
    data = [[_p(h, styles["cellbold"]) for h in header]]
    for row in schedule.rows:
        data.append(
            [
                _p(local_day(row.local_time), styles["cell"]),
                _p(row.local_time.strftime("%H:%M"), styles["cell"]),
                _p(row.title or row.spot, styles["cell"]),
                _p(language_name(row.language), styles["cell"]),
                _p(format_seconds(row.duration_seconds), styles["cell"]),
                _p(status_label(row.status), styles["cell"]),
            ]
        )
    table = Table(data, repeatRows=1, colWidths=[34 * mm, 14 * mm, 46 * mm, 18 * mm, 22 * mm, 26 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    return story


def _spot_page(export: RadioExport, spot: SpotScript, styles: dict[str, ParagraphStyle]) -> list[object]:
    fields = header_fields(export, spot)
    header = Table(
        [[_p(f"{k}:", styles["cellbold"]), _p(v, styles["cell"])] for k, v in fields],
        colWidths=[45 * mm, 120 * mm],
    )
    header.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, -1), (-1, -1), 0.75, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    story: list[object] = [_p(spot.title or spot.spot, styles["title"]), header]
    if spot.note:
        story.append(_p(spot.note, styles["note"]))
    if spot.pronunciation:
        story.append(_p(f"Pronunciación: {spot.pronunciation}", styles["notes"]))
    story.append(Spacer(1, 5 * mm))
    rows = []
    for part in spot.parts:
        label = _p(part_label(part), styles["label"])
        if part.is_cue:
            rows.append([label, _p(f"[{part.text}]" if part.text else "", styles["cue"])])
        else:
            rows.append([label, _p(part.text, styles["copy"])])
    script = Table(rows, colWidths=[40 * mm, 125 * mm])
    script.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
                ("LINEAFTER", (0, 0), (0, -1), 0.5, colors.lightgrey),
            ]
        )
    )
    story.append(script)
    story.append(Spacer(1, 6 * mm))
    story.append(KeepTogether([_p("FIN DEL SPOT", styles["label"])]))
    return story


def write_pdf(export: RadioExport, path: Path, *, page_size: str = "a4") -> Path:
    """Writes the PDF to `path` and returns it. `page_size` is "a4" or "letter"."""
    register_fonts()
    styles = _styles()
    size = PAGE_SIZES[page_size.lower()]
    story: list[object] = []
    for spot in export.spots:
        story.extend(_spot_page(export, spot, styles))
        story.append(PageBreak())
    for index in range(len(export.stations)):
        story.extend(_cover(export, index, styles))
        story.append(PageBreak())
    if story:
        story.pop()  # no blank page at the end

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(REGULAR, 8)
        canvas.drawString(18 * mm, 10 * mm, f"{export.campaign_slug} · radio")
        canvas.drawRightString(size[0] - 18 * mm, 10 * mm, f"{doc.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(
        str(path),
        pagesize=size,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"{export.campaign_name}: radio",
        author="campaign-engine",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return path


def _languages(station: dict[str, object]) -> list[object]:
    value = station.get("languages")
    return list(value) if isinstance(value, list | tuple) else []
