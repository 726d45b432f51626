"""`campaign messages ...`: load/dump packs, segments, lint, coverage, translator round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, info, print_table, session_scope, warn
from campaign.core.db import utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import default_registry
from messages.words import level_word, status_word

app = typer.Typer(no_args_is_help=True)


@app.command("load")
def load_command(
    directory: Annotated[Path | None, typer.Argument(help="Pack folder (default: shipped).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace bodies edited in the DB.")] = False,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import or update a content pack (idempotent; a pack with any error loads nothing)."""
    from messages.packload import load_pack

    with session_scope() as session:
        report = load_pack(session, directory, now=utcnow(), overwrite=overwrite)
    if json_output:
        echo_json(report.as_dict())
        return
    info(
        _(
            "pack %(pack)s: %(added)d added, %(changed)d changed, %(unchanged)d unchanged, "
            "%(versions)d new translation version(s)",
            pack=report.pack,
            added=len(report.added),
            changed=len(report.changed),
            unchanged=len(report.unchanged),
            versions=report.new_versions,
        )
    )
    for conflict in report.conflicts:
        warn(conflict)


@app.command("dump")
def dump_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write <slug>.yaml files into.")],
    pack: Annotated[str | None, typer.Option("--pack", help="Only messages of this pack.")] = None,
) -> None:
    """Write the library back out as a pack (same YAML schema as load)."""
    from messages.packload import dump_pack

    with session_scope() as session:
        written = dump_pack(session, directory, pack=pack)
    info(_("wrote %(num)d message file(s) to %(path)s", num=len(written), path=directory))


@app.command("segments")
def segments_command(
    text: Annotated[str | None, typer.Argument(help="The SMS text (or use --file / --batch).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the text from this file.")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Policy: exact, smart or fold.")] = "exact",
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL: one JSON string a line.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Skip NFC/apostrophe normalization.")] = False,
    json_output: bool = JSON_OPTION,
) -> None:
    """Encoding, segment count, characters and the characters that force UCS-2."""
    from messages.encoding import POLICIES, apply_policy
    from messages.rendering import normalize_text

    if encoding not in POLICIES:
        choices = ", ".join(POLICIES)
        raise Invalid("--encoding", _("%(value)r is not one of %(choices)s", value=encoding, choices=choices))
    prepare = (lambda s: s) if raw else normalize_text
    if batch is not None:
        texts = _read_batch(batch)
        for item in texts:
            typer.echo(json.dumps(apply_policy(prepare(item), encoding).as_dict(), ensure_ascii=False))
        return
    if file is not None:
        if not file.exists():
            raise Invalid("--file", _("%(path)s not found", path=file))
        text = file.read_text(encoding="utf-8").removesuffix("\n")
    if text is None:
        raise Invalid(_("text"), _("give the text, --file F or --batch F.jsonl"))
    result = apply_policy(prepare(text), encoding)
    if json_output:
        echo_json(result.as_dict())
        return
    print_table(["", ""], [
        (_("encoding"), result.encoding), (_("segments"), result.segments),
        (_("characters"), result.characters),
        (_("units"), result.units), (_("non-GSM characters"), " ".join(result.non_gsm) or "-"),
        (_("text sent"), result.text),
    ])


def _read_batch(path: Path) -> list[str]:
    if not path.exists():
        raise Invalid("--batch", _("%(path)s not found", path=path))
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = _("not JSON: %(error)s at column %(column)d", error=exc.msg, column=exc.colno)
            raise Invalid(_("%(file)s line %(number)d", file=path.name, number=number), reason) from None
        if not isinstance(value, str):
            kind = type(value).__name__
            raise Invalid(
                _("%(file)s line %(number)d", file=path.name, number=number),
                _("expected a JSON string, got %(kind)s", kind=kind),
            )
        texts.append(value)
    return texts


def _specs(pack_dir: Path | None) -> tuple[list, Path | None]:
    from messages.library import list_messages
    from messages.packload import message_to_spec
    from messages.packs import read_pack

    if pack_dir is not None:
        return list(read_pack(pack_dir).messages.values()), pack_dir
    with session_scope() as session:
        specs = [message_to_spec(m) for m in list_messages(session)]
    if not specs:
        raise Invalid(_("library"), _("no messages in the database: run `campaign messages load` first "
                                   "(or lint files with --pack DIR)"))
    return specs, None


PackOption = Annotated[Path | None, typer.Option("--pack", help="Check pack files in DIR, not the database.")]
KeywordsOption = Annotated[Path | None, typer.Option("--keywords", help="Pack dir with _keywords.yaml.")]


@app.command("lint")
def lint_command(pack: PackOption = None, keywords: KeywordsOption = None,
                 json_output: bool = JSON_OPTION) -> None:
    """Check every message and language; errors exit 1, warnings 0."""
    from messages.keywords import load_catalogue
    from messages.lint import has_errors, lint_specs

    settings = get_settings()
    specs, pack_dir = _specs(pack)
    findings = lint_specs(
        specs, catalogue=load_catalogue(keywords or pack_dir), defaults=settings.hotline_defaults,
        sensitive_words=settings.sensitive_words, registry=default_registry(),
    )
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    if json_output:
        echo_json({"errors": errors, "warnings": warnings, "findings": [f.as_dict() for f in findings]})
    else:
        shown = [f for f in findings if f.level != "info"]
        if shown:
            print_table([_("level"), _("message"), _("lang"), _("check"), _("detail")],
                        [(level_word(f.level), f.slug, f.language, f.code, f.message) for f in shown])
        info(
            _(
                "%(num)d message(s): %(errors)d error(s), %(warnings)d warning(s)",
                num=len(specs),
                errors=errors,
                warnings=warnings,
            )
        )
    if has_errors(findings):
        raise typer.Exit(1)


@app.command("coverage")
def coverage_command(pack: PackOption = None, json_output: bool = JSON_OPTION) -> None:
    """Translation status per message and language, with totals per language."""
    from messages.coverage import SOURCE_CHANGED, STATES, coverage

    specs, _pack_dir = _specs(pack)
    result = coverage(specs, default_registry().codes())
    if json_output:
        echo_json(result.as_dict())
        return
    def cell(slug: str, lang: str) -> str:
        state = status_word(result.cells[slug][lang])
        if result.reasons.get(slug, {}).get(lang) == SOURCE_CHANGED:
            return _("%(status)s (source changed)", status=state)
        return state

    print_table([_("message"), *result.languages],
                [(slug, *(cell(slug, lang) for lang in result.languages)) for slug in result.cells])
    print_table([_("language"), *(status_word(state) for state in STATES), _("complete")],
                [(lang, *(c[state] for state in STATES), _("yes") if result.complete(lang) else _("no"))
                 for lang, c in result.totals.items()])


@app.command("export-translations")
def export_command(
    lang: Annotated[str, typer.Option("--lang", help="Target language code (quc, kek, ...).")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    format: Annotated[
        str | None, typer.Option("--format", help="xlsx or po (default: from the --out extension).")
    ] = None,
    only: Annotated[str, typer.Option("--only", help="missing, changed or all.")] = "missing",
) -> None:
    """Write a spreadsheet (or PO file) for a translator: SMS messages and radio spots."""
    from messages.translations import export_format, export_rows, write_po, write_xlsx

    lang = default_registry().code_for(lang)
    format = export_format(out, format)
    settings = get_settings()
    with session_scope() as session:
        rows = export_rows(session, language=lang, only=only, defaults=settings.hotline_defaults)
    (write_xlsx if format == "xlsx" else write_po)(rows, out, language=lang)
    info(_("wrote %(num)d message(s) for %(lang)s to %(path)s", num=len(rows), lang=lang, path=out))


@app.command("import-translations")
def import_command(
    file: Annotated[Path, typer.Argument(help="The returned .xlsx or .po file.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; change nothing.")] = False,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Reviewer vouching for rows marked approved.")
    ] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Bring a translator's file back: changed rows only; stale or mismatched rows refused."""
    from messages.translations import import_rows, read_rows

    rows = read_rows(file)
    with session_scope() as session:
        report = import_rows(session, rows, now=utcnow(), reviewer=reviewer, dry_run=dry_run)
    if json_output:
        echo_json(report.as_dict())
    else:
        counts = {
            "added": len(report.added),
            "updated": len(report.updated),
            "unchanged": report.unchanged,
            "refused": len(report.refused),
        }
        if dry_run:
            info(_("would change: %(added)d added, %(updated)d updated; %(unchanged)d unchanged; "
                   "%(refused)d refused", **counts))
        else:
            info(_("changed: %(added)d added, %(updated)d updated; %(unchanged)d unchanged; "
                   "%(refused)d refused", **counts))
        for line in report.refused:
            typer.echo(_("refused %(line)s", line=line), err=True)
    if report.refused:
        raise typer.Exit(1)


@app.command("approve")
def approve_command(
    slug: Annotated[str, typer.Argument()],
    lang: Annotated[str, typer.Option("--lang")],
    by: Annotated[str, typer.Option("--by", help="Reviewer's name.")],
) -> None:
    """Mark a translation approved by a named reviewer."""
    from messages.library import approve

    with session_scope() as session:
        translation = approve(session, slug, lang, by=by, now=utcnow())
        version = translation.version
    info(_("%(slug)s/%(lang)s version %(version)d approved by %(by)s", slug=slug,
           lang=lang, version=version, by=by))


@app.command("list")
def list_command(json_output: bool = JSON_OPTION) -> None:
    """Every message with its channels and translation statuses."""
    from messages.library import list_messages

    with session_scope() as session:
        rows: list[dict[str, Any]] = [
            {"slug": m.slug, "topic": m.topic, "channels": m.channels, "flags": m.safety_flags,
             "translations": {t.language: str(t.status) for t in m.translations}}
            for m in list_messages(session)
        ]
    if json_output:
        echo_json(rows)
        return
    print_table([_("slug"), _("topic"), _("channels"), _("translations")],
                [(r["slug"], r["topic"], ",".join(r["channels"]),
                  " ".join(f"{k}:{status_word(v)}" for k, v in r["translations"].items())) for r in rows])


@app.command("show")
def show_command(slug: Annotated[str, typer.Argument()], json_output: bool = JSON_OPTION) -> None:
    """One message: its fields and every translation (body, status, version, segments)."""
    from messages.encoding import apply_policy
    from messages.library import get_message
    from messages.packload import message_to_spec
    from messages.packs import spec_to_dict
    from messages.rendering import render, sample_context

    settings = get_settings()
    registry = default_registry()
    with session_scope() as session:
        message = get_message(session, slug)
        data = spec_to_dict(message_to_spec(message))
        for t in message.translations:
            entry = data["translations"][t.language]
            entry["version"] = t.version
            if "sms" in message.channels and "radio" not in message.channels:
                try:
                    text = render(t.body, sample_context(settings.hotline_defaults, message.variables))
                    policy = registry.get(t.language).encoding_policy if t.language in registry else "exact"
                    sms = apply_policy(text, policy)
                    entry["sample"] = {"text": sms.text, "segments": sms.segments, "encoding": sms.encoding}
                except Invalid as exc:
                    entry["sample"] = {"error": exc.reason}
    if json_output:
        echo_json(data)
        return
    from messages.packs import to_yaml

    typer.echo(to_yaml(data))


@app.command("whatsapp")
def whatsapp_command(
    slug: Annotated[str, typer.Argument()],
    lang: Annotated[str, typer.Option("--lang")],
    content_sid: Annotated[str, typer.Option("--content-sid", help="Twilio Content SID (HX + 32 hex).")] = "",
    variables: Annotated[str, typer.Option("--variables", help='Placeholders: "1=organizacion".')] = "",
    category: Annotated[str, typer.Option("--category", help="marketing | utility | authentication.")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="Remove this language's template.")] = False,
) -> None:
    """Set the approved WhatsApp template (Twilio Content SID) of one language of a message."""
    from messages.library import get_message, get_translation, set_content_template
    from messages.whatsapp import parse_variables_text

    if not remove and not content_sid.strip():
        raise Invalid("--content-sid", _("give the Content SID, or --remove"))
    with session_scope() as session:
        message = get_message(session, slug)
        translation = get_translation(session, slug, lang)
        mapping = None if remove else parse_variables_text(variables, message.variables or [], "--variables")
        changed = set_content_template(session, translation, content_sid=None if remove else content_sid,
                                       variables=mapping, category=category.strip() or None, now=utcnow())
    if not changed:
        info(_("Nothing changed: the template is the same."))
    elif remove:
        info(_("%(slug)s/%(lang)s: WhatsApp template removed", slug=slug, lang=lang))
    else:
        info(_("%(slug)s/%(lang)s: WhatsApp template %(sid)s saved", slug=slug, lang=lang,
               sid=content_sid.strip()))
