"""Voice notes and images sent by contacts: read from the webhook, downloaded later, shown to staff.

1. The inbound webhook (campaign/hotline/webhooks.py) reads Twilio's `NumMedia`, `MediaUrl{N}`,
   `MediaContentType{N}` (`read_media_params`, pure); `record_media` stores one pending row per item
   with the inbound message, in its transaction. Nothing is downloaded during the webhook: it must
   answer fast.
2. The scheduler tick (`fetch_due_media`), and the case page when staff open it
   (`fetch_media_now`), download pending media through the provider (`Provider.fetch_media`:
   credentials, strict URL, size and type limits), outside any transaction. A row is claimed by a
   compare-and-set on its attempts (two schedulers never download it twice at once). The content
   is written encrypted (campaign/hotline/media_files.py), then the row is marked fetched with its
   type, size and SHA-256. A failure that may pass (network, 5xx, 429, credentials) is retried
   after 1, 2, 4 ... minutes, MAX_ATTEMPTS in all; a refusal (URL, type, size, 404) or the last
   attempt marks it failed. The error is kept (code and a short reason, no content) for the case page.
3. `media_content` returns a fetched file for the case it belongs to (the web route audits each
   view); `purge_media` (retention, erasure) deletes files and marks rows purged.
Time is injected: `now` is aware UTC.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaign.core.config import Settings
from campaign.core.db import rowcount, unit_of_work
from campaign.core.errors import Invalid, NotFound, ProviderError, safe_reason
from campaign.core.i18n import _
from campaign.hotline import media_files
from campaign.hotline.models import Case, Inbound, InboundMedia, MediaStatus

log = logging.getLogger(__name__)

MAX_MEDIA = 10  # Twilio sends at most 10 media per message
URL_LIMIT = 1000
TYPE_LIMIT = 100
MAX_ATTEMPTS = 6  # downloads tried over about an hour (1, 2, 4, 8, 16 minutes apart)
FIRST_RETRY = timedelta(minutes=1)
FETCH_PER_TICK = 20
FETCH_ON_OPEN = 5  # pending media of a case downloaded when staff open it
_MEDIA = InboundMedia.__table__
Writer = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class MediaItem:
    """One media item of an inbound webhook: its index N, URL and declared content type."""

    position: int
    url: str
    content_type: str


def _clean(params: Mapping[str, str], name: str, limit: int, *, required: bool) -> str:
    value = params.get(name) or ""
    if required and not value.strip():
        raise Invalid(name, _("required form field is missing"))
    if len(value) > limit:
        raise Invalid(name, _("longer than %(max)d characters", max=limit))
    if any(ord(c) <= 32 or ord(c) == 127 for c in value):
        raise Invalid(name, _("contains a space or a control character"))
    return value


def read_media_params(params: Mapping[str, str]) -> tuple[MediaItem, ...]:
    """The media items of an inbound webhook's form (none when NumMedia is absent or 0). Pure.
    Raises Invalid naming the field for a NumMedia that is not 0-10, a missing MediaUrl{N}, or a
    value too long or with a control character."""
    raw = (params.get("NumMedia") or "0").strip()
    if not raw.isdigit() or int(raw) > MAX_MEDIA:
        raise Invalid("NumMedia", _("not a number of media from 0 to %(max)d", max=MAX_MEDIA))
    return tuple(
        MediaItem(
            i,
            _clean(params, f"MediaUrl{i}", URL_LIMIT, required=True),
            _clean(params, f"MediaContentType{i}", TYPE_LIMIT, required=False).lower(),
        )
        for i in range(int(raw))
    )


def media_kind(content_type: str | None) -> str | None:
    """"audio" or "image" for a type staff may hear or see (providers.base.MEDIA_TYPES), else None."""
    from campaign.providers.base import media_allowed, media_type

    if not media_allowed(content_type):
        return None
    return media_type(content_type).split("/", 1)[0]


def media_cues(items: Iterable[MediaItem]) -> list[str]:
    """Triage cues for the case page: why a message with media went to a person."""
    return list(dict.fromkeys(f"media:{media_kind(i.content_type) or 'other'}" for i in items))


def record_media(session: Session, *, inbound_id: int, items: Sequence[MediaItem], now: datetime) -> None:
    """Stores one pending row per media item of the inbound message. Flushes one INSERT."""
    if not items:
        return
    session.execute(
        insert(_MEDIA),
        [
            {
                "inbound_id": inbound_id, "position": i.position, "url": i.url,
                "declared_type": i.content_type,
                "status": MediaStatus.PENDING, "attempts": 0, "next_attempt_at": now, "received_at": now,
            }
            for i in items
        ],
    )


# --- downloading ---------------------------------------------------------------------------------


@dataclass
class MediaFetchResult:
    """What one download round did: fetched, left pending for a retry, failed for good."""

    fetched: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _due(now: datetime) -> Any:
    return (_MEDIA.c.status == MediaStatus.PENDING) & (
        or_(_MEDIA.c.next_attempt_at.is_(None), _MEDIA.c.next_attempt_at <= now)
    )


def due_media_ids(session: Session, *, now: datetime, limit: int, case_id: int | None = None) -> list[int]:
    """Pending media whose (next) download is due, oldest first; only the case's contact's when
    `case_id` is given."""
    query = select(_MEDIA.c.id).where(_due(now)).order_by(_MEDIA.c.received_at, _MEDIA.c.id).limit(limit)
    if case_id is not None:
        contact = select(Case.contact_id).where(Case.id == case_id).scalar_subquery()
        query = query.join(Inbound, Inbound.id == _MEDIA.c.inbound_id).where(Inbound.contact_id == contact)
    return list(session.scalars(query))


def _claim(write: Writer, media_id: int, *, now: datetime) -> tuple[str, int] | str | None:
    """Takes one due download: attempts + 1 and the next attempt set, if nobody took it first.
    Returns (url, attempt number), or None. A declared type we never show is failed at once
    (returns "failed"): it is never requested."""
    from campaign.providers.base import media_allowed

    with write() as session:
        row = session.execute(
            select(_MEDIA.c.url, _MEDIA.c.declared_type, _MEDIA.c.attempts).where(
                _MEDIA.c.id == media_id, _due(now)
            )
        ).first()
        if row is None:
            return None
        if row.declared_type and not media_allowed(row.declared_type):
            _settle(session, media_id, failed=True, error=f"type: {row.declared_type[:60]}", now=now)
            return "failed"
        attempt = row.attempts + 1
        claimed = session.execute(
            update(_MEDIA)
            .where(_MEDIA.c.id == media_id, _MEDIA.c.attempts == row.attempts, _due(now))
            .values(attempts=attempt, next_attempt_at=now + FIRST_RETRY * 2 ** (attempt - 1))
        )
        return (row.url, attempt) if rowcount(claimed) else None


def _settle(session: Session, media_id: int, *, failed: bool, error: str, now: datetime) -> None:
    values: dict[str, Any] = {"error": error[:200]}
    if failed:
        values.update(status=MediaStatus.FAILED, next_attempt_at=None)
    session.execute(
        update(_MEDIA).where(_MEDIA.c.id == media_id, _MEDIA.c.status == MediaStatus.PENDING).values(values)
    )


def fetch_one(
    engine: Engine, provider: Any, media_id: int, *, now: datetime, settings: Settings,
    write: Writer | None = None,
) -> str | None:
    """Downloads one due media (see the module docstring); returns "fetched", "retrying",
    "failed", or None when it was not due or someone else took it. Never raises for a provider
    failure (it is recorded on the row). `write` opens a writing unit of work (default: one on
    `engine`; the web app passes its own, serialized on SQLite)."""
    write = write or partial(unit_of_work, engine)
    claimed = _claim(write, media_id, now=now)
    if claimed is None or isinstance(claimed, str):
        return claimed
    url, attempt = claimed
    try:
        content_type, content = provider.fetch_media(url)
    except ProviderError as exc:
        failed = not exc.retryable or attempt >= MAX_ATTEMPTS
        error = f"{exc.code}: {safe_reason(exc)}"
        log.warning("media %s: download %s failed (%s)", media_id, attempt, error)
        with write() as session:
            _settle(session, media_id, failed=failed, error=error, now=now)
        return "failed" if failed else "retrying"
    media_files.write_media(settings, media_id, content)
    with write() as session:
        stored = session.execute(
            update(_MEDIA)
            .where(_MEDIA.c.id == media_id, _MEDIA.c.status == MediaStatus.PENDING)
            .values(
                status=MediaStatus.FETCHED, content_type=content_type, size=len(content),
                sha256=hashlib.sha256(content).hexdigest(), fetched_at=now, next_attempt_at=None, error=None,
            )
        )
    if not rowcount(stored):  # purged or erased while it downloaded: the file goes too
        media_files.remove_media(settings, [media_id])
        return None
    return "fetched"


def fetch_media_now(
    engine: Engine, provider: Any, media_ids: Iterable[int], *, now: datetime, settings: Settings,
    write: Writer | None = None, stop_on_failure: bool = False,
) -> MediaFetchResult:
    """Downloads these media (each claimed first; those not due are left alone). With
    `stop_on_failure` (the case page, which a person waits for), the first download that fails in
    a way worth retrying ends the round: a provider that is down costs one timeout, not one per file."""
    result = MediaFetchResult()
    for media_id in media_ids:
        outcome = fetch_one(engine, provider, media_id, now=now, settings=settings, write=write)
        if outcome is not None:
            setattr(result, outcome, getattr(result, outcome) + 1)
        if stop_on_failure and outcome == "retrying":  # refusals (URL, type, size) cost no wait
            break
    return result


def fetch_due_media(
    engine: Engine, provider: Any, *, now: datetime, settings: Settings, limit: int = FETCH_PER_TICK
) -> MediaFetchResult:
    """The scheduler's stage: downloads up to `limit` due media, oldest first."""
    if getattr(provider, "fetch_media", None) is None:
        return MediaFetchResult()
    with unit_of_work(engine) as session:
        ids = due_media_ids(session, now=now, limit=limit)
    return fetch_media_now(engine, provider, ids, now=now, settings=settings)


# --- showing and removing ----------------------------------------------------------------------


def media_of(session: Session, inbound_ids: Iterable[int]) -> dict[int, list[InboundMedia]]:
    """The media rows of these inbound messages, by inbound id, in their order."""
    ids = list(inbound_ids)
    found: dict[int, list[InboundMedia]] = {}
    if not ids:
        return found
    rows = session.scalars(
        select(InboundMedia).where(InboundMedia.inbound_id.in_(ids)).order_by(InboundMedia.position)
    )
    for row in rows:
        found.setdefault(row.inbound_id, []).append(row)
    return found


def media_content(session: Session, *, case_id: int, media_id: int, settings: Settings) -> tuple[str, bytes]:
    """(content type, bytes) of a fetched media of the contact of case `case_id`. Raises NotFound
    when the media is not that contact's, not fetched (pending, failed, purged) or its file is gone."""
    row = session.execute(
        select(InboundMedia.content_type, InboundMedia.status)
        .join(Inbound, Inbound.id == InboundMedia.inbound_id)
        .join(Case, Case.contact_id == Inbound.contact_id)
        .where(InboundMedia.id == media_id, Case.id == case_id)
    ).first()
    if row is None or row.status != MediaStatus.FETCHED or not row.content_type:
        raise NotFound(_("no such file on case %(case)d", case=case_id))
    content = media_files.read_media(settings, media_id)
    if content is None:
        raise NotFound(_("this file is no longer kept"))
    return row.content_type, content


# Voice notes of an allowed type (providers.base.MEDIA_TYPES) that browsers do not play -> the ffmpeg
# demuxer that reads them: a feature phone's MMS voice note is AMR.
UNPLAYABLE_AUDIO = {"audio/amr": "amr"}


def playable(content_type: str, content: bytes) -> tuple[str, bytes]:
    """(content type, bytes) a browser's player plays: an AMR voice note as OGG/Opus (in memory),
    anything else as it is. A note that cannot be decoded is given as it came (it can still be
    downloaded and played elsewhere)."""
    from campaign.providers.base import media_type

    demuxer = UNPLAYABLE_AUDIO.get(media_type(content_type))
    if demuxer is None:
        return content_type, content
    from campaign.radio.audio import voice_note_bytes

    try:
        return "audio/ogg", voice_note_bytes(content, demuxer=demuxer, name="voice note")
    except Invalid:
        return content_type, content


def purge_media(session: Session, media_ids: Sequence[int], *, settings: Settings, now: datetime) -> int:
    """Deletes the files of these media and marks their rows purged; returns how many rows were
    not purged before. Flushes. The files go at once: a rolled-back purge leaves rows that say
    fetched with no file, which the case page shows as no longer kept (never the other way)."""
    ids = list(media_ids)
    changed = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        changed += rowcount(
            session.execute(
                update(_MEDIA)
                .where(_MEDIA.c.id.in_(chunk), _MEDIA.c.status != MediaStatus.PURGED)
                .values(status=MediaStatus.PURGED, purged_at=now, next_attempt_at=None)
            )
        )
        media_files.remove_media(settings, chunk)
    return changed


def media_note(row: InboundMedia) -> str:
    """What the case page says instead of a player or an image, in the current locale."""
    code, _sep, _reason = (row.error or "").partition(":")
    if row.status == MediaStatus.PURGED:
        return _("File deleted by the retention rules.")
    if row.status == MediaStatus.FETCHED:
        return _("A file of type %(type)s: not shown.", type=row.content_type or "?")
    if code == "type":
        return _(
            "The contact sent a file of type %(type)s: it is not downloaded or shown. "
            "Ask them to describe it.",
            type=row.declared_type or "?",
        )
    if code == "size":
        return _("The file is larger than allowed: it was not downloaded.")
    if code == "url":
        return _("The file's address is not the provider's: it was not downloaded.")
    words = {
        "network": _("no connection to the provider"),
        "401": _("the provider refused our credentials"),
        "403": _("the provider refused our credentials"),
        "404": _("the provider no longer has it"),
    }
    why = words.get(code, _("error %(code)s", code=code)) if code else ""
    if row.status == MediaStatus.FAILED:
        return _("The file could not be downloaded (%(why)s).", why=why)
    if row.error:
        return _("Download failed (%(why)s); it will be tried again.", why=why)
    return _("Downloading the file: reload the page in a moment.")
