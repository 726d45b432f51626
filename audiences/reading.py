"""Reading contact files into a DataFrame of strings: CSV (any delimiter, UTF-8 with or without BOM,
UTF-16, Windows-1252/Latin-1 as Excel exports it) and XLSX; and mapping headers to contact fields.

Problems that make the whole file unusable raise Invalid("file", ...): wrong file type, unreadable
encoding, no phone column, a bound crossed. Rows with the wrong number of fields are returned as
rejections.

Bounds, checked before the file is parsed in full: at most `MAX_FILE_BYTES` on disk, `MAX_COLUMNS`
columns, `max_rows` data rows (the caller's, from CAMPAIGN_IMPORT_MAX_ROWS), and an XLSX workbook
(a zip) whose parts expand to at most `MAX_XLSX_EXPANDED` bytes, none more than `MAX_XLSX_RATIO`
times its compressed size: a zip bomb is refused before openpyxl opens it.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import fold_key

CONTACT_FIELDS = (
    "phone",
    "name",
    "language",
    "department",
    "municipality",
    "birth_year",
    "age",
    "sex",
    "household",
    "timezone",
    "consent_source",
)
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone",
        "telefono",
        "tel",
        "celular",
        "cel",
        "movil",
        "mobile",
        "phonenumber",
        "numero",
        "numerodetelefono",
        "telefonocelular",
        "whatsapp",
        "msisdn",
        "cellphone",
    ),
    "name": ("name", "nombre", "nombrecompleto", "fullname", "nombres"),
    "language": ("language", "idioma", "lengua", "lang", "idiomamaterno", "idiomapreferido"),
    "department": ("department", "departamento", "depto", "dept", "departament"),
    "municipality": ("municipality", "municipio", "muni", "municipalidad"),
    "birth_year": ("birthyear", "yearofbirth", "anodenacimiento", "anonacimiento", "nacimiento"),
    "age": ("age", "edad"),
    "sex": ("sex", "sexo", "genero", "gender"),
    "household": ("household", "hogar", "tipodehogar", "householdtype", "tipohogar"),
    "timezone": ("timezone", "zonahoraria", "tz"),
    "consent_source": ("consentsource", "consent", "consentimiento", "fuente", "source", "origen"),
}
_SYNONYM_INDEX = {syn: fld for fld, syns in HEADER_SYNONYMS.items() for syn in syns}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
DELIMITERS = ",;\t|"
MAX_COLUMNS = 200
MAX_FILE_BYTES = 1 << 30
MAX_XLSX_EXPANDED = 2 << 30
MAX_XLSX_RATIO = 200
MAX_XLSX_PARTS = 10_000


@dataclass
class RawTable:
    """The file's rows as strings (empty string for a blank cell) with 1-based spreadsheet row
    numbers (the header is row 1), and rows that could not be split into the header's columns."""

    frame: pd.DataFrame
    row_numbers: pd.Series
    encoding: str
    delimiter: str | None
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"%PDF") or data.startswith(b"\xd0\xcf\x11\xe0"):
        reason = _("%(file)s: wrong file type (a binary document, not CSV text)", file=path.name)
        raise Invalid("file", reason)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise Invalid("file", _("%(file)s: unreadable encoding (broken UTF-16)", file=path.name)) from exc
    if b"\x00" in data[:65536]:
        raise Invalid("file", _(
            "%(file)s: unreadable encoding (NUL bytes: binary or UTF-16 without BOM)", file=path.name))
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _check_workbook(path: Path) -> None:
    """Refuses a workbook whose parts would expand beyond the bounds (a zip bomb), unopened."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise Invalid(
            "file", _("%(file)s: not a readable XLSX workbook (not a zip archive)", file=path.name)
        ) from exc
    if len(parts) > MAX_XLSX_PARTS:
        raise Invalid(
            "file",
            _("%(file)s: the workbook has more than %(max)d parts", file=path.name, max=MAX_XLSX_PARTS),
        )
    expanded = 0
    for part in parts:
        expanded += part.file_size
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > (1 << 20) and ratio > MAX_XLSX_RATIO:
            raise Invalid(
                "file",
                _(
                    "%(file)s: workbook part %(part)s expands %(ratio)d times (at most %(max)d): "
                    "refused as a zip bomb",
                    file=path.name,
                    part=part.filename,
                    ratio=ratio,
                    max=MAX_XLSX_RATIO,
                ),
            )
        if expanded > MAX_XLSX_EXPANDED:
            raise Invalid(
                "file",
                _(
                    "%(file)s: the workbook expands to more than %(max)d GB",
                    file=path.name,
                    max=MAX_XLSX_EXPANDED >> 30,
                ),
            )


def _check_columns(columns: list[str], path: Path) -> None:
    if len(columns) > MAX_COLUMNS:
        raise Invalid(
            "file",
            _(
                "%(file)s: %(n)d columns; at most %(max)d (column %(next)d is %(name)r)",
                file=path.name,
                n=len(columns),
                max=MAX_COLUMNS,
                next=MAX_COLUMNS + 1,
                name=str(columns[MAX_COLUMNS])[:40],
            ),
        )


def _check_rows(frame: pd.DataFrame, path: Path, max_rows: int | None) -> None:
    if max_rows is not None and len(frame) > max_rows:
        raise Invalid(
            "file",
            _(
                "%(file)s: more than %(max)d rows (row %(next)d and later; the limit is "
                "CAMPAIGN_IMPORT_MAX_ROWS): split the file",
                file=path.name,
                max=max_rows,
                next=max_rows + 2,
            ),
        )


def read_table(path: Path, *, max_rows: int | None = None) -> RawTable:
    """Reads a CSV or XLSX file into strings. Raises Invalid("file", ...) when unusable or beyond a
    bound (size, columns, `max_rows` data rows, an XLSX that would expand too far)."""
    if not path.exists():
        raise Invalid("file", _("%(file)s: no such file", file=str(path)))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise Invalid(
            "file",
            _("%(file)s: larger than %(max)d GB: split the file", file=path.name, max=MAX_FILE_BYTES >> 30),
        )
    nrows = None if max_rows is None else max_rows + 1
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        _check_workbook(path)
        try:
            header = pd.read_excel(path, dtype=str, nrows=0, engine="openpyxl")
            _check_columns([str(c) for c in header.columns], path)
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl", nrows=nrows)
        except Invalid:
            raise
        except Exception as exc:  # noqa: BLE001 - any openpyxl failure means "not a readable workbook"
            raise Invalid(
                "file",
                _("%(file)s: not a readable XLSX workbook (%(why)s)", file=path.name, why=type(exc).__name__),
            ) from exc
        _check_rows(frame, path, max_rows)
        frame = frame.fillna("").astype(str)
        return RawTable(frame, pd.Series(range(2, len(frame) + 2)), "xlsx", None)
    if suffix not in CSV_SUFFIXES:
        raise Invalid(
            "file", _("%(file)s: wrong file type %(suffix)s (use .csv, .txt, .tsv or .xlsx)", file=path.name,
                      suffix=suffix or "(none)")
        )
    text, encoding = _decode(path.read_bytes(), path)
    if not text.strip():
        raise Invalid("file", _("%(file)s: the file is empty", file=path.name))
    delimiter = "\t" if suffix == ".tsv" else _sniff_delimiter(text)
    _check_columns(next(csv.reader(io.StringIO(text[: 1 << 20]), delimiter=delimiter), []), path)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            engine="c",
            skip_blank_lines=True,
            nrows=nrows,
        )
        rows = pd.Series(range(2, len(frame) + 2))
        bad: list[tuple[int, str]] = []
    except pd.errors.ParserError:
        frame, rows, bad = _read_ragged(text, delimiter, nrows)
    except pd.errors.EmptyDataError as exc:
        raise Invalid("file", _("%(file)s: no header row", file=path.name)) from exc
    if max_rows is not None and len(frame) + len(bad) > max_rows:
        _check_rows(pd.DataFrame(index=range(len(frame) + len(bad))), path, max_rows)
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame.fillna(""), rows.reset_index(drop=True), encoding, delimiter, bad)


def _read_ragged(
    text: str, delimiter: str, nrows: int | None = None
) -> tuple[pd.DataFrame, pd.Series, list[tuple[int, str]]]:
    """Slow path for files with rows of the wrong width: keeps good rows, reports bad ones (reads
    at most `nrows` of them, so the caller sees that a bound is crossed)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader)
    good: list[list[str]] = []
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    for row in reader:
        if nrows is not None and len(good) + len(bad) >= nrows:
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad.append((line, delimiter.join(row)))
            continue
        good.append(row)
        numbers.append(line)
    return pd.DataFrame(good, columns=header, dtype=str), pd.Series(numbers), bad


def guess_headers(columns: list[str]) -> dict[str, str]:
    """header -> field as guessed from the header alone (synonyms; the first column wins a field,
    others become `custom.<key>`). No check: the web's mapping step starts from this guess."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        target = _SYNONYM_INDEX.get(fold_key(column).replace("-", ""))
        if target and target not in taken:
            mapping[column] = target
            taken.add(target)
        else:
            mapping[column] = "custom." + custom_key(column)
    return mapping


def map_headers(columns: list[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """header -> field (`phone`, ..., or `custom.<key>`, or `ignore`), by synonym, then overrides.

    Raises Invalid("map", ...) for an override naming a missing header or an unknown field, and
    Invalid("file", "no phone column ...") when no column maps to phone.
    """
    mapping = guess_headers(columns)
    by_folded = {fold_key(c): c for c in columns}
    for header, target in (overrides or {}).items():
        found = header if header in mapping else by_folded.get(fold_key(header))
        if found is None:
            raise Invalid("map", _("no column %(header)r in the file (columns: %(columns)s)", header=header,
                                  columns=", ".join(columns)))
        column = found
        if target not in CONTACT_FIELDS and target != "ignore" and not target.startswith("custom."):
            raise Invalid(
                "map",
                _("unknown field %(target)r for %(header)r (use %(fields)s, custom.NAME or ignore)",
                  target=target, header=header, fields=", ".join(CONTACT_FIELDS)),
            )
        for other, assigned in mapping.items():
            if assigned == target and other != column and target in CONTACT_FIELDS:
                mapping[other] = "custom." + custom_key(other)
        mapping[column] = target
    if "phone" not in mapping.values():
        raise Invalid(
            "file",
            _("no phone column (headers: %(headers)s; expected one of telefono, celular, phone, ..., or "
              "a column mapped to phone)", headers=", ".join(columns) or "-"),
            cli_hint=_("map one with --map HEADER=phone"),
        )
    return mapping


def custom_key(header: str) -> str:
    """A custom field key from a header: `Hijos 10-19` -> `hijos_10_19`."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", header.strip().lower())
    plain = "".join(c if c.isalnum() else "_" for c in decomposed if not unicodedata.combining(c))
    return "_".join(part for part in plain.split("_") if part) or "field"
