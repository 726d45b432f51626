"""`make bench`: runs every benchmark, prints one table of figures and writes var/bench.json.

    python tools/bench.py [--only NAME,NAME] [--skip NAME,NAME] [--timeout SECONDS]

Every `benchmarks/*.py` whose name does not start with `_` is a benchmark. Each runs in its own
process with its default arguments (one after the other: the machine is small and timings are
noisy), its output passed through as it comes. The figures are the `BENCH {json}` lines it prints
(benchmarks/README.md, benchmarks/_bench.py). The table shows each figure, its target, the
baseline measured in the same run and the ratio (how many times better than the baseline). Exits 1
when a figure misses its target or a benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
OUTPUT = ROOT / "var" / "bench.json"
PREFIX = "BENCH "


def discover(folder: Path, only: set[str], skip: set[str]) -> list[Path]:
    """The benchmark scripts to run, by name."""
    scripts = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    return [p for p in scripts if (not only or p.stem in only) and p.stem not in skip]


def run_script(path: Path, timeout: float) -> dict[str, Any]:
    """Runs one benchmark, echoing its output; returns its exit code, duration and figures."""
    print(f"\n=== {path.stem} ===", flush=True)
    started = time.monotonic()
    figures: list[dict[str, Any]] = []
    process = subprocess.Popen(
        [sys.executable, str(path)], cwd=str(ROOT), stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert process.stdout is not None
    try:
        deadline = started + timeout
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith(PREFIX):
                try:
                    figures.append(json.loads(line[len(PREFIX):]))
                except json.JSONDecodeError:
                    print(f"(ignored an unreadable BENCH line of {path.stem})")
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(process.args, timeout)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = -9
        print(f"(stopped {path.stem} after {timeout:.0f} s)")
    seconds = round(time.monotonic() - started, 1)
    return {"script": path.stem, "exit": code, "seconds": seconds, "figures": figures}


def ratio(figure: dict[str, Any]) -> float | None:
    """How many times better than the same-run baseline (None without a baseline)."""
    value, baseline = figure.get("value"), figure.get("baseline")
    if not value or not baseline:
        return None
    return value / baseline if figure.get("better", "higher") == "higher" else baseline / value


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def table(runs: list[dict[str, Any]]) -> str:
    """The figures of every run as a plain-text table (also fine in CI logs)."""
    header = ["benchmark", "figure", "value", "target", "baseline (same run)", "ratio", "result"]
    rows = []
    for run in runs:
        if not run["figures"]:
            verdict = "FAIL" if run["exit"] else "no figures"
            rows.append([run["script"], f"(no BENCH lines; exit {run['exit']})", "-", "-", "-", "-", verdict])
        for figure in run["figures"]:
            unit = figure.get("unit", "")
            sign = ">=" if figure.get("better", "higher") == "higher" else "<="
            target = "-" if figure.get("target") is None else f"{sign} {_number(figure['target'], unit)}"
            found = ratio(figure)
            rows.append([
                run["script"],
                figure.get("figure", "?"),
                _number(figure.get("value"), unit),
                target,
                _number(figure.get("baseline"), unit),
                "-" if found is None else f"{found:,.2f}x",
                "pass" if figure.get("passed") else "FAIL",
            ])
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names to run")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help="folder of the benchmarks")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON report")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    skip = {name for name in args.skip.split(",") if name}
    scripts = discover(args.dir, only, skip)
    if not scripts:
        print("no benchmark matches", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    runs = [run_script(path, args.timeout) for path in scripts]
    report = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "runs": runs,
        "figures": [
            {"script": run["script"], **figure, "ratio": ratio(figure)}
            for run in runs
            for figure in run["figures"]
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n" + table(runs))
    print(
        f"\nload average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} CPUs; the machine may be shared). Written to {args.output}."
    )
    failed = [run for run in runs if run["exit"] or not all(f.get("passed") for f in run["figures"])]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
