"""Contact files have bounds: columns, rows (CAMPAIGN_IMPORT_MAX_ROWS) and XLSX expansion (a zip
bomb). Each is one error naming the file and the bound, exit 1, nothing stored."""

from __future__ import annotations

import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from audiences.models import Contact
from campaign.core.db import make_sessionmaker
from tests.subprocess_cli import run_cli


def _contacts(engine) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


def _csv(path, rows: int, extra_columns: int = 0) -> None:
    header = ["telefono", "nombre", *(f"campo_{i}" for i in range(extra_columns))]
    lines = [",".join(header)]
    lines += [",".join([f"+5023{n:07d}", "Contacto Sintético", *("x" * extra_columns)]) for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _xlsx(path, rows: int) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["telefono", "nombre"])
    for n in range(rows):
        sheet.append([f"+5023{n:07d}", "Contacto Sintético"])
    book.save(path)


FIVE_ROWS = {"CAMPAIGN_IMPORT_MAX_ROWS": "5"}


@pytest.mark.parametrize(
    ("name", "make", "env", "words"),
    [
        ("anchos.csv", lambda p: _csv(p, 3, extra_columns=250), {}, "anchos.csv: 252 columns; at most 200"),
        ("largos.csv", lambda p: _csv(p, 6), FIVE_ROWS, "largos.csv: more than 5 rows"),
        ("largos.xlsx", lambda p: _xlsx(p, 6), FIVE_ROWS, "largos.xlsx: more than 5 rows"),
    ],
    ids=["columns", "csv-rows", "xlsx-rows"],
)
def test_import_beyond_a_bound_is_refused(engine, db_url, tmp_path, name, make, env, words):
    path = tmp_path / name
    make(path)

    result = run_cli("audiences", "import", str(path), db_url=db_url, env=env)

    assert result.returncode == 1, result.stdout
    assert words in result.stderr
    assert _contacts(engine) == 0


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(engine, db_url, tmp_path):
    path = tmp_path / "bomba.xlsx"
    _xlsx(path, 2)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/relleno.xml", b"\0" * (40 << 20))  # 40 MB of zeros: ~1000x

    result = run_cli("audiences", "import", str(path), db_url=db_url)

    assert result.returncode == 1, result.stdout
    assert "bomba.xlsx: workbook part xl/media/relleno.xml expands" in result.stderr
    assert "refused as a zip bomb" in result.stderr
    assert _contacts(engine) == 0


def test_files_within_the_bounds_still_import(engine, db_url, tmp_path):
    path = tmp_path / "justo.csv"
    _csv(path, 5, extra_columns=198)
    result = run_cli(
        "audiences", "import", str(path), "--consent-source", "feria", db_url=db_url, env=FIVE_ROWS
    )
    assert result.returncode == 0, result.stderr
    assert _contacts(engine) == 5
