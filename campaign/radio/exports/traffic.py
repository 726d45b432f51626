"""The traffic log (CSV or XLSX): one row per planned airing, with its planned/aired/missed status."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from campaign.core.spreadsheets import text_cells, write_csv_rows
from campaign.radio.exports.data import RadioExport

COLUMNS = ("station", "date", "time", "spot", "spot_id", "language", "duration", "status", "notes")


def columns() -> list[str]:
    """COLUMNS in the user's language (`radio log` reads them back in either language)."""
    from campaign.core.i18n import _

    words = {
        "station": _("station"),
        "date": _("date"),
        "time": _("time"),
        "spot": _("spot"),
        "spot_id": _("spot_id"),
        "language": _("language"),
        "duration": _("duration"),
        "status": _("status"),
        "notes": _("notes"),
    }
    return [words[c] for c in COLUMNS]


def traffic_rows(export: RadioExport) -> list[list[str]]:
    """Rows in COLUMNS order, local date and time of the campaign's timezone; the spot by its
    title (for people) and its slug (`spot_id`, which `radio log` also accepts)."""
    return [
        [
            row.station,
            row.local_time.date().isoformat(),
            row.local_time.strftime("%H:%M"),
            row.title or row.spot,
            row.spot,
            row.language,
            "" if row.duration_seconds is None else f"{row.duration_seconds:.1f}",
            row.status,
            row.notes or "",
        ]
        for row in export.airings
    ]


def write_csv(export: RadioExport, path: Path) -> Path:
    """Writes the traffic log as UTF-8 CSV with a header row (Excel-friendly BOM)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        write_csv_rows(handle, columns(), traffic_rows(export))
    return path


def write_xlsx(export: RadioExport, path: Path) -> Path:
    """Writes the traffic log as one XLSX sheet with a frozen header row."""
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)  # a new workbook starts with one worksheet
    sheet.title = "traffic"
    sheet.append(columns())
    for row in traffic_rows(export):
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHI", (22, 12, 8, 34, 24, 10, 10, 10, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    text_cells(workbook).save(str(path))
    return path
