"""The README stays useful: its quick start and configuration table match the code."""

from __future__ import annotations

import re

from campaign.core.config import Settings
from tests.conftest import ROOT


def test_readme_configuration_table_lists_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CAMPAIGN_[A-Z_]+)` \|", readme, flags=re.MULTILINE))
    expected = {f"CAMPAIGN_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected, (
        f"missing from README: {sorted(expected - documented)}; "
        f"documented but not settings: {sorted(documented - expected)}"
    )


def test_every_setting_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_quick_start_is_two_make_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
