"""`campaign audiences ...` through the CLI runner."""

from __future__ import annotations

import csv
import json

from campaign.cli import app


def test_sample_import_count_segments(cli, tmp_path):
    assert cli.invoke(app, ["init"]).exit_code == 0
    sample = cli.invoke(
        app, ["audiences", "sample", "--n", "400", "--seed", "3", "--out", str(tmp_path / "s.csv")]
    )
    assert sample.exit_code == 0, sample.output
    assert "SYNTHETIC" in sample.output
    strict = cli.invoke(
        app, ["audiences", "import", str(tmp_path / "s.csv"), "--report", str(tmp_path / "r.csv")]
    )
    assert strict.exit_code == 1
    assert "rows rejected, nothing imported" in strict.stderr and "--partial" in strict.stderr
    assert (tmp_path / "r.csv").exists()
    none = json.loads(cli.invoke(app, ["audiences", "count", "not opted_out", "--json"]).stdout)
    assert none["count"] == 0
    result = cli.invoke(
        app,
        [
            "audiences",
            "import",
            str(tmp_path / "s.csv"),
            "--partial",
            "--json",
            "--report",
            str(tmp_path / "r.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 400
    assert summary["imported"] + summary["duplicates"] + summary["rejected"] == 400
    assert summary["rejected"] == sum(summary["rejected_by_reason"].values()) > 0
    report = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert len(report) >= summary["rejected"] and all(r["row"].isdigit() for r in report)
    segments = json.loads(cli.invoke(app, ["audiences", "segments", "--json"]).stdout)
    assert all(s["count"] > 0 for s in segments if s["builtin"]), segments
    counted = json.loads(
        cli.invoke(app, ["audiences", "count", "border_youth", "--by", "border", "--json"]).stdout
    )
    assert counted["count"] == sum(counted["breakdown"].values()) > 0


def test_dry_run_then_segment_add_and_consent(cli, tmp_path):
    cli.invoke(app, ["init"])
    path = tmp_path / "c.csv"
    path.write_text("celular;nombre\n5555-1234;Ana\n", encoding="utf-8")
    dry = cli.invoke(
        app, ["audiences", "import", str(path), "--dry-run", "--json", "--consent-source", "feria"]
    )
    assert json.loads(dry.stdout)["would_import"] == 1 and json.loads(dry.stdout)["imported"] == 0
    assert json.loads(cli.invoke(app, ["audiences", "count", "not opted_out", "--json"]).stdout)["count"] == 0
    assert cli.invoke(app, ["audiences", "import", str(path), "--consent-source", "feria"]).exit_code == 0
    added = cli.invoke(
        app, ["audiences", "segment", "add", "everyone", "not opted_out", "--name", "All", "--json"]
    )
    assert added.exit_code == 0, added.output and json.loads(added.stdout)["count"] == 1
    out = cli.invoke(app, ["audiences", "opt-out", "+502 5555 1234"])
    assert out.exit_code == 0, out.output
    assert json.loads(cli.invoke(app, ["audiences", "count", "everyone", "--json"]).stdout)["count"] == 0
    back = cli.invoke(app, ["audiences", "opt-in", "55551234", "--source", "feria"])
    assert back.exit_code == 0, back.output
    assert json.loads(cli.invoke(app, ["audiences", "count", "everyone", "--json"]).stdout)["count"] == 1


def test_errors_are_one_line(cli, tmp_path):
    cli.invoke(app, ["init"])
    bad = cli.invoke(app, ["audiences", "count", "age betwen 1 and 2"])
    assert bad.exit_code == 1 and bad.stderr.strip() == "error: query: unexpected 'betwen' at column 5"
    path = tmp_path / "c.csv"
    path.write_text("nombre\nAna\n", encoding="utf-8")
    nophone = cli.invoke(app, ["audiences", "import", str(path)])
    assert nophone.exit_code == 1 and "no phone column" in nophone.stderr
    assert "--map HEADER=phone" in nophone.stderr  # the command line names its own option
    unknown = cli.invoke(app, ["audiences", "opt-out", "5555 9999"])
    assert unknown.exit_code == 1 and "no contact" in unknown.stderr
