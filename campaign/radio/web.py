"""The radio page of the web app: spots and stations per campaign, downloads, and recordings.

The web app includes `router` when this module exists (campaign/web/app.py). Roles: producer,
manager, admin (campaign.web.auth.RADIO_ROLES). Downloads are GETs (no state change besides the
audit record), built in a temporary folder and streamed back. Recordings are uploaded here
(`campaign.radio.recordings.add_recording`, the CLI's `radio audio add`), listed with their length
against the slot and their loudness, and played from `/radio/recordings/{id}/audio`: the voice
note, for logged-in staff of these roles only (the public, signed route is campaign/web/media.py).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from campaign.blasts.models import Campaign, Step
from campaign.core.audit import record_audit
from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.core.languages import default_registry
from campaign.hotline.models import User
from campaign.radio.exports.service import FORMATS, export_radio
from campaign.radio.models import Airing
from campaign.radio.recordings import (
    MAX_BYTES,
    add_recording,
    get_recording,
    length_words,
    list_recordings,
    loudness_words,
    recording_dict,
    remove_recording,
    remove_unreferenced,
    voice_file,
)
from campaign.radio.stations import list_stations, station_dict
from campaign.web.auth import RADIO_ROLES, require_role
from campaign.web.routes_inbox import flash, pop_flash
from campaign.web.security import FORM_SLACK_BYTES
from campaign.web.templating import make_templates
from messages.library import approved_translations
from messages.models import Message

router = APIRouter()
RecordingId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
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


def _spots(session: Session) -> list[dict[str, Any]]:
    """Every radio spot of the library with its slot and its recordings (for the recordings table)."""
    spots = session.scalars(select(Message).order_by(Message.slug))
    recorded: dict[str, list[dict[str, Any]]] = {}
    for recording, spot in list_recordings(session):
        data = recording_dict(recording, spot)
        data.update(length=length_words(data), loudness=loudness_words(data))
        recorded.setdefault(spot.slug, []).append(data)
    return [
        {"slug": m.slug, "title": m.title, "slot": m.slot_seconds, "recordings": recorded.get(m.slug, [])}
        for m in spots
        if "radio" in (m.channels or []) and m.slot_seconds
    ]


def _page(request: Request, user: User, *, error: str | None = None, status_code: int = 200) -> Response:
    with unit_of_work(request.app.state.web.engine) as session:
        campaigns = _radio_campaigns(session)
        stations = [station_dict(s) for s in list_stations(session)]
        spots = _spots(session)
    registry = default_registry()
    languages = [(code, registry.get(code).native_name or code) for code in registry.codes()]
    context = {"user": user, "campaigns": campaigns, "stations": stations, "formats": FORMATS, "spots": spots,
               "languages": languages, "error": error, "flashes": pop_flash(request),
               "max_mb": MAX_BYTES >> 20}
    return templates.TemplateResponse(request, "radio.html", context, status_code=status_code)


@router.get("/radio")
def radio_page(request: Request, *, user: Annotated[User, Depends(producer)]) -> Response:
    return _page(request, user)


# 413 before anything reads the form (the CSRF check would spool it to disk): web.security.RefuseLarge
@router.post("/radio/recordings", max_body_size=MAX_BYTES + FORM_SLACK_BYTES)
async def upload_recording(request: Request, *, user: Annotated[User, Depends(producer)]) -> Response:
    """Checks and stores an uploaded recording (as `campaign radio audio add`); back to the page."""
    form = await request.form()
    sent, spot, language = form.get("file"), str(form.get("spot") or ""), str(form.get("lang") or "")
    if not isinstance(sent, UploadFile) or not sent.filename:
        return _page(request, user, error=_("choose an audio file to upload"), status_code=422)
    if any("\x00" in value or len(value) > 80 for value in (spot, language)):  # binary form: see RefuseNul
        return _page(request, user, error=_("choose a spot and a language from the lists"), status_code=422)
    web = request.app.state.web
    name = Path(sent.filename).name[:200]

    def store() -> tuple[dict[str, Any], list[str]]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload"
            with path.open("wb") as handle:  # the form's spooled file, copied once and size-checked
                while chunk := sent.file.read(1 << 20):
                    handle.write(chunk)
                    if handle.tell() > MAX_BYTES:
                        raise Invalid(name, _("is larger than %(max)d MB", max=MAX_BYTES >> 20))
            with unit_of_work(web.engine) as session:
                result = add_recording(session, spot=spot, language=language, source=path,
                                       root=web.settings.media_dir, now=utcnow(), uploaded_by=user.username,
                                       name=name)
                data = recording_dict(result.recording, result.recording_spot(session))
                data.update(status=result.status, calibrated=result.calibrated,
                            not_calibrated=result.not_calibrated)
                if result.status != "unchanged":
                    record_audit(session, actor=user.username, user_id=user.id,
                                 action="recording_" + result.status, now=utcnow(),
                                 detail={"spot": data["spot"], "language": data["language"],
                                         "sha256": data["sha256"]})
        return data, result.stale

    try:
        data, stale = await run_in_threadpool(store)
    except AppError as exc:
        return _page(request, user, error=exc.message, status_code=exc.http_status)
    if stale:
        with unit_of_work(web.engine) as session:
            remove_unreferenced(session, web.settings.media_dir, stale)
    words = {"added": _("Recording stored"), "replaced": _("Recording replaced"),
             "unchanged": _("Same recording already stored, nothing changed")}
    flash(request, _("%(what)s: %(spot)s (%(lang)s), %(length)s, %(loudness)s.", what=words[data["status"]],
                     spot=data["spot"], lang=data["language"], length=length_words(data),
                     loudness=loudness_words(data)))
    if data["status"] != "unchanged":
        if data["calibrated"] is not None:
            rate = f"{data['calibrated']:.2f}"
            flash(request, _("%(lang)s read time calibrated: %(rate)s syllables/s (used from now on).",
                             lang=data["language"], rate=rate))
        else:
            flash(request, _("Not used to calibrate: %(reason)s.", reason=data["not_calibrated"]))
    return RedirectResponse("/radio#recordings", status_code=303)


@router.get("/radio/recordings/{recording_id}/audio")
def recording_audio(
    request: Request, recording_id: RecordingId, *, user: Annotated[User, Depends(producer)]
) -> Response:
    """The recording's OGG/Opus voice note, for the page's player (staff only)."""
    web = request.app.state.web
    with unit_of_work(web.engine) as session:
        path = voice_file(web.settings.media_dir, get_recording(session, recording_id))
    if not path.is_file():
        raise Invalid("recording", _("its file is missing from the media folder"))
    return FileResponse(path, media_type="audio/ogg")


@router.post("/radio/recordings/{recording_id}/remove")
def remove_recording_page(
    request: Request, recording_id: RecordingId, *, user: Annotated[User, Depends(producer)]
) -> Response:
    """Removes a recording (as `campaign radio audio remove`); back to the page."""
    web = request.app.state.web
    with unit_of_work(web.engine) as session:
        recording = get_recording(session, recording_id)
        spot = session.get(Message, recording.message_id)
        assert spot is not None  # foreign key
        slug, language = spot.slug, recording.language
        paths = remove_recording(session, spot=slug, language=language)
        record_audit(session, actor=user.username, user_id=user.id, action="recording_removed", now=utcnow(),
                     detail={"spot": slug, "language": language})
    with unit_of_work(web.engine) as session:
        remove_unreferenced(session, web.settings.media_dir, paths)
    flash(request, _("Recording of %(spot)s (%(lang)s) removed.", spot=slug, lang=language))
    return RedirectResponse("/radio#recordings", status_code=303)


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
        raise Invalid(
            "format", _("%(value)r is not one of %(allowed)s", value=fmt, allowed=", ".join(FORMATS))
        )
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
