"""The `campaign` command line: root app, error handling, and registration of domain commands."""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

import campaign.schema  # noqa: F401 - every entry point loads the whole model registry
from campaign.cli_usage import (
    CampaignUsageError,
    ClickException,
    UsageError,
    draw_help_translated,
    is_help_request,
    make_readable,
    unknown_command,
    usage_error,
)
from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, engine, info, print_table, warn
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _, set_locale

UNEXPECTED_EXIT_CODE = 70


class AppGroup(TyperGroup):
    """The root of `campaign` (and, once built, of every subgroup).

    Domain errors become one clear line and their exit code; usage errors (missing or unknown
    argument, option or command, bad value, an `Invalid` naming a `--option`) print the usage and
    one line and exit 2; anything else is one line and exit 70 (traceback with --debug). Help is
    drawn in the locale the root chose (campaign.cli_usage.draw_help_translated).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adopt_subgroups(self)
        make_readable(self)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if parent is None:  # the root: speak the user's language from the first line on (--help too)
            set_locale(os.environ.get("CAMPAIGN_LOCALE") or _configured_locale())
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            if is_help_request(exc):
                raise
            _exit_with_usage(usage_error(exc))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        draw_help_translated(ctx)
        super().format_help(ctx, formatter)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            _exit_with_usage(CampaignUsageError(unknown_command(name, self.list_commands(ctx)), ctx))
        resolved = super().resolve_command(ctx, args)
        ctx.campaign_resolved = resolved[:2]  # for the usage line of an error raised inside it
        return resolved

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except UsageError as exc:
            if is_help_request(exc):
                raise
            _exit_with_usage(usage_error(exc))
        except ClickException:
            raise
        except Invalid as exc:
            if exc.field.startswith("--") and not ctx.meta.get("campaign.debug"):
                _exit_with_usage(CampaignUsageError(str(exc), _command_context(ctx)))
            return self._fail(ctx, exc, exc.exit_code)
        except AppError as exc:
            return self._fail(ctx, exc, exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - the edge: anything else is one line too
            if ctx.meta.get("campaign.debug"):
                raise
            if _missing_schema(exc):
                typer.echo(
                    _(
                        "error: the database %(url)s has no tables yet (or an older schema): "
                        "run `campaign init` first",
                        url=get_settings().masked()["database_url"],
                    ),
                    err=True,
                )
                ctx.exit(1)
            typer.echo(
                _(
                    "error: unexpected %(kind)s: %(message)s (run with --debug for details)",
                    kind=type(exc).__name__,
                    message=exc,
                ),
                err=True,
            )
            ctx.exit(UNEXPECTED_EXIT_CODE)

    @staticmethod
    def _fail(ctx: Any, exc: AppError, code: int) -> None:
        if ctx.meta.get("campaign.debug"):
            raise exc
        message = f"{exc.message} ({exc.cli_hint})" if exc.cli_hint else exc.message
        typer.echo(_("error: %(message)s", message=message), err=True)
        ctx.exit(code)


def _missing_schema(exc: Exception) -> bool:
    """A database error saying a table does not exist (SQLite or PostgreSQL)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    text = str(exc)
    return isinstance(exc, OperationalError | ProgrammingError) and (
        "no such table" in text or ("relation" in text and "does not exist" in text)
    )


def _exit_with_usage(error: CampaignUsageError) -> None:
    """Shows a usage error our way (usage line + one line) and exits 2."""
    error.show()
    raise typer.Exit(error.exit_code)


def _command_context(ctx: Any) -> Any:
    """A context of the subcommand `ctx` ran, for its usage line (`ctx` itself if none)."""
    name, command = getattr(ctx, "campaign_resolved", (None, None))
    if command is None:
        return ctx
    return command.make_context(name, [], parent=ctx, resilient_parsing=True)


def _adopt_subgroups(group: TyperGroup) -> None:
    """Subgroups built by typer (audiences, messages, radio, ...) handle errors like the root."""
    for sub in group.commands.values():
        if type(sub) is TyperGroup:
            sub.__class__ = AppGroup
            _adopt_subgroups(sub)


app = typer.Typer(
    cls=AppGroup,
    no_args_is_help=True,
    help="Awareness-campaign content and SMS outreach engine.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    ctx.meta["campaign.debug"] = debug


def _configured_locale() -> str | None:
    try:
        return get_settings().locale
    except AppError:  # a bad setting is reported by the command that reads it, in the default locale
        return None


@app.command("init")
def init_command(json_output: bool = JSON_OPTION) -> None:
    """Create or upgrade the database to the latest schema (safe to run again)."""
    from audiences.segments import ensure_builtin_segments
    from campaign.core.console import session_scope
    from campaign.core.crypto import ensure_key_file
    from campaign.schema import upgrade

    settings = get_settings()
    created_keys = ensure_key_file(settings)
    before, after = upgrade(engine(settings))
    with session_scope(settings) as session:
        ensure_builtin_segments(session)
    result = {"database": settings.masked()["database_url"], "from": before, "to": after,
              "key_file_created": str(settings.key_file) if created_keys else None}
    if created_keys:
        warn(_("Created the key file %(path)s (mode 0600): back it up somewhere safe; without it the "
               "personal data in the database cannot be read.", path=settings.key_file))
    if json_output:
        echo_json(result)
    elif before == after:
        info(_("Database is up to date (revision %(revision)s).", revision=after))
    else:
        info(
            _(
                "Database upgraded from %(before)s to %(after)s.",
                before=before or _("empty"),
                after=after,
            )
        )


@app.command("config")
def config_command(json_output: bool = JSON_OPTION) -> None:
    """Print the effective settings (secrets masked)."""
    from campaign.core.crypto import SOURCE_FILE, key_source

    settings = get_settings()
    masked = settings.masked()
    source, path = key_source(settings)
    masked["keys"] = (
        _("key file %(path)s", path=path) if source == SOURCE_FILE
        else _("environment (CAMPAIGN_DATA_KEY, CAMPAIGN_INDEX_KEY)")
    )
    if json_output:
        echo_json(masked)
    else:
        print_table([_("setting"), _("value")], sorted(masked.items()))
    if source == SOURCE_FILE:
        warn(_("The personal data is encrypted with the keys in %(path)s: back that file up (and keep "
               "it apart from database backups); without it the data cannot be read.", path=path))


def _register_domain_commands() -> None:
    from audiences.cli import app as audiences_app
    from campaign.blasts import cli as blasts_cli
    from campaign.hotline import cli as hotline_cli
    from campaign.privacy import cli as privacy_cli
    from campaign.radio import cli as radio_cli
    from campaign.web import cli as web_cli
    from messages.cli import app as messages_app

    app.add_typer(audiences_app, name="audiences", help="Contacts, imports, consent, segments.")
    app.add_typer(messages_app, name="messages", help="Message library, encoding, translations.")
    blasts_cli.register(app)
    web_cli.register(app)
    hotline_cli.register(app)
    radio_cli.register(app)
    privacy_cli.register(app)


_register_domain_commands()


def main() -> None:
    """Console-script entry point. Files it writes (database, key file, exports, reports) are
    readable by their owner only: they hold personal data."""
    from campaign.core.logs import install_redaction

    os.umask(0o077)
    install_redaction()
    app(prog_name="campaign")
