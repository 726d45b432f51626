"""An import that stores nothing says so in its JSON (issue 10, defect 14).

A file with a bad row, without --partial, is refused whole: scripts reading `imported` must see 0,
and `would_import` carries what the file holds. Same for --dry-run. Through the real command;
synthetic numbers only.
"""

from __future__ import annotations

import json

from tests.subprocess_cli import run_cli, run_json

PEOPLE = (
    "teléfono,nombre,idioma,consentimiento\n"
    "+50255550111,Persona Sintética Uno,es,feria de salud\n"
    "+50255550112,Persona Sintética Dos,es,feria de salud\n"
    "no-es-un-número,Persona Sintética Tres,es,feria de salud\n"
)


def _count(db_url: str) -> int:
    return int(run_json("audiences", "count", "not opted_out", "--json", db_url=db_url)["count"])


def test_an_aborted_import_reports_zero_imported_and_what_it_would_have_done(db_url, tmp_path):
    path = tmp_path / "personas.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    result = run_cli("audiences", "import", str(path), "--json", db_url=db_url)
    assert result.returncode != 0, result.stdout
    data = json.loads(result.stdout)
    assert data["aborted"] and data["stored"] is False
    assert (data["imported"], data["updated"], data["unchanged"]) == (0, 0, 0)
    assert data["would_import"] == 2 and data["rejected"] == 1
    assert "nothing imported" in result.stderr
    assert _count(db_url) == 0


def test_a_dry_run_reports_zero_imported_and_then_the_real_import_stores(db_url, tmp_path):
    path = tmp_path / "personas.csv"
    path.write_text(PEOPLE.rsplit("no-es", 1)[0], encoding="utf-8")
    dry = run_json("audiences", "import", str(path), "--dry-run", "--json", db_url=db_url)
    assert dry["stored"] is False and dry["imported"] == 0 and dry["would_import"] == 2
    table = run_cli("audiences", "import", str(path), "--dry-run", db_url=db_url)
    assert "would import" in table.stdout and "nothing written" in table.stdout, table.stdout
    done = run_json("audiences", "import", str(path), "--json", db_url=db_url)
    assert done["stored"] is True and done["imported"] == 2 == done["would_import"]
    assert _count(db_url) == 2
