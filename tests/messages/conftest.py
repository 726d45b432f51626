"""Helpers for message tests: small synthetic packs written into tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


def message(slug: str, body: str = "{{ organizacion }}: hola. Resp BAJA para salir", **over: Any) -> dict:
    data: dict[str, Any] = {
        "slug": slug,
        "topic": "test.topic",
        "channels": ["sms"],
        "title": f"Título {slug}",
        "audiences": ["border_youth"],
        "variables": ["organizacion"],
        "safety_flags": [],
        "segment_budget": 1,
        "translations": {"es": {"status": "approved", "body": body}},
    }
    data.update(over)
    return data


@pytest.fixture
def write_pack(tmp_path: Path):
    """write_pack(name, [message dicts], keywords=None) -> the pack folder."""

    def write(name: str, messages: list[dict], keywords: dict | None = None) -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        for data in messages:
            data = dict(data)
            stem = data.pop("_file", data["slug"])
            (folder / f"{stem}.yaml").write_text(
                yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
        if keywords is not None:
            (folder / "_keywords.yaml").write_text(yaml.safe_dump(keywords, allow_unicode=True),
                                                   encoding="utf-8")
        return folder

    return write
