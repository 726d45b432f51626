"""Contact files uploaded through the web, kept server-side between the steps of an import.

An upload lives in its own directory under `<export_dir>/../uploads/<token>/` (mode 0700): the
file as sent (0600, under its own base name so the import's summary and batch name it as the CLI
would), `meta.json` (who uploaded it, when, its columns) and, after a check or an import, the
rejection report `report.csv` (0600). The token is random and names no person; it travels in the
signed session cookie, never in a URL. An upload belongs to the user who sent it and expires
after `UPLOAD_TTL`: every new upload sweeps the expired ones, and an import deletes its file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from audiences.reading import CSV_SUFFIXES, MAX_FILE_BYTES, XLSX_SUFFIXES
from campaign.core.errors import Invalid
from campaign.core.i18n import _

UPLOAD_TTL = timedelta(hours=2)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CHUNK = 1 << 20
REPORT = "report.csv"
META = "meta.json"


@dataclass(frozen=True)
class Upload:
    """One stored upload: its token, the file (None once imported), its original name, columns."""

    token: str
    directory: Path
    filename: str
    columns: list[str]

    @property
    def path(self) -> Path:
        return self.directory / "data" / self.filename

    @property
    def report(self) -> Path:
        return self.directory / REPORT

    @property
    def has_file(self) -> bool:
        return self.path.exists()


def upload_root(export_dir: Path) -> Path:
    """The directory of uploads (created 0700): beside the exports, under the deployment's ./var."""
    root = Path(export_dir).resolve().parent / "uploads"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def safe_filename(name: str | None) -> str:
    """The base name of an uploaded file, reduced to harmless characters, with its suffix checked.

    Raises Invalid("file", ...) for a suffix the importer does not read."""
    base = Path((name or "").replace("\\", "/")).name.strip()
    suffix = Path(base).suffix.lower()
    if suffix not in CSV_SUFFIXES | XLSX_SUFFIXES:
        raise Invalid(
            "file",
            _("%(file)s: wrong file type (use .csv, .txt, .tsv or .xlsx)", file=base[:80] or "-"),
        )
    stem = re.sub(r"[^\w .()-]", "_", Path(base).stem)[:80].strip(" .") or "contactos"
    return stem + suffix


def _write_private(path: Path, chunks: Iterable[bytes], limit: int) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise Invalid("file", _("larger than %(max)d GB: split the file", max=limit >> 30))
            handle.write(chunk)
    return written


def _read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def save_upload(
    root: Path,
    *,
    user_id: int,
    filename: str | None,
    stream: BinaryIO,
    now: datetime,
    limit: int = MAX_FILE_BYTES,
) -> Upload:
    """Stores an uploaded file privately; returns it (columns not read yet). Sweeps expired ones.

    Raises Invalid("file", ...) for a wrong suffix, an empty or over-large file (nothing kept)."""
    sweep(root, now=now)
    name = safe_filename(filename)
    token = secrets.token_urlsafe(24)
    directory = root / token
    directory.mkdir(mode=0o700)
    (directory / "data").mkdir(mode=0o700)
    try:
        size = _write_private(directory / "data" / name, _read_chunks(stream), limit)
        if size == 0:
            raise Invalid("file", _("%(file)s: the file is empty", file=name))
        meta = {"user_id": user_id, "filename": name, "created": now.timestamp(), "columns": []}
        _write_private(directory / META, [json.dumps(meta).encode()], 1 << 20)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Upload(token, directory, name, [])


def set_columns(upload: Upload, columns: list[str]) -> Upload:
    """Records the file's columns (read once, at upload) in its meta file; returns the upload."""
    meta_path = upload.directory / META
    meta = json.loads(meta_path.read_text())
    meta["columns"] = columns
    meta_path.write_text(json.dumps(meta))
    return Upload(upload.token, upload.directory, upload.filename, columns)


def open_upload(root: Path, token: object, *, user_id: int, now: datetime) -> Upload:
    """The user's upload `token`; Invalid("file", ...) when there is none, it expired, or it is
    someone else's (the same answer: nothing tells one from the other)."""
    gone = Invalid("file", _("no uploaded file in progress (it expired or was imported): upload it again"))
    if not isinstance(token, str) or not TOKEN.match(token):
        raise gone
    directory = root / token
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        raise gone from None
    expired = now.timestamp() - float(meta.get("created", 0)) > UPLOAD_TTL.total_seconds()
    if meta.get("user_id") != user_id or expired:
        raise gone
    return Upload(token, directory, str(meta["filename"]), [str(c) for c in meta.get("columns", [])])


def forget_file(upload: Upload) -> None:
    """Deletes the uploaded file itself (after the import); the report stays until expiry."""
    shutil.rmtree(upload.directory / "data", ignore_errors=True)


def discard(upload: Upload) -> None:
    """Deletes everything of the upload."""
    shutil.rmtree(upload.directory, ignore_errors=True)


def sweep(root: Path, *, now: datetime) -> int:
    """Deletes uploads older than UPLOAD_TTL; returns how many."""
    removed = 0
    limit = now.timestamp() - UPLOAD_TTL.total_seconds()
    for directory in root.iterdir() if root.exists() else ():
        try:
            created = float(json.loads((directory / META).read_text()).get("created", 0))
        except (OSError, ValueError):
            created = directory.stat().st_mtime
        if created < limit:
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
