"""The radio page of the web app: spots and stations per campaign, with downloads for producers.

The web app includes `router` when this module exists (campaign/web/app.py). Roles: producer,
manager, admin (campaign.web.auth.RADIO_ROLES). Downloads are GETs (no state change besides the
audit record), built in a temporary folder and streamed back.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.blasts.models import Campaign, Step
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import Invalid
from campaign.hotline.models import User
from campaign.radio.exports.service import FORMATS, export_radio
from campaign.radio.models import Airing
from campaign.radio.stations import list_stations, station_dict
from campaign.web.auth import RADIO_ROLES, require_role
from campaign.web.templating import make_templates
from messages.library import approved_translations
from messages.models import Message

router = APIRouter()
producer = require_role(*RADIO_ROLES)
templates = make_templates()
templates.env.loader = ChoiceLoader(
    [FileSystemLoader(str(Path(__file__).with_name("templates"))), templates.env.loader]  # type: ignore[list-item]
)
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _radio_campaigns(session: Session) -> list[dict[str, Any]]:
    """Campaigns with radio steps: their spots (approved languages) and how many airings are planned."""
    query = select(Step).where(Step.channel == "radio").order_by(Step.campaign_id, Step.position)
    steps = list(session.scalars(query))
    approved = approved_translations(session, [s.message_id for s in steps])
    per_step = select(Airing.step_id, func.count()).group_by(Airing.step_id)
    counts: dict[int, int] = {step_id: n for step_id, n in session.execute(per_step)}
    out: dict[int, dict[str, Any]] = {}
    for step in steps:
        campaign = session.get(Campaign, step.campaign_id)
        message = session.get(Message, step.message_id)
        assert campaign is not None and message is not None  # foreign keys
        entry = out.setdefault(
            campaign.id, {"slug": campaign.slug, "name": campaign.name, "spots": [], "airings": 0}
        )
        entry["spots"].append(
            {
                "step": step.key,
                "spot": message.slug,
                "title": message.title,
                "slot": message.slot_seconds,
                "languages": sorted(lang for (mid, lang) in approved if mid == step.message_id),
            }
        )
        entry["airings"] += counts.get(step.id, 0)
    return list(out.values())


@router.get("/radio")
def radio_page(request: Request, *, user: Annotated[User, Depends(producer)]) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        campaigns = _radio_campaigns(session)
        stations = [station_dict(s) for s in list_stations(session)]
    return templates.TemplateResponse(
        request,
        "radio.html",
        {"user": user, "campaigns": campaigns, "stations": stations, "formats": FORMATS},
    )


@router.get("/radio/{campaign}/export.{fmt}")
def radio_download(
    request: Request,
    campaign: str,
    fmt: str,
    *,
    station: str = "",
    lang: str = "",
    page_size: str = "a4",
    user: Annotated[User, Depends(producer)],
) -> Response:
    if fmt not in FORMATS:
        raise Invalid("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory() as folder, unit_of_work(request.app.state.web.engine) as session:
        paths = export_radio(session, campaign, fmt=fmt, out_dir=Path(folder), station=station or None,
                             language=lang or None, page_size=page_size)
        record_audit(session, actor=user.username, user_id=user.id, action="radio_export", now=utcnow(),
                     detail={"campaign": campaign, "format": fmt, "station": station or None,
                             "language": lang or None})
        media_type = MEDIA_TYPES[fmt]
        if len(paths) == 1 and fmt != "txt":
            name, content = paths[0].name, paths[0].read_bytes()
        else:  # TXT per spot, or one PDF pack per station: a zip of them
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths:
                    archive.write(path, path.name)
            name, content, media_type = f"{campaign}-radio-{fmt}.zip", buffer.getvalue(), "application/zip"
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
