"""The translator round trip: export one language to XLSX or PO, import the returned file.

Export writes one row (PO entry) per message: the Spanish source and its fingerprint, the
current target text, status, notes, segment budget, variables; for SMS in XLSX also a live
character/segment hint column (a formula, so it updates while the translator types). A radio
spot is one row too: its script one part a line (`messages.radio_exchange`), its slot length and
a read-time hint (how long the Spanish reads, how many syllables fit at the language's speaking
rate, how long the current translation reads). The format follows the file's extension.

Import plans first (pure checks, row by row), then applies: a row whose Spanish source changed
since export (stale) or whose variables differ from the source is refused with its row number;
an unchanged row is skipped; a changed row becomes a new version needing review (or approved,
when a reviewer is named and the row says approved). Refused rows never block the good rows: the
translator's other work is kept, and the report (and exit code 1) says which rows to redo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polib
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import default_registry
from campaign.core.spreadsheets import text_cells
from messages import library
from messages.encoding import apply_policy
from messages.models import Message, Translation, TranslationStatus
from messages.radio import spoken_text, translation_script, validate_script
from messages.radio_exchange import lines_to_script, read_hint, read_seconds, script_to_lines, speaking_rate
from messages.rendering import normalize_text, render, sample_context, template_variables

ONLY = ("missing", "changed", "all")
FORMATS = ("xlsx", "po")
COLUMNS = ("slug", "language", "source_es", "source_fingerprint", "translation", "status", "notes",
           "segment_budget", "variables", "hint", "segments_now", "channel", "slot_seconds", "read_seconds")
HINT = ('=LEN({c})&" chars; "&IF(LEN({c})<=160,1,ROUNDUP(LEN({c})/153,0))&" SMS plain / "'
        '&IF(LEN({c})<=70,1,ROUNDUP(LEN({c})/67,0))&" SMS with accents or symbols"')


@dataclass
class ExportRow:
    slug: str
    source: str
    fingerprint: str
    target: str
    status: str
    notes: str
    budget: int
    variables: list[str]
    segments_now: str
    channel: str = "sms"
    slot_seconds: int | None = None
    read_seconds: float | None = None
    hint: str = ""


def is_radio(message: Message) -> bool:
    """A radio spot (its translations are scripts), not an SMS."""
    return "radio" in (message.channels or []) and "sms" not in (message.channels or [])


def exchange_text(message: Message, translation: Translation | None) -> str | None:
    """A translation as the translator's file shows it: the body, or a spot's script as lines."""
    if translation is None:
        return None
    if is_radio(message):
        return script_to_lines(validate_script(translation_script(translation)))
    return translation.body


def export_rows(session: Session, *, language: str, only: str = "missing",
                defaults: dict[str, str] | None = None) -> list[ExportRow]:
    """The rows a translator gets for `language`: SMS messages and radio spots with a Spanish source."""
    if only not in ONLY:
        raise Invalid("only", _("%(value)r is not one of %(allowed)s", value=only, allowed=", ".join(ONLY)))
    rows = []
    rate: float | None = None
    for message in library.list_messages(session):
        source_text = library.source_body(message)
        if source_text is None:
            continue
        fingerprint = library.source_hash(source_text) or ""
        target = _translation(message, language)
        if only == "missing" and target is not None:
            continue
        if only == "changed" and (target is None or target.source_hash == fingerprint):
            continue
        spanish = _translation(message, library.SOURCE_LANGUAGE)
        if is_radio(message):
            if rate is None:
                rate = speaking_rate(session, language)
            rows.append(_radio_row(message, spanish, target, fingerprint, language=language, rate=rate,
                                   variables=sample_context(defaults or {}, message.variables),
                                   es_rate=speaking_rate(session, library.SOURCE_LANGUAGE)))
            continue
        if "sms" not in (message.channels or []):
            continue
        source = source_text
        segments_now = ""
        if target is not None:
            try:
                text = render(target.body, sample_context(defaults or {}, message.variables))
                info = apply_policy(text, "smart")
                segments_now = f"{info.segments} ({info.encoding})"
            except Invalid as exc:
                segments_now = f"error: {exc.reason}"
        rows.append(ExportRow(
            slug=message.slug, source=source, fingerprint=fingerprint,
            target=target.body if target else "", status=str(target.status) if target else "missing",
            notes=(target.notes or "") if target else "", budget=message.segment_budget,
            variables=list(message.variables or []), segments_now=segments_now,
        ))
    return rows


def _translation(message: Message, language: str) -> Translation | None:
    return next((t for t in message.translations if t.language == language), None)


def _radio_row(message: Message, spanish: Translation | None, target: Translation | None,
               fingerprint: str, *, language: str, rate: float, es_rate: float,
               variables: dict[str, str]) -> ExportRow:
    source_script = validate_script(translation_script(spanish))
    source_seconds = _seconds_or_none(source_script, variables, rate=es_rate, language="es")
    target_seconds = None
    if target is not None:
        try:
            target_seconds = _seconds_or_none(validate_script(translation_script(target)), variables,
                                              rate=rate, language=language)
        except Invalid:
            target_seconds = None
    return ExportRow(
        slug=message.slug, source=script_to_lines(source_script), fingerprint=fingerprint,
        target=exchange_text(message, target) or "",
        status=str(target.status) if target else "missing", notes=(target.notes or "") if target else "",
        budget=0, variables=list(message.variables or []), segments_now="", channel="radio",
        slot_seconds=message.slot_seconds, read_seconds=target_seconds,
        hint=read_hint(message.slot_seconds, source_seconds, target_seconds, script=source_script,
                       rate=rate, language=language),
    )


def _seconds_or_none(script: list[dict], variables: dict[str, str], *, rate: float,
                     language: str) -> float | None:
    try:
        return read_seconds(script, variables, rate=rate, language=language)
    except Invalid:
        return None


def export_format(out: Path, given: str | None) -> str:
    """The file format for `out`: `given`, else its extension (.xlsx, .po). Raises Invalid for an
    unknown format, an extension that says none, or a format the extension contradicts."""
    suffix = out.suffix.lower().lstrip(".")
    if given is None:
        if suffix not in FORMATS:
            raise Invalid("--out", _("cannot tell the format from %(name)r: name it .xlsx or .po, or give "
                                     "--format", name=out.name))
        return suffix
    if given not in FORMATS:
        raise Invalid("--format", _("%(format)r is not one of %(formats)s", format=given,
                                    formats=", ".join(FORMATS)))
    if suffix in FORMATS and suffix != given:
        raise Invalid("--format", _("--format %(format)s does not match the file name %(name)r: a translator "
                                    "would not be able to open it", format=given, name=out.name))
    return given


def write_xlsx(rows: list[ExportRow], path: Path, *, language: str) -> None:
    """One sheet, one row per message; the `translation`, `status` and `notes` columns are edited."""
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)  # a new workbook starts with one worksheet
    sheet.title = "translations"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, row in enumerate(rows, start=2):
        radio = row.channel == "radio"
        sheet.append([row.slug, language, row.source, row.fingerprint, row.target, row.status, row.notes,
                      None if radio else row.budget, ", ".join(row.variables),
                      row.hint if radio else HINT.format(c=f"E{i}"), row.segments_now, row.channel,
                      row.slot_seconds, row.read_seconds])
    editable = PatternFill("solid", fgColor="FFF2CC")
    for r in range(2, len(rows) + 2):
        for col in ("E", "F", "G"):
            sheet[f"{col}{r}"].fill = editable
        for col in ("C", "E"):
            sheet[f"{col}{r}"].alignment = Alignment(wrap_text=True, vertical="top")
    for col, width in zip("ABCDEFGHIJKLMN", (24, 8, 60, 18, 60, 14, 30, 8, 24, 40, 14, 8, 8, 8), strict=True):
        sheet.column_dimensions[col].width = width
    sheet.column_dimensions["D"].hidden = True
    sheet.freeze_panes = "C2"
    text_cells(workbook).save(path)  # a body starting with "=" or "-" stays text for the translator


def write_po(rows: list[ExportRow], path: Path, *, language: str) -> None:
    """A gettext PO file: msgctxt = slug, msgid = Spanish source, msgstr = translation."""
    po = polib.POFile()
    po.metadata = {"Language": language, "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit", "MIME-Version": "1.0"}
    for row in rows:
        if row.channel == "radio":
            comment = (f"radio spot, one part a line (keep the labels and [cues]); "
                       f"slot: {row.slot_seconds} s; read time: {row.hint}; "
                       f"variables: {', '.join(row.variables) or '-'}; "
                       f"status: {row.status}")
        else:
            comment = (f"variables: {', '.join(row.variables) or '-'}; segment budget: {row.budget}; "
                       f"status: {row.status}; now: {row.segments_now or '-'}")
        entry = polib.POEntry(msgctxt=row.slug, msgid=row.source, msgstr=row.target, tcomment=row.notes,
                              comment=comment)
        if row.status != "approved" and row.target:
            entry.flags.append("fuzzy")
        po.append(entry)
    po.save(str(path))


@dataclass
class ImportRow:
    """One returned row: where it came from (spreadsheet row or PO line) and what it says."""

    number: int
    slug: str
    language: str
    source: str | None
    fingerprint: str | None
    target: str
    status: str
    notes: str | None


@dataclass
class ImportReport:
    """Rows applied (added or updated), left unchanged, and refused with the reason."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "refused": self.refused, "dry_run": self.dry_run}


def read_rows(path: Path) -> list[ImportRow]:
    """Rows of a returned XLSX or PO file; raises Invalid for a file that is not one."""
    if not path.exists():
        raise Invalid(str(path), _("file not found"))
    if path.suffix.lower() == ".po":
        return _read_po(path)
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path)
    raise Invalid(str(path), _("expected a .xlsx or .po file"))


def _read_xlsx(path: Path) -> list[ImportRow]:
    try:
        sheet = load_workbook(path, read_only=True, data_only=False).worksheets[0]
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise Invalid(str(path), _("not a readable XLSX file: %(exc)s", exc=exc)) from exc
    rows = sheet.iter_rows(values_only=True)
    header = [str(h or "").strip() for h in next(rows, ())]
    missing = [c for c in ("slug", "language", "translation", "status") if c not in header]
    if missing:
        raise Invalid(str(path), _("missing column(s) %(missing)s in row 1", missing=", ".join(missing)))
    at = {name: header.index(name) for name in header if name}

    def get(values: tuple, name: str) -> str | None:
        i = at.get(name)
        value = values[i] if i is not None and i < len(values) else None
        return None if value is None else str(value)

    out = []
    for number, values in enumerate(rows, start=2):
        if not values or all(v is None for v in values):
            continue
        out.append(ImportRow(
            number=number, slug=(get(values, "slug") or "").strip(),
            language=(get(values, "language") or "").strip(), source=get(values, "source_es"),
            fingerprint=get(values, "source_fingerprint"), target=(get(values, "translation") or "").strip(),
            status=(get(values, "status") or "").strip(), notes=get(values, "notes"),
        ))
    return out


def _read_po(path: Path) -> list[ImportRow]:
    try:
        po = polib.pofile(str(path))
    except (OSError, ValueError) as exc:
        raise Invalid(str(path), _("not a readable PO file: %(exc)s", exc=exc)) from exc
    language = po.metadata.get("Language", "")
    return [
        ImportRow(number=entry.linenum, slug=entry.msgctxt or "", language=language, source=entry.msgid,
                  fingerprint=None, target=entry.msgstr.strip(),
                  status="needs_review" if "fuzzy" in entry.flags else "approved",
                  notes=entry.tcomment or None)
        for entry in po
    ]


def import_rows(
    session: Session, rows: list[ImportRow], *, now: datetime, reviewer: str | None = None,
    dry_run: bool = False, by: str = "translator",
) -> ImportReport:
    """Checks every row, then (unless `dry_run`) applies the valid ones. Flushes.

    Without `reviewer`, every changed row becomes needs_review. With `reviewer`, a row whose status
    says approved is approved by that reviewer.
    """
    report = ImportReport(dry_run=dry_run)
    registry = default_registry()
    messages = {m.slug: m for m in library.list_messages(session)}
    for row in rows:
        where = f"row {row.number} ({row.slug or '?'}/{row.language or '?'})"
        message = messages.get(row.slug)
        if message is None:
            report.refused.append(f"{where}: " + _("unknown message %(slug)s", slug=repr(row.slug)))
            continue
        if not row.language or row.language == library.SOURCE_LANGUAGE:
            report.refused.append(
                f"{where}: " + _("language must be a target language, not %(lang)s", lang=repr(row.language)))
            continue
        if row.language not in registry:
            report.refused.append(f"{where}: " + _("unknown language code %(lang)s", lang=repr(row.language)))
            continue
        source = library.source_body(message) or ""
        shown = exchange_text(message, _translation(message, library.SOURCE_LANGUAGE)) or ""
        stale = (row.fingerprint is not None and row.fingerprint != library.source_hash(source)) or (
            row.fingerprint is None and row.source is not None and row.source.strip() != shown.strip())
        if not row.target:
            report.unchanged += 1
            continue
        if stale:
            report.refused.append(
                f"{where}: " + _("the Spanish source changed since export (stale); export again"))
            continue
        target = normalize_text(row.target)
        script: list[dict] | None = None
        try:
            if is_radio(message):
                script = lines_to_script(target)
                target = spoken_text(script)
            used, expected = template_variables(target), template_variables(source)
        except Invalid as exc:
            report.refused.append(f"{where}: {exc if is_radio(message) else exc.reason}")
            continue
        if used != expected:
            report.refused.append(f"{where}: " + _(
                "variables %(used)s do not match the source's %(expected)s",
                used=sorted(used), expected=sorted(expected)))
            continue
        approve = bool(reviewer) and row.status == "approved"
        status = TranslationStatus.APPROVED if approve else TranslationStatus.NEEDS_REVIEW
        current = _translation(message, row.language)
        notes = (row.notes or "").strip() or None
        if current is not None and current.body == target and (script is None or current.script == script) \
                and (notes is None or notes == current.notes) \
                and not (approve and current.status != TranslationStatus.APPROVED):
            report.unchanged += 1
            continue
        (report.added if current is None else report.updated).append(f"{where}")
        if dry_run:
            continue
        if current is None:
            library.add_translation(session, message, language=row.language, body=target, status=status,
                                    now=now, by=by, reviewer=reviewer if approve else None, notes=notes,
                                    script=script)
            continue
        changed = library.set_body(session, current, body=target, now=now, by=by, status=status,
                                   script=script)
        if not changed and approve and current.status != TranslationStatus.APPROVED:
            library.mark_approved(current, by=reviewer, now=now)
        if notes is not None:
            current.notes = notes
        if approve:
            current.reviewer, current.reviewed_at = reviewer, now
    session.flush()
    return report
