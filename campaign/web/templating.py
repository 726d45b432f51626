"""Jinja2 templates of the web app (autoescape on) and the filters they use."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from campaign.core.i18n import install_jinja
from campaign.hotline.inbox import mask_phone
from campaign.hotline.labels import label
from campaign.hotline.media import media_kind, media_note
from campaign.web.auth import CSRF_FIELD, csrf_token

TEMPLATES_DIR = Path(__file__).with_name("templates")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", *, zone: ZoneInfo) -> str:
    """A UTC datetime shown in the deployment's timezone (where the hotline works)."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime(fmt)


def use_timezone(name: str) -> None:
    """Makes the `local` filter show times in `name` (CAMPAIGN_TIMEZONE; set by create_app)."""
    zone = ZoneInfo(name)
    templates.env.filters["local"] = partial(local_time, zone=zone)


def _csrf_input(request: Request) -> str:
    from markupsafe import Markup, escape

    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token(request))}">')


def make_templates() -> Jinja2Templates:
    """Templates with autoescape on for every .html file, plus `csrf_input(request)` and filters."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True  # every template, whatever its extension: inbound bodies are untrusted
    install_jinja(env)  # {{ _("...") }} in the request's locale
    env.globals["csrf_input"] = _csrf_input
    env.globals["csrf_token"] = csrf_token
    env.filters["local"] = partial(local_time, zone=ZoneInfo("America/Guatemala"))
    env.filters["mask"] = mask_phone
    env.filters["media_kind"] = media_kind  # voice notes and images on the case page
    env.filters["media_note"] = media_note
    env.filters["label"] = label  # stored codes (statuses, priorities, outcomes) in the request's locale
    env.globals["role_label"] = label
    return templates


templates = make_templates()
