"""Signed, expiring URLs of recordings' voice notes: what the provider (Twilio) fetches media from.

Contract (stable: the WhatsApp sender calls `signed_media_url` at send time, the fake Twilio server
of the tests calls `verify_media_url` on what it fetches):

    url = signed_media_url(settings.public_url, recording.id, expires_at=now + MEDIA_URL_TTL)
    # -> https://campaign.example.org/media/42/1796814000/<43 characters>.ogg

The URL names the recording's id and the expiry (Unix seconds, UTC) and carries an HMAC-SHA256 of
both under a key derived from CAMPAIGN_SECRET_KEY (`media_key`: a key of its own, so a media
signature can never be replayed as a session cookie or CSRF token, nor the other way round).
`GET /media/...` (campaign/web/media.py) serves the recording's OGG/Opus voice note only when
`verify_media_url` accepts its path at the time of the request; any other path under /media, a
changed id, expiry or signature, or a time past the expiry is refused. Nothing else is public:
the file served is found by the recording's id in the database, never by a name in the URL.

Leaf module (campaign.core only); pure apart from reading settings when none are given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from campaign.core.config import Settings, get_settings
from campaign.core.errors import AppError
from campaign.core.i18n import _

MEDIA_URL_TTL = timedelta(hours=2)  # long enough for the provider's fetch and its retries
MEDIA_PATH = re.compile(
    r"/media/(?P<id>[0-9]{1,12})/(?P<expires>[0-9]{1,12})/(?P<signature>[A-Za-z0-9_-]{43})\.ogg$"
)
_KEY_LABEL = b"campaign media url v1"


class MediaUrlRefused(AppError):
    """A media URL that is malformed, tampered with (403), or expired (410). `reason` says which:
    "malformed", "signature" or "expired"."""

    http_status = 403

    def __init__(self, reason: str) -> None:
        words = {"malformed": _("this is not a media address"),
                 "signature": _("this media address is not valid"),
                 "expired": _("this media address has expired")}
        super().__init__(words.get(reason, reason))
        self.reason = reason
        if reason == "expired":
            self.http_status = 410


def media_key(settings: Settings | None = None) -> bytes:
    """The key media URLs are signed with, derived from CAMPAIGN_SECRET_KEY."""
    secret = (settings or get_settings()).secret_key.get_secret_value().encode()
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, recording_id: int, expires: int) -> str:
    digest = hmac.new(key, f"{recording_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed_media_url(
    public_url: str, recording_id: int, *, expires_at: datetime, settings: Settings | None = None
) -> str:
    """The URL at which the provider may fetch recording `recording_id`'s OGG/Opus voice note until
    `expires_at` (an aware datetime; use now + MEDIA_URL_TTL), under `public_url`
    (CAMPAIGN_PUBLIC_URL). Signed with `media_key(settings)` (settings from the environment
    when not given). Raises ValueError for a naive `expires_at` or a non-positive id."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    if recording_id <= 0:
        raise ValueError("recording_id must be positive")
    expires = int(expires_at.timestamp())
    signature = _signature(media_key(settings), recording_id, expires)
    return f"{public_url.rstrip('/')}/media/{recording_id}/{expires}/{signature}.ogg"


def verify_media_url(url: str, now: datetime, *, settings: Settings | None = None) -> int:
    """The recording id of a media URL (or its path) signed by `signed_media_url`, if still valid at
    `now` (aware). Raises MediaUrlRefused: "malformed" (not a media URL), "signature" (any part
    changed, or signed under another key), "expired" (checked after the signature)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    match = MEDIA_PATH.search(path)
    if match is None:
        raise MediaUrlRefused("malformed")
    recording_id, expires = int(match["id"]), int(match["expires"])
    expected = _signature(media_key(settings), recording_id, expires)
    if not hmac.compare_digest(expected, match["signature"]):
        raise MediaUrlRefused("signature")
    if now.timestamp() >= expires:
        raise MediaUrlRefused("expired")
    return recording_id
