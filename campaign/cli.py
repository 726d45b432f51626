"""The `campaign` command line: root app, error handling, and registration of domain commands."""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, engine, info, print_table
from campaign.core.errors import AppError


class AppGroup(TyperGroup):
    """Turns domain errors into one clear line and a non-zero exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, typer.Exit, click.ClickException, click.Abort):
            raise
        except AppError as exc:
            if ctx.meta.get("campaign.debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - the edge: anything else is one line too
            if ctx.meta.get("campaign.debug"):
                raise
            click.echo(
                f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
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
        info(f"Database is up to date (revision {after}).")
    else:
        info(f"Database upgraded from {before or 'empty'} to {after}.")


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
