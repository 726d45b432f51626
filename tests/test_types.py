"""The packages type-check clean (mypy, configured in pyproject.toml), so every run of the suite says so.

`make test` runs mypy too; this test makes a type error fail `pytest` alone, where most work is
checked while it is being written.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_mypy_finds_no_type_errors_in_the_packages():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if "No module named mypy" in result.stderr:
        raise AssertionError("mypy is not installed: re-run `make .venv/.installed` (pyproject's dev extras)")
    assert result.returncode == 0, result.stdout + result.stderr
