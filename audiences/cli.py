"""`campaign audiences ...`: import, count, segments, consent, sample data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from campaign.core.console import JSON_OPTION, echo_json, info, print_table, progress, session_scope, warn
from campaign.core.db import utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import N_, _

if TYPE_CHECKING:  # pandas loads with the importer, only for the commands that import
    from audiences.importer import ImportSummary

app = typer.Typer(no_args_is_help=True)
segment_app = typer.Typer(no_args_is_help=True, help="Saved segments.")
app.add_typer(segment_app, name="segment")

# What the progress bar says during each stage of an import (audiences.importer.IMPORT_STAGES).
STAGE_WORDS = {
    "reading": N_("reading"),
    "validating": N_("validating"),
    "merging": N_("merging"),
    "writing": N_("writing"),
}
FILE_ARGUMENT = typer.Argument(..., help="CSV (any delimiter, UTF-8/Latin-1) or XLSX file.")
MAP_OPTION = typer.Option([], "--map", help="Override a column: HEADER=FIELD (repeatable).")
REPORT_OPTION = typer.Option(None, "--report", help="Write rejected rows (and warnings) to this CSV.")
OUT_OPTION = typer.Option(Path("sample.csv"), "--out", help="CSV file to write.")
TYPE_OPTION = typer.Option(
    [], "--type", help="Type of a new custom column: COLUMN=number|date|text (repeatable; default: inferred)."
)
DATE_ORDER_OPTION = typer.Option(
    None,
    "--date-order",
    help="How dates like 05/01/2027 are read: dmy, mdy or ymd (default: CAMPAIGN_DATE_ORDER).",
)


def _parse_map(pairs: list[str]) -> dict[str, str]:
    return _parse_pairs(pairs, "map", "HEADER=FIELD")


def _parse_pairs(pairs: list[str], option: str, shape: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        header, sep, target = pair.partition("=")
        if not sep or not header.strip() or not target.strip():
            raise Invalid(option, _("%(pair)r is not %(shape)s", pair=pair, shape=shape))
        mapping[header.strip()] = target.strip()
    return mapping


@app.command("import")
def import_command(
    file: Path = FILE_ARGUMENT,
    map_: list[str] = MAP_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; write nothing."),
    partial: bool = typer.Option(
        False, "--partial", help="Import the valid rows even if some are rejected (default: all or nothing)."
    ),
    report: Path | None = REPORT_OPTION,
    type_: list[str] = TYPE_OPTION,
    date_order: str | None = DATE_ORDER_OPTION,
    consent_source: str | None = typer.Option(
        None,
        "--consent-source",
        help="Where everyone in the file agreed to receive messages (form, event, ...), when the file "
        "has no consent column; a file with neither is refused.",
    ),
    by: str | None = typer.Option(
        None, "--by", help="Who is importing, recorded with each consent (default: the system user)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Import contacts from a CSV/XLSX file: all or nothing unless --partial; always a rejection report."""
    from audiences.importer import IMPORT_STAGES, import_file, write_report
    from campaign.core.config import get_settings

    mapping = _parse_map(map_)
    types = _parse_pairs(type_, "--type", "COLUMN=TYPE")
    order = date_order or get_settings().date_order
    with progress(_("Importing %(file)s", file=file.name), total=len(IMPORT_STAGES)) as advance:
        started: list[str] = []

        def on_stage(name: str) -> None:
            advance(1 if started else 0, description=f"{file.name}: {STAGE_WORDS.get(name, name)}")
            started.append(name)

        with session_scope() as session:
            summary = import_file(
                session,
                file,
                mapping=mapping,
                dry_run=dry_run,
                partial=partial,
                now=utcnow(),
                on_stage=on_stage,
                types=types,
                date_order=order,
                max_rows=get_settings().import_max_rows,
                consent_source=consent_source,
                imported_by=by or _system_user(),
            )
    if report is not None:
        write_report(report, summary)
    if json_output:
        echo_json(summary.as_dict())
        _fail_if_aborted(summary)
        return
    if summary.dry_run:
        title = _("Import of %(file)s (dry run: nothing written)", file=summary.file)
    elif summary.aborted:
        title = _("Import of %(file)s (rows rejected: nothing written)", file=summary.file)
    else:
        title = _("Import of %(file)s", file=summary.file)

    counted = (
        [_("imported"), _("updated"), _("unchanged")]
        if summary.stored
        else [
            _("would import"),
            _("would update"),
            _("would leave unchanged"),
        ]
    )
    print_table(
        [_("rows"), *counted, _("duplicates"), _("rejected"), _("warnings")],
        [
            [
                summary.rows,
                summary.imported,
                summary.updated,
                summary.unchanged,
                summary.duplicates,
                summary.rejected,
                summary.warnings,
            ]
        ],
        title=title,
    )
    if summary.consented or summary.without_consent:
        info(
            _(
                "Consent recorded for %(n)d contacts; %(m)d without consent (they get no campaign message)",
                n=summary.consented,
                m=summary.without_consent,
            )
        )
    if summary.custom_fields:
        from audiences.fields import type_label

        described = ", ".join(f"{k} ({type_label(v)})" for k, v in summary.custom_fields.items())
        info(_("Custom fields: %(fields)s", fields=described))
    if summary.rejected_by_reason:
        from audiences.reasons import reason_label

        print_table(
            [_("reason"), _("rows")],
            [(reason_label(reason), n) for reason, n in summary.rejected_by_reason.items()],
            title=_("Rejected by reason"),
        )
    if summary.report and report is None:
        warn(_("%(num)d problems; write them with --report rejects.csv", num=len(summary.report)))
    _fail_if_aborted(summary)


def _system_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return None


def _fail_if_aborted(summary: ImportSummary) -> None:
    if summary.aborted:
        raise Invalid(
            _("file"),
            _(
                "%(file)s: %(num)d rows rejected, nothing imported "
                "(fix them using the report, or import the valid rows with --partial)",
                file=summary.file,
                num=summary.rejected,
            ),
        )


@app.command("count")
def count_command(
    query: str = typer.Argument(..., help="A segment slug or a query, e.g. 'border = \"MX\" and age < 25'."),
    by: str | None = typer.Option(None, "--by", help="Break down by a field (language, department, ...)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Count the contacts a segment reaches, optionally broken down by a field."""
    from audiences.segments import count

    with session_scope() as session:
        result = count(session, query, today=utcnow().date(), by=by)
    if json_output:
        echo_json(result.as_dict())
        return
    info(_("%(num)d contacts match %(query)s", num=result.count, query=repr(result.slug or result.query)))
    if result.breakdown is not None:
        print_table(
            [_field_word(by), _("contacts")], ((_label(by, k), v) for k, v in result.breakdown.items())
        )


def _label(field: str | None, value: object) -> str:
    """A breakdown key as people read it: department and municipality codes get their names."""
    from audiences.geography import department_name, municipalities

    text = "" if value is None else str(value)
    if field == "department" and text.startswith("GT-"):
        return f"{text} {department_name(text)}"
    if field in {"municipality", "municipality_code"}:
        names = {m.code: m.name for m in municipalities()}
        return f"{text} {names.get(text, '')}".strip()
    return text or _("(none)")


def _field_word(field: str | None) -> str:
    """The name of a contact field as people read it (the import's words; else as written)."""
    from audiences.reasons import FIELDS

    if not field:
        return ""
    word = FIELDS.get(field)
    return str(word) if word is not None else field


@app.command("segments")
def segments_command(json_output: bool = JSON_OPTION) -> None:
    """List saved and built-in segments with their counts."""
    from audiences.segments import ensure_builtin_segments, list_segments

    today = utcnow().date()
    with session_scope() as session:
        ensure_builtin_segments(session)
        rows = [
            {
                "slug": s.slug,
                "name": s.name,
                "query": s.query,
                "builtin": s.builtin,
                "count": _count_or_reason(session, s.slug, today),
            }
            for s in list_segments(session)
        ]
    if json_output:
        echo_json(rows)
    else:
        print_table(
            [_("slug"), _("name"), _("count"), _("query")],
            [[r["slug"], r["name"], r["count"], r["query"]] for r in rows],
        )


def _count_or_reason(session: Any, slug: str, today: Any) -> int | str:
    """A segment's count, or why it cannot be counted (a field no import has brought yet)."""
    from audiences.segments import count

    try:
        return count(session, slug, today=today).count
    except Invalid as exc:
        return _("error: %(reason)s", reason=exc.reason)


@segment_app.command("add")
def segment_add_command(
    slug: str = typer.Argument(..., help="Short identifier, e.g. youth_san_marcos."),
    query: str = typer.Argument(..., help="Query in the segment language."),
    name: str = typer.Option(..., "--name", help="Human-readable name."),
    description: str | None = typer.Option(None, "--description"),
    json_output: bool = JSON_OPTION,
) -> None:
    """Save a named segment (the query is checked first)."""
    from audiences.segments import add_segment, count

    today = utcnow().date()
    with session_scope() as session:
        segment = add_segment(session, slug, query, name=name, description=description, today=today)
        n = count(session, segment.slug, today=today).count
    if json_output:
        echo_json({"slug": slug, "name": name, "query": query, "count": n})
    else:
        info(_("Saved segment %(slug)s (%(num)d contacts now).", slug=repr(slug), num=n))


@segment_app.command("edit")
def segment_edit_command(
    slug: str = typer.Argument(..., help="The saved segment to change."),
    query: str | None = typer.Option(None, "--query", help="New query in the segment language."),
    name: str | None = typer.Option(None, "--name", help="New human-readable name."),
    description: str | None = typer.Option(None, "--description", help="New description ('' clears it)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Change a saved segment's query, name or description (built-in segments are read-only)."""
    from audiences.segments import count, edit_segment

    if query is None and name is None and description is None:
        raise Invalid("--query", _("say what to change: --query, --name or --description"))
    today = utcnow().date()
    with session_scope() as session:
        segment = edit_segment(session, slug, today=today, query=query, name=name, description=description)
        result: dict[str, Any] = {"slug": segment.slug, "name": segment.name, "query": segment.query}
        result["count"] = count(session, segment.slug, today=today).count
    if json_output:
        echo_json(result)
    else:
        info(_("Segment %(slug)s saved (%(num)d contacts now).", slug=slug, num=result["count"]))


@segment_app.command("remove")
def segment_remove_command(
    slug: str = typer.Argument(..., help="The saved segment to remove."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove a saved segment (refused for built-in ones and for one a campaign still uses)."""
    from audiences.segments import remove_segment

    with session_scope() as session:
        remove_segment(session, slug)
    if json_output:
        echo_json({"slug": slug, "removed": True})
    else:
        info(_("Segment %(slug)s removed.", slug=slug))


@app.command("opt-out")
def opt_out_command(
    phone: str = typer.Argument(..., help="Phone number, any usual format."),
    source: str | None = typer.Option(None, "--source", help="Where the request came from."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record an opt-out: the contact receives no more blasts."""
    from audiences.consent import find_contact, opt_out
    from audiences.phones import mask_phone

    with session_scope() as session:
        contact = find_contact(session, phone)
        opt_out(session, contact, channel="cli", source=source, now=utcnow())
        result = {"phone": mask_phone(contact.phone), "status": str(contact.status)}
    echo_json(result) if json_output else info(_("%(phone)s opted out.", phone=result["phone"]))


@app.command("opt-in")
def opt_in_command(
    phone: str = typer.Argument(..., help="Phone number, any usual format."),
    source: str = typer.Option(..., "--source", help="Where consent was given (form, event, ...)."),
    whatsapp: bool = typer.Option(
        False, "--whatsapp", help="The person also agreed to receive messages by WhatsApp."
    ),
    prefer: str | None = typer.Option(
        None, "--prefer", help="The channel the person prefers: sms or whatsapp (none: no preference)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record an opt-in (creates the contact if unknown)."""
    from audiences.consent import WHATSAPP_CHANNEL, find_or_create_contact, opt_in, set_preferred_channel
    from audiences.phones import mask_phone

    now = utcnow()
    with session_scope() as session:
        contact = find_or_create_contact(session, phone, now=now)
        opt_in(session, contact, channel="cli", source=source, now=now)
        if whatsapp:
            opt_in(session, contact, channel=WHATSAPP_CHANNEL, source=source, now=now)
        if prefer is not None:
            set_preferred_channel(contact, prefer)
        result = {"phone": mask_phone(contact.phone), "status": str(contact.status)}
    if json_output:
        echo_json(result)
    else:
        info(_("%(phone)s opted in (%(source)s).", phone=result["phone"], source=source))


@app.command("sample")
def sample_command(
    n: int = typer.Option(5000, "--n", min=1, help="Number of rows."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same file)."),
    out: Path = OUT_OPTION,
) -> None:
    """Write a SYNTHETIC sample audience CSV (made-up people and numbers) for demos and tests."""
    from audiences.sample import SYNTHETIC_NOTICE, write_csv

    path = write_csv(out, n, seed)
    info(_("Wrote %(num)d rows to %(path)s.", num=n, path=path) + f" {SYNTHETIC_NOTICE}")
