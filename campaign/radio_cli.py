"""CLI commands of this area, registered on the root app by campaign/cli.py."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the root `campaign` app."""
