"""Media files of contacts at rest: one encrypted file per media row under `Settings.media_dir`.

A file `<id>.media` holds `<key id>$` + nonce + AES-256-GCM(content) under the current data key
(campaign/core/crypto.py), bound to its row (`inbound_media:<id>` as associated data, so a file
renamed to another id does not decrypt). The directory is 0700, files 0600, written atomically.
Nothing here touches the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from campaign.core.config import Settings
from campaign.core.crypto import keyring


def _context(media_id: int) -> bytes:
    return f"inbound_media:{media_id}".encode()


def media_path(settings: Settings, media_id: int) -> Path:
    return Path(settings.media_dir) / f"{int(media_id)}.media"


def write_media(settings: Settings, media_id: int, content: bytes) -> Path:
    """Encrypts and writes the content of media `media_id` (0600, atomic); returns its path."""
    directory = Path(settings.media_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    path = media_path(settings, media_id)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    sealed = keyring().encrypt_bytes(content, context=_context(media_id))
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(sealed)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def read_media(settings: Settings, media_id: int) -> bytes | None:
    """The decrypted content of media `media_id`, or None when its file is gone. Raises
    crypto.UnreadableData when the file does not authenticate."""
    try:
        sealed = media_path(settings, media_id).read_bytes()
    except FileNotFoundError:
        return None
    return keyring().decrypt_bytes(sealed, context=_context(media_id))


def remove_media(settings: Settings, media_ids: list[int]) -> int:
    """Deletes the files of these media; returns how many existed."""
    removed = 0
    for media_id in media_ids:
        try:
            media_path(settings, media_id).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def stale_media(settings: Settings) -> list[int]:
    """Ids of media files not under the current data key (a key rotation re-encrypts them)."""
    directory = Path(settings.media_dir)
    if not directory.is_dir():
        return []
    prefix = (keyring().current_id + "$").encode()
    stale = []
    for path in sorted(directory.glob("*.media")):
        with path.open("rb") as handle:
            if handle.read(len(prefix)) != prefix and path.stem.isdigit():
                stale.append(int(path.stem))
    return stale


def reencrypt_media(settings: Settings) -> int:
    """Re-encrypts every media file not under the current data key (the old keys must still be in
    the keyring); returns how many. Resumable: each file is replaced atomically."""
    done = 0
    for media_id in stale_media(settings):
        content = read_media(settings, media_id)
        if content is not None:
            write_media(settings, media_id, content)
            done += 1
    return done
