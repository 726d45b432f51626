"""`campaign privacy purge`, `campaign privacy erase PHONE`, `campaign keys rotate`."""

from __future__ import annotations

import typer

from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, engine, info, print_table, session_scope, warn
from campaign.core.db import utcnow
from campaign.core.i18n import _

privacy_app = typer.Typer(no_args_is_help=True, help="Retention and erasure of personal data.")
keys_app = typer.Typer(no_args_is_help=True, help="The keys that encrypt personal data.")


@privacy_app.command("purge")
def purge_command(json_output: bool = JSON_OPTION) -> None:
    """Apply the retention settings now and print what was removed (the scheduler runs it daily)."""
    from campaign.privacy.retention import purge

    settings = get_settings()
    with session_scope(settings) as session:
        result = purge(session, now=utcnow(), settings=settings)
    if json_output:
        echo_json(result.as_dict())
        return
    labels = {
        "inbound_texts": _(
            "texts of received messages emptied (older than %(days)d days)", days=settings.retention_body_days
        ),
        "outbound_texts": _(
            "texts of sent messages emptied (older than %(days)d days)", days=settings.retention_body_days
        ),
        "cases_anonymized": _(
            "cases anonymized (resolved more than %(days)d days ago)", days=settings.retention_case_days
        ),
        "case_notes": _("case notes deleted"),
        "media_files": _(
            "voice notes and images of contacts deleted (received more than %(days)d days ago, or in "
            "anonymized cases)",
            days=settings.retention_body_days,
        ),
        "import_rejections": _(
            "rows of import reports deleted (older than %(days)d days)",
            days=settings.retention_import_report_days,
        ),
    }
    print_table([_("removed"), _("count")], [[labels[k], v] for k, v in result.as_dict().items()])
    if not result.total:
        info(_("Nothing was due for removal."))


@privacy_app.command("erase")
def erase_command(
    phone: str = typer.Argument(..., help="Phone number of the person, any usual format."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Erase a person: their contact, messages, cases and notes. Their number stays opted out."""
    from campaign.privacy.erasure import erase

    if not yes and not typer.confirm(_("Erase this person and everything about them? This cannot be undone")):
        raise typer.Exit(1)
    settings = get_settings()
    with session_scope(settings) as session:
        result = erase(session, phone, now=utcnow(), actor="cli", settings=settings)
    if json_output:
        echo_json(result.as_dict())
        return
    info(
        _(
            "Erased contact %(id)d: %(inbound)d received and %(outbound)d sent messages, %(cases)d cases, "
            "%(notes)d notes. The number stays opted out (kept only as a keyed hash).",
            id=result.contact_id,
            inbound=result.inbound,
            outbound=result.outbound,
            cases=result.cases,
            notes=result.case_notes,
        )
    )
    if result.media_files:
        info(_("Voice notes and images deleted: %(num)d.", num=result.media_files))


@keys_app.command("rotate")
def rotate_command(
    batch: int = typer.Option(2000, "--batch", min=1, help="Rows re-encrypted per transaction."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Re-encrypt every personal value under a new data key, in batches; run again to resume."""
    from campaign.privacy.keys import rotate

    settings = get_settings()
    result = rotate(engine(settings), settings, batch=batch)
    if json_output:
        echo_json(result.as_dict())
        return
    if result.new_key:
        info(_("New data key %(id)s written to %(path)s.", id=result.key_id, path=settings.key_file))
    print_table([_("table"), _("values re-encrypted")], sorted(result.reencrypted.items()))
    if result.retired:
        info(
            _(
                "Old keys removed from the key file: %(ids)s. Back the key file up again.",
                ids=", ".join(result.retired),
            )
        )
    if result.old_keys_in_environment:
        warn(
            _(
                "Every value is now under key %(id)s: remove the old keys from CAMPAIGN_DATA_KEY.",
                id=result.key_id,
            )
        )
    elif not result.new_key and not result.retired and not sum(result.reencrypted.values()):
        info(
            _(
                "Every value is under key %(id)s already. To rotate, put a new key first in "
                "CAMPAIGN_DATA_KEY (new,old) and run again.",
                id=result.key_id,
            )
        )


@keys_app.command("new")
def new_key_command() -> None:
    """Print a fresh random key (for CAMPAIGN_DATA_KEY or CAMPAIGN_INDEX_KEY; never the same one)."""
    from campaign.core.crypto import new_key

    typer.echo(new_key())


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy", help="Retention and erasure of personal data.")
    app.add_typer(keys_app, name="keys", help="The keys that encrypt personal data.")
