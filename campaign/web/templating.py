"""Jinja2 templates of the web app (autoescape on) and the filters they use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from campaign.inbox import mask_phone
from campaign.web.auth import CSRF_FIELD, csrf_token

TEMPLATES_DIR = Path(__file__).with_name("templates")
LOCAL_ZONE = ZoneInfo("America/Guatemala")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime shown in Guatemala time (where the hotline works)."""
    if value is None:
        return ""
    return value.astimezone(LOCAL_ZONE).strftime(fmt)


def _csrf_input(request: Request) -> str:
    from markupsafe import Markup, escape

    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token(request))}">')


def make_templates() -> Jinja2Templates:
    """Templates with autoescape on for every .html file, plus `csrf_input(request)` and filters."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True  # every template, whatever its extension: inbound bodies are untrusted
    env.globals["csrf_input"] = _csrf_input
    env.globals["csrf_token"] = csrf_token
    env.filters["local"] = local_time
    env.filters["mask"] = mask_phone
    return templates


templates = make_templates()
