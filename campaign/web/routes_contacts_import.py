"""Importing a contact file from the browser: upload, column mapping, dry run, import, report.

The steps call the CLI's own service, `audiences.importer.import_file`, with what the manager
chose: the mapping (guessed from the headers as `campaign audiences import` guesses it, each
column's target editable), the consent source, all-or-nothing or partial, the date order. The
dry run is `campaign audiences import FILE --dry-run [--partial]`; the import is the same call
without --dry-run, in one unit of work with its audit event. Between the steps the file waits
server-side (campaign/web/uploads.py: 0600, its token in the signed session cookie, deleted after
the import or on expiry); no personal data goes into a URL or a log line. The rejection report
is `audiences.importer.write_report`'s CSV (values written so a spreadsheet never runs them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from audiences.reading import CONTACT_FIELDS, MAX_FILE_BYTES, custom_key, guess_headers, read_table
from audiences.reasons import reason_label
from campaign.core.audit import record_audit
from campaign.core.db import make_sessionmaker, utcnow
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import N_, LazyString, _
from campaign.hotline.models import User
from campaign.web import uploads
from campaign.web.auth import MANAGER_ROLES, require_role
from campaign.web.routes_inbox import NO_STORE
from campaign.web.security import FORM_SLACK_BYTES
from campaign.web.templating import templates

router = APIRouter()
manager = require_role(*MANAGER_ROLES)
UPLOAD_KEY = "contacts_upload"
DATE_ORDERS = ("dmy", "mdy", "ymd")
FIELD_LABELS: dict[str, LazyString] = {
    "phone": N_("phone"),
    "name": N_("name"),
    "language": N_("language"),
    "department": N_("department"),
    "municipality": N_("municipality"),
    "birth_year": N_("birth year"),
    "age": N_("age"),
    "sex": N_("sex"),
    "household": N_("household"),
    "timezone": N_("timezone"),
    "consent_source": N_("consent (where they agreed)"),
}
assert set(FIELD_LABELS) == set(CONTACT_FIELDS)
CUSTOM, IGNORE = "custom", "ignore"
FIELD_TYPES: dict[str, LazyString] = {
    "": N_("type: guessed from the values"),
    "number": N_("type: number"),
    "date": N_("type: date"),
    "text": N_("type: text"),
}


def _root(request: Request) -> Path:
    return uploads.upload_root(request.app.state.web.settings.export_dir)


def _current(request: Request, user: User) -> uploads.Upload:
    return uploads.open_upload(_root(request), request.session.get(UPLOAD_KEY), user_id=user.id, now=utcnow())


def _choice(target: str) -> str:
    """The select's value for a mapping target (`custom.key` -> custom)."""
    return CUSTOM if target.startswith("custom.") else target


def _overrides(form: FormData, columns: list[str]) -> dict[str, str]:
    """header -> target from the form's `map-N` selects (missing ones keep the guess).

    `custom` means a custom field named after the header, as the guess names it; any other value
    goes to the importer's own check, which refuses an unknown field with Invalid("map", ...)."""
    out: dict[str, str] = {}
    for index, header in enumerate(columns):
        value = form.get(f"map-{index}")
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()[:100]
        out[header] = "custom." + custom_key(header) if value == CUSTOM else value
    return out


def _options(form: FormData, upload: uploads.Upload, default_order: str) -> dict[str, Any]:
    consent = form.get("consent_source")
    order = form.get("date_order") or default_order
    if order not in DATE_ORDERS:
        raise Invalid("date_order", _("%(value)r is not dmy, mdy or ymd", value=str(order)[:20]))
    mapping = _overrides(form, upload.columns)
    guessed = guess_headers(upload.columns)
    types: dict[str, str] = {}
    for index, header in enumerate(upload.columns):
        kind = form.get(f"type-{index}")
        custom = mapping.get(header, guessed[header]).startswith("custom.")
        if isinstance(kind, str) and kind.strip() and custom:  # `campaign audiences import --type`
            types[header] = kind.strip()[:20]
    return {
        "mapping": mapping,
        "types": types,
        "consent_source": consent.strip()[:200] if isinstance(consent, str) and consent.strip() else None,
        "partial": form.get("partial") == "1",
        "date_order": order,
    }


def _rows(upload: uploads.Upload, mapping: dict[str, str], types: dict[str, str]) -> list[dict[str, Any]]:
    guessed = guess_headers(upload.columns)
    return [
        {
            "index": i,
            "header": h,
            "guess": _choice(guessed[h]),
            "chosen": _choice(mapping.get(h, guessed[h])),
            "type": types.get(h, ""),
        }
        for i, h in enumerate(upload.columns)
    ]


def _context(
    request: Request, user: User, upload: uploads.Upload, options: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    guessed = guess_headers(upload.columns)
    summary = extra.get("summary")
    # After a check, the mapping the importer applied (a field chosen twice keeps the last column).
    mapping = dict(summary.mapping) if summary is not None and summary.mapping else options["mapping"]
    chosen = {**guessed, **mapping}
    return {
        "user": user,
        "upload": upload,
        "rows": _rows(upload, mapping, options.get("types", {})),
        "field_types": FIELD_TYPES,
        "fields": FIELD_LABELS,
        "options": options,
        "has_consent_column": "consent_source" in chosen.values(),
        "date_orders": DATE_ORDERS,
        "summary": None,
        "error": None,
        "reason_label": reason_label,
        **extra,
    }


def _write_report(upload: uploads.Upload, summary: Any) -> None:
    from audiences.importer import write_report

    upload.report.unlink(missing_ok=True)
    os.close(os.open(upload.report, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    header = (_("row"), _("column"), _("value"), _("reason"))
    write_report(upload.report, summary, header=header, reason_label=reason_label)


@router.post("/contacts/upload", max_body_size=MAX_FILE_BYTES + FORM_SLACK_BYTES)  # 413 before it is read
async def upload_file(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """Stores the file privately, reads its header, and goes to the mapping step."""
    form = await request.form()
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        raise Invalid("file", _("choose a CSV or XLSX file to upload"))
    root, settings = _root(request), request.app.state.web.settings

    def store() -> uploads.Upload:
        upload = uploads.save_upload(
            root, user_id=user.id, filename=sent.filename, stream=sent.file, now=utcnow()
        )
        try:
            table = read_table(upload.path, max_rows=settings.import_max_rows)
        except AppError:
            uploads.discard(upload)
            raise
        return uploads.set_columns(upload, [str(c) for c in table.frame.columns])

    try:
        upload = await run_in_threadpool(store)
    except AppError as exc:
        context = {"user": user, "error": exc.message, "upload": None}
        return templates.TemplateResponse(request, "contacts.html", context, status_code=exc.http_status)
    previous = request.session.get(UPLOAD_KEY)
    if isinstance(previous, str) and previous != upload.token:
        try:
            uploads.discard(uploads.open_upload(root, previous, user_id=user.id, now=utcnow()))
        except Invalid:
            pass
    request.session[UPLOAD_KEY] = upload.token
    return RedirectResponse("/contacts/import", status_code=303)


@router.get("/contacts/import")
def mapping_page(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """The mapping step: each column with its guessed field, editable; consent; how to import."""
    upload = _current(request, user)
    if not upload.has_file:
        raise Invalid("file", _("this file was imported already: upload it again to import it again"))
    options = {
        "mapping": {},
        "types": {},
        "consent_source": None,
        "partial": False,
        "date_order": request.app.state.web.settings.date_order,
    }
    context = _context(request, user, upload, options)
    return templates.TemplateResponse(request, "contacts_import.html", context, headers=NO_STORE)


def _run(
    request: Request, user: User, upload: uploads.Upload, options: dict[str, Any], *, dry_run: bool
) -> Any:
    from audiences.importer import import_file

    state = request.app.state.web
    now = utcnow()
    kwargs = {
        "mapping": options["mapping"],
        "types": options["types"],
        "dry_run": dry_run,
        "partial": options["partial"],
        "now": now,
        "date_order": options["date_order"],
        "max_rows": state.settings.import_max_rows,
        "consent_source": options["consent_source"],
        "imported_by": user.username,
    }
    if dry_run:  # reads only; rolled back whatever happens
        with make_sessionmaker(state.engine)() as session:
            try:
                return import_file(session, upload.path, **kwargs)
            finally:
                session.rollback()
    with state.write() as session:
        summary = import_file(session, upload.path, **kwargs)
        if summary.stored:
            detail = {k: v for k, v in summary.as_dict().items() if k not in ("mapping", "file")}
            record_audit(
                session,
                actor=user.username,
                user_id=user.id,
                action="contacts.import",
                now=now,
                target_type="import_batch",
                target_id=summary.batch_id,
                detail=detail,
            )
        return summary


async def _step(request: Request, user: User, *, dry_run: bool) -> Response:
    form = await request.form()
    upload = _current(request, user)
    if not upload.has_file:
        raise Invalid("file", _("this file was imported already: upload it again to import it again"))
    options = _options(form, upload, request.app.state.web.settings.date_order)
    try:
        if dry_run:
            summary = await run_in_threadpool(_run, request, user, upload, options, dry_run=True)
        else:
            summary = await request.app.state.web.run_write(
                lambda: _run(request, user, upload, options, dry_run=False)
            )
    except AppError as exc:
        context = _context(request, user, upload, options, error=exc.message)
        return templates.TemplateResponse(
            request, "contacts_import.html", context, status_code=exc.http_status, headers=NO_STORE
        )
    await run_in_threadpool(_write_report, upload, summary)
    flashes: list[list[str]] = []
    if not dry_run and summary.stored:
        uploads.forget_file(upload)
        done = _("Import done: %(new)d new contacts, %(updated)d updated.", new=summary.imported,
                 updated=summary.updated)
        flashes.append(["ok", done])
    figures = summary.as_dict()
    context = _context(request, user, upload, options, summary=summary, figures=figures, flashes=flashes)
    status = 422 if summary.aborted and not dry_run else 200
    return templates.TemplateResponse(
        request, "contacts_import.html", context, status_code=status, headers=NO_STORE
    )


@router.post("/contacts/import/check")
async def check_import(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """The dry run: what the import would do with this mapping (nothing written)."""
    return await _step(request, user, dry_run=True)


@router.post("/contacts/import/run")
async def run_import(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """The import itself (all or nothing unless partial), audited."""
    return await _step(request, user, dry_run=False)


@router.get("/contacts/import/report")
def download_report(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """The rejection report of the last check or import of the user's upload (CSV)."""
    upload = _current(request, user)
    if not upload.report.exists():
        raise Invalid("report", _("no report yet: check or import the file first"))
    stem = Path(upload.filename).stem
    return FileResponse(
        upload.report,
        media_type="text/csv; charset=utf-8",
        filename=f"{stem}-rechazos.csv",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/contacts/import/cancel")
def cancel_upload(request: Request, *, user: Annotated[User, Depends(manager)]) -> Response:
    """Forgets the upload (file and report deleted now)."""
    try:
        uploads.discard(_current(request, user))
    except Invalid:
        pass
    request.session.pop(UPLOAD_KEY, None)
    return RedirectResponse("/contacts", status_code=303)
