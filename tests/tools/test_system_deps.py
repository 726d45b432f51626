"""`make test` installs the system packages its tests need, and only when one is missing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "tools" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run(tmp_path: Path, *, present: list[str], uid: int, sudo: bool = True) -> tuple[int, str, str]:
    """Runs the script with only `present` commands on PATH, apt-get/sudo recording their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in present:
        _stub(bin_dir, name, "exit 0")
    _stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}')
    _stub(bin_dir, "id", f"echo {uid}")
    if sudo:
        _stub(bin_dir, "sudo", f'echo "sudo" >> {log}; exec "$@"')
    os.symlink(shutil.which("env") or "/usr/bin/env", bin_dir / "env")
    result = subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, log.read_text() if log.exists() else "", result.stderr


@pytest.fixture(autouse=True)
def _fonts_present() -> None:
    if not Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists():
        pytest.fail("fonts-dejavu-core is missing: `make test` runs tools/system-deps.sh first")


def test_nothing_missing_means_apt_is_not_touched(tmp_path):
    code, calls, _ = _run(tmp_path, present=["chromium", "pdftoppm"], uid=1000, sudo=False)
    assert (code, calls) == (0, "")


def test_as_root_a_missing_package_is_installed_without_sudo(tmp_path):
    code, calls, stderr = _run(tmp_path, present=["pdftoppm"], uid=0, sudo=False)
    assert code == 0, stderr
    lines = calls.splitlines()
    assert lines[0] == "apt-get update -qq"
    assert lines[1].startswith("apt-get install -y -qq") and lines[1].endswith(" chromium")
    assert "sudo" not in calls


def test_not_root_uses_sudo_and_installs_every_missing_package(tmp_path):
    code, calls, stderr = _run(tmp_path, present=[], uid=1000)
    assert code == 0, stderr
    assert calls.splitlines()[0] == "sudo"
    assert calls.splitlines()[-1].endswith(" chromium poppler-utils")


def test_not_root_without_sudo_says_what_to_install(tmp_path):
    code, calls, stderr = _run(tmp_path, present=["chromium"], uid=1000, sudo=False)
    assert code == 1 and calls == ""
    assert "poppler-utils" in stderr


def test_make_test_runs_it_before_the_suite():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.strip().splitlines()[1].strip() == "tools/system-deps.sh"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
