"""The one public file route: `GET /media/...`, a recording's voice note at a signed, expiring URL.

The provider (Twilio) fetches WhatsApp media from CAMPAIGN_PUBLIC_URL without a session, so this
route needs no login; it answers only a path `campaign.core.media_urls.verify_media_url` accepts
now: 403 for anything malformed or tampered with, 410 once expired, 404 for a recording removed
since. The file is the recording's voice note under CAMPAIGN_MEDIA_DIR, found by its id in the
database (never by a name in the URL), sent as audio/ogg.

`signed_media_url` and `verify_media_url` are re-exported here (they live in campaign.core so that
the sending code, a domain package, can sign without importing the web layer).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from campaign.core.db import unit_of_work, utcnow
from campaign.core.errors import NotFound
from campaign.core.i18n import _
from campaign.core.media_urls import MEDIA_URL_TTL, MediaUrlRefused, signed_media_url, verify_media_url
from campaign.radio.recordings import get_recording, voice_file

__all__ = ["MEDIA_URL_TTL", "MediaUrlRefused", "router", "signed_media_url", "verify_media_url"]

router = APIRouter()


@router.get("/media/{rest:path}")
def signed_media(request: Request, rest: str) -> Response:
    settings = request.app.state.web.settings
    try:
        recording_id = verify_media_url(request.url.path, utcnow(), settings=settings)
    except MediaUrlRefused as exc:
        return PlainTextResponse(exc.message, status_code=exc.http_status)
    with unit_of_work(request.app.state.web.engine) as session:
        try:
            path = voice_file(settings.media_dir, get_recording(session, recording_id))
        except NotFound:
            path = None
    if path is None or not path.is_file():
        return PlainTextResponse(_("this recording is no longer available"), status_code=404)
    return FileResponse(path, media_type="audio/ogg")
