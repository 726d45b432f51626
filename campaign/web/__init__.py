"""The web app: FastAPI + Jinja2 server-rendered pages for hotline staff and managers, and webhooks."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `campaign` commands other than `serve` start without FastAPI.
    if name == "create_app":
        from campaign.web.app import create_app

        return create_app
    raise AttributeError(name)
