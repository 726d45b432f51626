"""The layering holds: core is a leaf, audiences/messages use only campaign.core, no domain imports web."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PROJECT = ("campaign", "audiences", "messages")


def imports_of(path: Path) -> set[str]:
    """Every project module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PROJECT}


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def offenders(package: str, allowed) -> list[str]:
    out = []
    for path in files(package):
        for name in sorted(imports_of(path)):
            if not allowed(name):
                out.append(f"{path.relative_to(ROOT)} imports {name}")
    return out


def test_core_imports_nothing_else_of_the_project():
    assert offenders("campaign/core", lambda name: name.startswith("campaign.core")) == []


def test_audiences_and_messages_use_only_campaign_core_from_campaign():
    def allowed(name: str) -> bool:
        return not name.startswith("campaign") or name.startswith("campaign.core")

    assert offenders("audiences", allowed) == []
    assert offenders("messages", allowed) == []


def test_audiences_and_messages_do_not_know_each_other():
    assert offenders("audiences", lambda name: not name.startswith("messages")) == []
    assert offenders("messages", lambda name: not name.startswith("audiences")) == []


def test_no_domain_package_imports_the_web_layer():
    def allowed(name: str) -> bool:
        return not name.startswith("campaign.web")

    for package in (
        "campaign/core",
        "campaign/blasts",
        "campaign/hotline",
        "campaign/providers",
        "audiences",
        "messages",
    ):
        assert offenders(package, allowed) == [], package
    radio_domain = [p for p in files("campaign/radio") if p.name != "web.py"]
    assert [f"{p} imports {n}" for p in radio_domain for n in imports_of(p) if not allowed(n)] == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from campaign.web import app\n    import messages.encoding\n")
    assert {"campaign.web", "campaign.web.app", "messages.encoding"} <= imports_of(sample)
