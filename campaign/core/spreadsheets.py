"""Spreadsheet exports that cannot run formulas: CSV and XLSX cells written as text.

A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel
and LibreOffice (CSV injection). Exports carry text other people wrote (inbound messages, imported
names, campaign names), so every export goes through here:
- CSV: such a cell gets a leading `'` (OWASP's advice; spreadsheets show the text, not the quote).
- XLSX: such a cell keeps its exact text but is stored as a string cell, never as a formula.

Leaf module: imports nothing of the project (openpyxl and pandas only where used).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from openpyxl.workbook.workbook import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> bool:
    """True for text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """`value` safe for a CSV cell: formula-like text gets a leading `'`; anything else unchanged."""
    return "'" + value if is_formula_like(value) else value


def csv_rows(rows: Iterable[Sequence[Any]]) -> Iterable[list[Any]]:
    """Each row with every cell through `csv_cell`."""
    for row in rows:
        yield [csv_cell(v) for v in row]


def write_csv_rows(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV with `header` and `rows`, formula-like cells neutralized."""
    writer = csv.writer(handle)
    writer.writerow(list(csv_rows([header]))[0])
    writer.writerows(csv_rows(rows))


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) are safe for CSV."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for column in out.columns:
        if is_object_dtype(out[column].dtype) or is_string_dtype(out[column].dtype):
            out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def text_cells(workbook: Workbook) -> Workbook:
    """Stores every formula-like cell of `workbook` as a plain string cell (its text unchanged).
    Call it right before saving: exports never write formulas of their own."""
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or is_formula_like(cell.value):
                    cell.data_type = "s"
    return workbook


def text_cells_in_file(path: Path) -> None:
    """Rewrites the XLSX at `path` with `text_cells` (for files pandas wrote)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    text_cells(workbook)
    workbook.save(path)
