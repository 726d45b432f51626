"""`make bench`'s runner (tools/bench.py) over stand-in benchmarks: the table, var/bench.json, the exit code.

The stand-ins print BENCH lines the way benchmarks/_bench.py's `emit` does; no timing is measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMITTING = """
import sys
sys.path.insert(0, {bench_dir!r})
from _bench import emit
print("some progress line")
emit("callbacks/s", 1800, unit="req/s", target=1500, better="higher", baseline=600,
     baseline_label="one transaction per request")
emit("planning 1M", 25.0, unit="s", target=20, better="lower", baseline=50.0)
"""
SILENT_FAILURE = "import sys\nprint('crashed before measuring')\nsys.exit(3)\n"


def run(folder: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    output = folder / "bench.json"
    runner = str(ROOT / "tools" / "bench.py")
    command = [sys.executable, runner, "--dir", str(folder), "--output", str(output)]
    result = subprocess.run(
        [*command, *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return result, json.loads(output.read_text(encoding="utf-8")) if output.exists() else {}


def test_runner_tables_every_figure_with_its_same_run_baseline_and_fails_on_a_miss(tmp_path):
    (tmp_path / "webhooks.py").write_text(EMITTING.format(bench_dir=str(ROOT / "benchmarks")))
    (tmp_path / "broken.py").write_text(SILENT_FAILURE)
    (tmp_path / "_helper.py").write_text("raise SystemExit('helpers are not run')\n")
    result, report = run(tmp_path)
    assert result.returncode == 1
    assert "some progress line" in result.stdout  # the benchmark's own output passes through
    table = result.stdout[result.stdout.index("benchmark  "):]
    assert "callbacks/s" in table and "3.00x" in table and "pass" in table  # 1800 / 600
    assert "planning 1M" in table and "2.00x" in table and "FAIL" in table  # 50 s / 25 s, target missed
    assert "(no BENCH lines; exit 3)" in table
    assert "helpers are not run" not in result.stdout + result.stderr
    figures = {figure["figure"]: figure for figure in report["figures"]}
    assert figures["callbacks/s"]["ratio"] == 3.0 and figures["callbacks/s"]["passed"] is True
    assert figures["planning 1M"]["passed"] is False
    assert {run["script"]: run["exit"] for run in report["runs"]} == {"broken": 3, "webhooks": 0}
    assert report["host"]["cpus"] and len(report["host"]["loadavg_before"]) == 3


def test_runner_exits_zero_when_every_figure_meets_its_target(tmp_path):
    passing = EMITTING.replace('emit("planning 1M", 25.0', 'emit("planning 1M", 15.0')
    (tmp_path / "webhooks.py").write_text(passing.format(bench_dir=str(ROOT / "benchmarks")))
    (tmp_path / "other.py").write_text(SILENT_FAILURE)
    result, report = run(tmp_path, "--only", "webhooks")
    assert result.returncode == 0, result.stdout
    assert [run["script"] for run in report["runs"]] == ["webhooks"]
