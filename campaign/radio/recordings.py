"""Recordings of radio spots per language: checked, stored by checksum, transcoded, calibrating.

One current recording per spot (a library message whose channels include radio) and language.
`add_recording` checks everything before it writes anything: the language is known, the spot is a
radio spot with a slot, the file is at most MAX_BYTES, is MP3, OGG, WAV or M4A by its content,
decodes, and lasts no longer than the slot (+ SLOT_TOLERANCE for codec padding). Then it stores
the original and, unless the upload already is one, its OGG/Opus voice note under
`<media_dir>/recordings/` (0600 files, 0700 folder, named by the SHA-256 of the upload), and:

- the same file again for the same spot and language changes nothing (idempotent);
- a different file replaces the current recording (the row is updated; the old files are deleted
  by `remove_unreferenced` once the change is committed, if no other recording uses them);
- its measured length calibrates the language's read-time estimate through
  `campaign.radio.calibration.calibrate` (the same mechanism as `campaign radio calibrate`), when
  the spot has a script in that language and the rate it implies is a plausible read
  (PLAUSIBLE_RATE); otherwise the result says why it did not calibrate.

Services take `session` keyword-only, flush, never commit; `now` is an aware UTC datetime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.core.errors import AppError, Invalid, NotFound
from campaign.core.i18n import _
from campaign.core.languages import default_registry
from campaign.radio.audio import SUFFIXES, AudioInfo, is_voice_note, probe, write_voice_note
from campaign.radio.calibration import calibrate, implied_rate
from campaign.radio.models import Recording
from messages.models import Message

MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's limit for an audio message
SLOT_TOLERANCE = 0.25  # seconds: encoders pad a few milliseconds (AAC priming, MP3 frames)
PLAUSIBLE_RATE = (2.0, 8.0)  # syllables per second of a real read; outside it the file is not a read
FOLDER = "recordings"


@dataclass(frozen=True)
class AddResult:
    """What `add_recording` did: `status` is "added", "replaced" or "unchanged"; `calibrated` the
    syllables per second now used for the language (None, with `not_calibrated` saying why)."""

    recording: Recording
    status: str
    calibrated: float | None = None
    not_calibrated: str | None = None
    stale: list[str] = field(default_factory=list)

    def recording_spot(self, session: Session) -> Message:
        spot = session.get(Message, self.recording.message_id)
        assert spot is not None  # foreign key
        return spot


def recording_dict(recording: Recording, spot: Message) -> dict[str, Any]:
    """A recording as plain data (the CLI's --json, the radio page)."""
    return {
        "id": recording.id,
        "spot": spot.slug,
        "title": spot.title,
        "language": recording.language,
        "seconds": recording.seconds,
        "slot_seconds": spot.slot_seconds,
        "lufs": recording.lufs,
        "peak_dbfs": recording.peak_dbfs,
        "rms_dbfs": recording.rms_dbfs,
        "format": recording.original_format,
        "codec": recording.codec,
        "size_bytes": recording.size_bytes,
        "sha256": recording.sha256,
        "voice_note": recording.voice_path,
        "uploaded_by": recording.uploaded_by,
        "created_at": recording.created_at.isoformat() if recording.created_at else None,
    }


def loudness_words(data: dict[str, Any]) -> str:
    """"-16.0 LUFS integrated, peak -1.2 dBFS" (or RMS when the file is too quiet for LUFS)."""
    peak, rms = f"{data['peak_dbfs']:.1f}", f"{data['rms_dbfs']:.1f}"
    if data["lufs"] is None:
        return _("RMS %(rms)s dBFS, peak %(peak)s dBFS", rms=rms, peak=peak)
    lufs = f"{data['lufs']:.1f}"
    return _("%(lufs)s LUFS integrated, peak %(peak)s dBFS", lufs=lufs, peak=peak)


def length_words(data: dict[str, Any]) -> str:
    """"42.0 s of 45 s": a recording's length against its spot's slot."""
    seconds = f"{data['seconds']:.1f}"
    return _("%(seconds)s s of %(slot)d s", seconds=seconds, slot=data["slot_seconds"])


def radio_spot(session: Session, slug: str) -> Message:
    """The library message `slug`, which must be a radio spot with a slot length.

    Raises NotFound for an unknown slug, Invalid("spot", ...) for a message that is not a spot."""
    spot = session.scalars(select(Message).where(Message.slug == slug)).one_or_none()
    if spot is None:
        raise NotFound(_("spot %(spot)r not found in the message library", spot=slug))
    if "radio" not in (spot.channels or []):
        raise Invalid("spot", _("%(spot)r is not a radio spot (its channels: %(channels)s)", spot=slug,
                                channels=", ".join(spot.channels or []) or "-"))
    if not spot.slot_seconds:
        raise Invalid("spot", _("%(spot)r has no slot length (slot_seconds) to check a recording against",
                                spot=slug))
    return spot


def check_language(language: str) -> str:
    """The code of the language `language` names (code, name or alias); raises Invalid("--lang", ...)
    listing the known ones."""
    return default_registry().code_for(language, field="--lang")


def media_folder(root: Path) -> Path:
    """`<root>/recordings`, created with mode 0700 (and `root` too)."""
    folder = Path(root) / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    os.chmod(folder, 0o700)
    return folder


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(path: Path, name: str) -> int:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Invalid(name, _("cannot be read (%(reason)s)", reason=exc.strerror or exc)) from exc
    if size == 0:
        raise Invalid(name, _("is empty"))
    if size > MAX_BYTES:
        raise Invalid(name, _("is %(size).1f MB; a recording may have at most %(max)d MB",
                              size=size / 1e6, max=MAX_BYTES >> 20))
    return size


def check_recording(path: Path, spot: Message, language: str, *, name: str) -> AudioInfo:
    """Measures the file and checks it against the spot's slot; raises Invalid naming the file,
    the spot, the language, the measured and the allowed seconds when it is too long."""
    _check_file(path, name)
    info = probe(path, name=name)
    slot = float(spot.slot_seconds or 0)
    if info.seconds > slot + SLOT_TOLERANCE:
        raise Invalid(name, _("lasts %(measured).1f s, longer than the %(allowed)d s slot of spot %(spot)s "
                              "(%(lang)s): shorten it", measured=info.seconds, allowed=int(slot),
                              spot=spot.slug, lang=language))
    return info


def _store(source: Path, target: Path) -> None:
    """Copies `source` to `target` (0600) through a temporary file in the same folder."""
    if target.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    os.close(handle)
    try:
        os.chmod(temporary, 0o600)
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _store_voice_note(source: Path, target: Path, name: str) -> None:
    if target.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".voice-", suffix=".ogg")
    os.close(handle)
    try:
        os.chmod(temporary, 0o600)
        write_voice_note(source, Path(temporary), name=name)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _calibrate(session: Session, spot: Message, language: str, seconds: float, *, now: datetime,
               by: str | None) -> tuple[int | None, float | None, str | None]:
    """(calibration id, rate, why not) for a recording of `seconds`."""
    try:
        _syllables, rate = implied_rate(session, language=language, message_slug=spot.slug, seconds=seconds)
    except NotFound:
        return None, None, _("the spot has no %(lang)s script to calibrate against", lang=language)
    except AppError as exc:
        return None, None, exc.message
    low, high = PLAUSIBLE_RATE
    if not low <= rate <= high:
        return None, None, _("it implies %(rate).1f syllables/s, not a plausible read (%(low)g-%(high)g): "
                             "the estimate keeps its rate", rate=rate, low=low, high=high)
    record = calibrate(session, language=language, message_slug=spot.slug, seconds=seconds, now=now,
                       recorded_by=by)
    return record.id, record.syllables_per_second, None


def add_recording(
    session: Session,
    *,
    spot: str,
    language: str,
    source: Path,
    root: Path,
    now: datetime,
    uploaded_by: str | None = None,
    name: str | None = None,
) -> AddResult:
    """Checks `source` and makes it the recording of `spot` in `language` (flushed); `name` is how
    errors call the file (default: its name). Files go under `root` (CAMPAIGN_MEDIA_DIR).

    Raises NotFound (spot), Invalid (language, file, too long) before anything is written."""
    name = name or source.name
    language = check_language(language)
    message = radio_spot(session, spot)
    info = check_recording(source, message, language, name=name)
    checksum = sha256_of(source)
    current = recording_for(session, message_id=message.id, language=language)
    if current is not None and current.sha256 == checksum:
        return AddResult(current, "unchanged")
    folder = media_folder(root)
    original = f"{FOLDER}/{checksum}{SUFFIXES[info.format]}"
    _store(source, folder / Path(original).name)
    voice = original
    if not is_voice_note(info):
        voice = f"{FOLDER}/{checksum}.voice.ogg"
        _store_voice_note(source, folder / Path(voice).name, name)
    calibration_id, rate, why_not = _calibrate(session, message, language, info.seconds, now=now,
                                               by=uploaded_by)
    values = {
        "sha256": checksum, "original_format": info.format, "codec": info.codec,
        "size_bytes": source.stat().st_size, "seconds": info.seconds, "lufs": info.lufs,
        "peak_dbfs": info.peak_dbfs, "rms_dbfs": info.rms_dbfs, "original_path": original,
        "voice_path": voice, "calibration_id": calibration_id, "uploaded_by": uploaded_by, "created_at": now,
    }
    stale: list[str] = []
    if current is None:
        current = Recording(message_id=message.id, language=language, **values)
        session.add(current)
        status = "added"
    else:
        stale = sorted({current.original_path, current.voice_path} - {original, voice})
        for key, value in values.items():
            setattr(current, key, value)
        status = "replaced"
    session.flush()
    return AddResult(current, status, calibrated=rate, not_calibrated=why_not, stale=stale)


def list_recordings(session: Session, spot: str | None = None) -> list[tuple[Recording, Message]]:
    """Current recordings (of one spot, or all) with their spot, by spot slug and language.

    Raises NotFound / Invalid like `radio_spot` for a named spot."""
    query = select(Recording, Message).join(Message, Message.id == Recording.message_id)
    if spot is not None:
        query = query.where(Recording.message_id == radio_spot(session, spot).id)
    rows = session.execute(query.order_by(Message.slug, Recording.language))
    return [(recording, message) for recording, message in rows]


def recording_for(session: Session, *, message_id: int, language: str) -> Recording | None:
    """The current recording of a spot (by message id) in `language`, or None (for the sender:
    `campaign.core.media_urls.signed_media_url(public_url, recording.id, expires_at=...)`)."""
    return session.scalars(
        select(Recording).where(Recording.message_id == message_id, Recording.language == language)
    ).one_or_none()


def get_recording(session: Session, recording_id: int) -> Recording:
    """The recording with this id; raises NotFound."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(_("recording %(id)s not found", id=recording_id))
    return recording


def remove_recording(session: Session, *, spot: str, language: str) -> list[str]:
    """Deletes the recording of `spot` in `language` (flushed); returns its file paths for
    `remove_unreferenced` after the commit. Its calibration stays (a measured read is history).

    Raises NotFound when there is none."""
    language = check_language(language)
    message = radio_spot(session, spot)
    current = recording_for(session, message_id=message.id, language=language)
    if current is None:
        raise NotFound(_("spot %(spot)s has no %(lang)s recording", spot=spot, lang=language))
    paths = sorted({current.original_path, current.voice_path})
    session.delete(current)
    session.flush()
    return paths


def remove_unreferenced(session: Session, root: Path, paths: list[str]) -> int:
    """Deletes those of `paths` (relative to `root`) that no recording uses any more; call it after
    the commit that dropped them. Returns how many files it deleted."""
    if not paths:
        return 0
    used = set(session.scalars(select(Recording.original_path).where(Recording.original_path.in_(paths))))
    used |= set(session.scalars(select(Recording.voice_path).where(Recording.voice_path.in_(paths))))
    removed = 0
    for relative in paths:
        target = Path(root) / FOLDER / Path(relative).name
        if relative not in used and target.exists():
            target.unlink()
            removed += 1
    return removed


def voice_file(root: Path, recording: Recording) -> Path:
    """The voice-note file of a recording: only ever a file name under `<root>/recordings/`."""
    return Path(root) / FOLDER / Path(recording.voice_path).name
