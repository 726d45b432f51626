"""The `campaign` command line: root app, error handling, and registration of domain commands."""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, engine, info, print_table
from campaign.core.errors import AppError
from campaign.core.i18n import _, set_locale


class AppGroup(TyperGroup):
    """Turns domain errors into one clear line and a non-zero exit code (traceback with --debug)."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer's own Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            # typer's (vendored click's) own exits and usage errors: it prints them, exit 2
            raise
        except AppError as exc:
            if ctx.meta.get("campaign.debug"):
                raise
            typer.echo(_("error: %(message)s", message=exc), err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - the edge: anything else is one line too
            if ctx.meta.get("campaign.debug"):
                raise
            typer.echo(
                _(
                    "error: unexpected %(kind)s: %(message)s (run with --debug for details)",
                    kind=type(exc).__name__,
                    message=exc,
                ),
                err=True,
            )
            ctx.exit(70)


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
    set_locale(os.environ.get("CAMPAIGN_LOCALE") or _configured_locale())


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
    from campaign.schema import upgrade

    settings = get_settings()
    before, after = upgrade(engine(settings))
    with session_scope(settings) as session:
        ensure_builtin_segments(session)
    result = {"database": settings.masked()["database_url"], "from": before, "to": after}
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
    masked = get_settings().masked()
    if json_output:
        echo_json(masked)
    else:
        print_table(["setting", "value"], sorted(masked.items()))


def _register_domain_commands() -> None:
    from audiences.cli import app as audiences_app
    from campaign.blasts import cli as blasts_cli
    from campaign.hotline import cli as hotline_cli
    from campaign.radio import cli as radio_cli
    from campaign.web import cli as web_cli
    from messages.cli import app as messages_app

    app.add_typer(audiences_app, name="audiences", help="Contacts, imports, consent, segments.")
    app.add_typer(messages_app, name="messages", help="Message library, encoding, translations.")
    blasts_cli.register(app)
    web_cli.register(app)
    hotline_cli.register(app)
    radio_cli.register(app)


_register_domain_commands()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="campaign")
