"""`campaign config` masks every credential; exports never hand a spreadsheet a formula.

All secrets here are made up for the test.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from campaign.core.config import mask_url_credentials
from campaign.core.spreadsheets import csv_cell, text_cells, write_csv_rows
from tests.subprocess_cli import run_cli

SECRETS = ("hunter2", "tok3n-secret", "s3cr3t-query", "AC-user-not-real")


def test_config_masks_database_and_api_base_credentials_in_a_fresh_process():
    env = {
        "CAMPAIGN_DATABASE_URL": "postgresql+psycopg://app:hunter2@db.local/prod?sslpassword=s3cr3t-query",
        "CAMPAIGN_TWILIO_API_BASE": "https://AC-user-not-real:tok3n-secret@gateway.example.org/api?token=s3cr3t-query",
    }
    for args in (["config", "--json"], ["config"]):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr
    data = json.loads(run_cli("config", "--json", env=env).stdout)
    assert data["database_url"].startswith("postgresql+psycopg://app:***@db.local/prod")
    assert data["twilio_api_base"].startswith("https://***@gateway.example.org/api?token=***")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.twilio.com", "https://api.twilio.com"),
        ("sqlite:///./var/campaign.db", "sqlite:///./var/campaign.db"),
        ("sqlite:////tmp/x.db?mode=ro", "sqlite:////tmp/x.db?mode=ro"),
        ("postgresql+psycopg://app:pw@db/prod", "postgresql+psycopg://***@db/prod"),
        ("https://user:pw@host/x", "https://***@host/x"),
        ("https://tokenonly@host", "https://***@host"),
        ("http://host/?api_key=abc&page=2", "http://host/?api_key=***&page=2"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("http://[::1:bad/x@y", "http://***@y"),  # not a URL, still no secret
    ],
)
def test_mask_url_credentials(url, shown):
    assert mask_url_credentials(url) == shown


FORMULAS = ['=HYPERLINK("http://x")', "+502 5555 0101", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def test_csv_cells_starting_like_a_formula_are_text():
    buffer = io.StringIO()
    write_csv_rows(buffer, ["a", "b"], [[v, "plain"] for v in FORMULAS] + [[5, -3]])
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert [r[0] for r in rows[1:-1]] == ["'" + v for v in FORMULAS]
    assert rows[-1] == ["5", "-3"]  # numbers stay numbers
    assert csv_cell("hola") == "hola"


def test_xlsx_cells_keep_their_text_but_are_never_formulas(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    for value in FORMULAS:
        sheet.append([value])
    path = tmp_path / "x.xlsx"
    text_cells(workbook).save(path)
    cells = [row[0] for row in load_workbook(path).active.iter_rows()]
    assert [c.value for c in cells] == FORMULAS
    assert {c.data_type for c in cells} == {"s"}


def test_inbox_export_neutralizes_a_formula_someone_texted_in_csv_and_xlsx(db_url, engine, tmp_path):
    """Anyone can text the hotline: a message written as a formula stays text in every export."""
    from tests.campaign.hotline.test_cli import receive

    body = '=HYPERLINK("http://evil.example/x","ver")'
    receive(engine, body, "+50255550142")  # synthetic number
    out_csv, out_xlsx = tmp_path / "cases.csv", tmp_path / "cases.xlsx"
    for out in (out_csv, out_xlsx):
        result = run_cli("inbox", "export", "--out", str(out), db_url=db_url)
        assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert rows[0]["last_message"] == "'" + body
    assert rows[0]["phone"].startswith("'+502")
    sheet = load_workbook(out_xlsx).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    cell = next(sheet.iter_rows(min_row=2))[header.index("last_message")]
    assert cell.value == body and cell.data_type == "s"
