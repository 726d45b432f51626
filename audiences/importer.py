"""`audiences import`: one contact file into the database in one transaction, set-based.

Read (reading.py) -> validate in bulk (cleaning.py) -> merge duplicates inside the file (later rows
are newer; newer non-empty values win) -> merge with contacts already stored (same rule; status is
never changed by an import, so an opt-out stays an opt-out) -> bulk insert (COPY on PostgreSQL,
executemany on SQLite) and bulk update -> ImportBatch with its ImportRejection rows.

Custom columns are typed (number, date, text; audiences/fields.py): a known field keeps its type,
a new one gets the type given with `types` or inferred from its values, and is registered when
the import writes. A value that does not fit its field is a rejected row, like a bad phone.

Consent is required: a file needs a consent column (where each person agreed, or yes/no) or a
`consent_source` for the whole file; with neither it is refused (Invalid("consent", ...)) before
anything is written. Every contact the import gives consent to (a new one, or a stored active one
that had none) gets an opt_in ConsentEvent (channel import, the source, who imported, when). An
import never takes consent away and never changes a stored consent.

All or nothing per file by default: when any row is rejected nothing is written and the summary
says `aborted` (the rejection report still lists every row, column, value and reason). With
`partial=True` the valid rows are imported and the invalid ones reported. A fatal problem (wrong
file type, unreadable encoding, no phone column) raises before anything is written. `dry_run`
computes the same summary and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import String, bindparam, exists, insert, literal, select, update
from sqlalchemy.orm import Session

from audiences.cleaning import clean
from audiences.fields import declare_fields, known_fields
from audiences.models import (
    ConsentEvent,
    ConsentKind,
    Contact,
    ContactStatus,
    Erasure,
    FieldType,
    ImportBatch,
    ImportRejection,
)
from audiences.reading import map_headers, read_table
from campaign.core.crypto import keyring
from campaign.core.db import bulk_insert, refresh_statistics
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, default_registry
from campaign.core.spreadsheets import write_csv_rows

FIELDS = (
    "name",
    "language",
    "country",
    "department",
    "municipality_code",
    "birth_year",
    "sex",
    "household",
    "timezone",
    "consent_source",
)
INSERT_COLUMNS = (
    "phone", "phone_index", *FIELDS, "custom", "status", "consent_at", "created_at", "updated_at"
)
CHUNK = 50_000


IMPORT_STAGES = ("reading", "validating", "merging", "writing")


@dataclass
class ImportSummary:
    """What an import did (or would do, with dry_run)."""

    file: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    consented: int = 0  # contacts this import recorded consent for (one ConsentEvent each)
    without_consent: int = 0  # rows whose consent column says no: imported, never sent a blast
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    dry_run: bool = False
    aborted: bool = False  # rows were rejected and the file was not partial: nothing written
    batch_id: int | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)  # key -> number | date | text
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    report: list[tuple[int, str, str, str]] = field(default_factory=list, repr=False)

    @property
    def stored(self) -> bool:
        """Whether the import wrote its contacts (not a dry run, not aborted by rejected rows)."""
        return not (self.dry_run or self.aborted)

    def as_dict(self) -> dict[str, Any]:
        """The summary for scripts. `imported`, `updated` and `unchanged` say what was stored (all
        0 when nothing was: a dry run, or rows rejected without --partial); `would_import`,
        `would_update` and `would_leave_unchanged` say what the file holds either way."""
        data = asdict(self)
        data.pop("report")
        data["stored"] = self.stored
        for done, would in WOULD.items():
            data[would] = data[done]
            if not self.stored:
                data[done] = 0
        return data


WOULD = {"imported": "would_import", "updated": "would_update", "unchanged": "would_leave_unchanged"}


REPORT_HEADER = ("row", "column", "value", "reason")


def write_report(
    path: Path,
    summary: ImportSummary,
    *,
    header: Sequence[str] = REPORT_HEADER,
    reason_label: Callable[[str], str] | None = None,
) -> None:
    """Writes the rejection report CSV: row, column, value, reason (warnings included). The web
    gives the header and the reasons in the reader's language (`header`, `reason_label`); the
    command line writes them as stored."""
    label = reason_label or str
    with path.open("w", newline="", encoding="utf-8") as handle:
        # The values are what the imported file held: never let a spreadsheet run them.
        rows = [(r, c, v, label(why)) for r, c, v, why in sorted(summary.report, key=_report_order)]
        write_csv_rows(handle, list(header), rows)


def _report_order(entry: tuple[int, str, str, str]) -> tuple[int, str]:
    return entry[0], entry[1]


def import_file(
    session: Session,
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    partial: bool = False,
    now: datetime,
    registry: LanguageRegistry | None = None,
    on_stage: Callable[[str], None] | None = None,
    types: Mapping[str, str] | None = None,
    date_order: str = "dmy",
    max_rows: int | None = None,
    consent_source: str | None = None,
    imported_by: str | None = None,
) -> ImportSummary:
    """Imports one CSV/XLSX file of contacts. Flushes; never commits.

    Raises Invalid("file", ...) / Invalid("map", ...) / Invalid("type", ...) on fatal problems
    (nothing written). Unless `partial`, a file with any rejected row writes nothing and returns
    with `aborted=True`. `types` gives custom columns a type (header or field key -> number, date
    or text); `date_order` (dmy, mdy, ymd) says how dates with separators are read. `now` is aware
    UTC. `on_stage` is told when each of IMPORT_STAGES begins (for progress bars). A file of more
    than `max_rows` data rows (or more than 200 columns, or an XLSX zip bomb) is refused with
    Invalid("file", ...) before it is parsed in full. `consent_source` says where everyone in the
    file agreed to receive messages (a consent column overrides it per row); a file with neither
    raises Invalid("consent", ...). `imported_by` is recorded on each ConsentEvent.
    """
    stage = on_stage or (lambda _name: None)
    if now.tzinfo is None:
        raise ValueError("now must be an aware UTC datetime")
    path = Path(path)
    stage("reading")
    table = read_table(path, max_rows=max_rows)
    stage("validating")
    headers = map_headers(list(table.frame.columns), mapping)
    source = (consent_source or "").strip()[:80] or None
    if source is None and "consent_source" not in headers.values():
        raise Invalid("consent", _(
            "%(file)s has no consent column (consentimiento, fuente, ...) and no consent source for the "
            "whole file was given: say where these people agreed to receive messages; nothing imported",
            file=path.name), cli_hint=_("give it with --consent-source"))
    cleaned = clean(
        table.frame,
        headers,
        table.row_numbers,
        today=now.date(),
        registry=registry or default_registry(),
        fields=known_fields(session),
        types=_given_types(headers, types or {}),
        date_order=date_order,
        consent_source=source,
    )
    summary = ImportSummary(
        file=path.name,
        rows=len(table.frame) + len(table.bad_rows),
        dry_run=dry_run,
        encoding=table.encoding,
        delimiter=table.delimiter,
        mapping=headers,
        custom_fields={k: str(v) for k, v in cleaned.custom_types.items()},
    )
    report = list(cleaned.problems)
    by_reason = dict(cleaned.rejected_by_reason)
    for line, text in table.bad_rows:
        report.append((line, "", text[:200], "row: wrong number of columns"))
        by_reason["row: wrong number of columns"] = by_reason.get("row: wrong number of columns", 0) + 1
    summary.rejected = cleaned.rejected_rows + len(table.bad_rows)
    summary.rejected_by_reason = dict(sorted(by_reason.items(), key=lambda kv: -kv[1]))
    summary.warnings = len(cleaned.warnings)
    summary.report = report + cleaned.warnings
    frame = cleaned.frame
    custom_columns = [c for c in frame.columns if c.startswith("custom.")]
    if frame["phone"].duplicated().any():
        merged = frame.groupby("phone", sort=False).last().reset_index()  # last non-null per column
        summary.duplicates = len(frame) - len(merged)
        frame = merged
    stage("merging")
    ring = keyring()
    frame = frame.assign(phone_index=ring.blind_indexes(frame["phone"].tolist()))
    existing = _existing(session, frame["phone_index"].tolist())
    is_new = ~frame["phone_index"].isin(existing.keys())
    summary.imported = int(is_new.sum())
    updates = _updates(frame[~is_new], custom_columns, existing)
    summary.updated = len(updates)
    summary.unchanged = int((~is_new).sum()) - len(updates)
    gains = _consent_gains(frame[~is_new], existing)
    summary.consented = int((is_new & frame["consent_source"].notna()).sum()) + len(gains)
    summary.without_consent = int(frame["consent_source"].isna().sum())
    summary.aborted = bool(summary.rejected) and not partial
    if dry_run or summary.aborted:
        return summary

    stage("writing")
    batch = ImportBatch(
        filename=path.name[:500],
        started_at=now,
        finished_at=now,
        rows=summary.rows,
        imported=summary.imported,
        updated=summary.updated,
        duplicates=summary.duplicates,
        rejected=summary.rejected,
        summary=summary.as_dict(),
    )
    session.add(batch)
    session.flush()
    summary.batch_id = batch.id
    declare_fields(session, cleaned.custom_types, now=now, source=f"import:{path.name}"[:200])
    _insert_contacts(session, frame[is_new], custom_columns, now=now)
    if updates:
        stmt = update(Contact.__table__).where(Contact.__table__.c.id == bindparam("_id"))
        for chunk in _chunks(updates, CHUNK):
            session.execute(stmt, [{**u, "updated_at": now} for u in chunk])
    if gains:
        stmt = update(Contact.__table__).where(Contact.__table__.c.id == bindparam("_id"))
        for chunk in _chunks(gains, CHUNK):
            session.execute(stmt, [{**g, "consent_at": now, "updated_at": now} for g in chunk])
    if summary.consented:
        _record_consent(session, by=imported_by, now=now)
    if summary.report:
        rows = [
            {"batch_id": batch.id, "row": r, "column": c[:100], "value": v[:1000], "reason": why[:200]}
            for r, c, v, why in summary.report
        ]
        for chunk in _chunks(rows, CHUNK):
            session.execute(insert(ImportRejection.__table__), chunk)
    batch.summary = summary.as_dict()
    session.flush()
    refresh_statistics(session, "contacts")  # segment counts and planning right after a big load
    return summary


def _consent_gains(frame: pd.DataFrame, existing: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored active contacts without consent to whom this file gives it: {_id, consent_source}."""
    out: list[dict[str, Any]] = []
    for index, source in zip(frame["phone_index"], frame["consent_source"], strict=True):
        stored = existing[index]
        active = stored["status"] == ContactStatus.ACTIVE
        if isinstance(source, str) and stored["consent_at"] is None and active:
            out.append({"_id": stored["id"], "consent_source": source})
    return out


def _record_consent(session: Session, *, by: str | None, now: datetime) -> None:
    """One opt_in ConsentEvent (channel import) per contact this import gave consent to: those
    whose consent_at is the import's `now` without an import event at `now` yet. One INSERT ...
    SELECT, whatever the size of the file (and however phones are stored)."""
    events, contacts = ConsentEvent.__table__, Contact.__table__
    recorded = select(events.c.id).where(
        events.c.contact_id == contacts.c.id, events.c.at == now, events.c.channel == "import"
    )
    rows = select(
        contacts.c.id,
        literal(ConsentKind.OPT_IN.value),
        literal("import"),
        contacts.c.consent_source,
        literal(by[:80] if by else None, String()),
        literal(now, events.c.at.type),
    ).where(contacts.c.consent_at == now, ~exists(recorded))
    columns = ["contact_id", "kind", "channel", "source", "recorded_by", "at"]
    session.execute(insert(events).from_select(columns, rows))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(session: Session, indexes: list[str]) -> dict[str, dict[str, Any]]:
    """Stored contacts among these blind indexes, keyed by index (chunked IN on the unique index)."""
    table = Contact.__table__
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(indexes, 10_000):
        stmt = select(
            table.c.id, table.c.phone_index, table.c.custom, table.c.status, table.c.consent_at,
            *(table.c[f] for f in FIELDS),
        ).where(table.c.phone_index.in_(chunk))
        for row in session.execute(stmt).mappings():
            out[row["phone_index"]] = dict(row)
    return out


def _erased(session: Session, indexes: list[str]) -> set[str]:
    """Which of these blind indexes belong to erased people (they come back opted out)."""
    out: set[str] = set()
    if session.scalar(select(Erasure.id).limit(1)) is None:
        return out
    for chunk in _chunks(indexes, 10_000):
        out.update(session.scalars(select(Erasure.phone_index).where(Erasure.phone_index.in_(chunk))))
    return out


def _given_types(headers: Mapping[str, str], given: Mapping[str, str]) -> dict[str, FieldType]:
    """`--type` values keyed by custom field key (given by header or by key); Invalid("type", ...)
    for a column that is not a custom field of the file or a type that does not exist."""
    out: dict[str, FieldType] = {}
    keys = {h: t.split(".", 1)[1] for h, t in headers.items() if t.startswith("custom.")}
    folded = {h.strip().lower(): k for h, k in keys.items()}
    for name, kind in given.items():
        key = keys.get(name) or folded.get(name.strip().lower())
        if key is None and name in keys.values():
            key = name
        if key is None:
            raise Invalid("type", _("no custom column %(name)r in the file (custom columns: %(names)s)",
                                    name=name, names=", ".join(keys.values()) or "-"))
        try:
            out[key] = FieldType(kind.strip().lower())
        except ValueError:
            reason = _("%(kind)r is not a field type (number, date or text)", kind=kind)
            raise Invalid("type", reason) from None
    return out


def _custom_dicts(frame: pd.DataFrame, custom_columns: list[str]) -> list[dict[str, Any]]:
    if not custom_columns:
        return [{} for _ in range(len(frame))]
    keys = [c.split(".", 1)[1] for c in custom_columns]
    columns = [frame[c].tolist() for c in custom_columns]
    return [
        {k: p for k, v in zip(keys, values, strict=True) if (p := _plain(v)) is not None}
        for values in zip(*columns, strict=True)
    ]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _updates(
    frame: pd.DataFrame, custom_columns: list[str], existing: dict[str, dict[str, Any]]
) -> list[dict]:
    """Per stored contact, the new values where the file has a non-empty one that differs."""
    out: list[dict[str, Any]] = []
    customs = _custom_dicts(frame, custom_columns)
    records = frame[["phone_index", *FIELDS]].to_dict("records")
    for record, custom in zip(records, customs, strict=True):
        stored = existing[record["phone_index"]]
        change: dict[str, Any] = {}
        for name in FIELDS:
            if name == "consent_source":  # an import never changes a stored consent (see _consent_gains)
                continue
            value = _plain(record[name])
            if value is not None and value != stored[name]:
                change[name] = value
        merged = {**(stored["custom"] or {}), **custom}
        if merged != (stored["custom"] or {}):
            change["custom"] = merged
        if change:
            row = {name: stored[name] for name in FIELDS}
            row.update(change)
            row["custom"] = merged
            row["_id"] = stored["id"]
            out.append(row)
    return out


def _insert_contacts(
    session: Session, frame: pd.DataFrame, custom_columns: list[str], *, now: datetime
) -> None:
    if frame.empty:
        return
    # bulk_insert bypasses the column types: phone and name are encrypted here (crypto.py)
    seal = keyring().encrypt_many
    erased = _erased(session, frame["phone_index"].tolist())
    active, opted_out = ContactStatus.ACTIVE.value, ContactStatus.OPTED_OUT.value
    for start in range(0, len(frame), CHUNK):
        part = frame.iloc[start : start + CHUNK]
        customs = [json.dumps(c, ensure_ascii=False) for c in _custom_dicts(part, custom_columns)]
        indexes = part["phone_index"].tolist()
        columns = [seal(part["phone"].tolist()), indexes]
        for name in FIELDS:
            values = part[name].astype(object).where(part[name].notna(), None).tolist()
            if name == "birth_year":
                values = [None if v is None else int(v) for v in values]
            elif name == "name":
                values = seal(values)
            columns.append(values)
        # An erased number comes back opted out, without consent (campaign privacy erase keeps only
        # its blind index): the person asked for nothing more.
        sources = part["consent_source"].tolist()
        statuses = [opted_out if i in erased else active for i in indexes]
        consented = [
            now if isinstance(v, str) and status == active else None
            for v, status in zip(sources, statuses, strict=True)
        ]
        tuples = [
            (*values, custom, status, consent_at, now, now)
            for *values, custom, status, consent_at in zip(
                *columns, customs, statuses, consented, strict=True
            )
        ]
        bulk_insert(
            session,
            "contacts",
            INSERT_COLUMNS,
            tuples,
            datetime_columns=("consent_at", "created_at", "updated_at"),
        )
