"""One entry point for every radio export format: gather once, write the files into a folder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.radio.exports.data import RadioExport, build_export

FORMATS = ("pdf", "docx", "txt", "csv", "xlsx")


def write_export(
    export: RadioExport,
    fmt: str,
    out_dir: Path,
    *,
    station: str | None = None,
    language: str | None = None,
    page_size: str = "a4",
) -> list[Path]:
    """Writes `export` in `fmt` into `out_dir` (created); returns the files written."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise Invalid(
            "format", _("%(value)r is not one of %(allowed)s", value=fmt, allowed=", ".join(FORMATS))
        )
    if page_size.lower() not in ("a4", "letter"):
        raise Invalid("page-size", _("%(page_size)r is not a4 or letter", page_size=page_size))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = export.file_stem(station, language)
    if fmt in ("pdf", "docx"):  # one pack per station: its scripts, then its schedule
        from campaign.radio.exports.data import station_packs
        from campaign.radio.exports.docx import write_docx
        from campaign.radio.exports.pdf import write_pdf

        write = write_pdf if fmt == "pdf" else write_docx
        return [
            write(
                pack,
                out_dir / f"{export.file_stem(station or slug or None, language)}.{fmt}",
                page_size=page_size,
            )
            for slug, pack in station_packs(export)
        ]
    if fmt == "txt":
        from campaign.radio.exports.txt import write_txt

        return write_txt(export, out_dir)
    from campaign.radio.exports.traffic import write_csv, write_xlsx

    stem = export.file_stem(station, language).replace("-radio", "-traffic")
    if fmt == "csv":
        return [write_csv(export, out_dir / f"{stem}.csv")]
    return [write_xlsx(export, out_dir / f"{stem}.xlsx")]


def export_radio(
    session: Session,
    campaign_slug: str,
    *,
    fmt: str,
    out_dir: Path,
    station: str | None = None,
    language: str | None = None,
    page_size: str = "a4",
) -> list[Path]:
    """Gathers the campaign's spots and schedule and writes them in `fmt`; returns the files.

    Raises NotFound (campaign, station), Invalid (format, nothing to export).
    """
    if fmt.lower() not in FORMATS:
        raise Invalid(
            "format", _("%(value)r is not one of %(allowed)s", value=fmt, allowed=", ".join(FORMATS))
        )
    export = build_export(session, campaign_slug, station=station, language=language)
    return write_export(export, fmt, out_dir, station=station, language=language, page_size=page_size)
