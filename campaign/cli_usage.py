"""Usage errors and help for people: one usage line, one error line, exit 2; types shown in words.

Typer (>= 0.2x) vendors its own copy of click, so its exceptions are not `click`'s: this module
names them through typer and falls back to click's when an older typer uses click itself.
Contract:
- `usage_error(exc)` turns any usage error (missing argument or option, unknown command or option,
  bad value) into a `CampaignUsageError` that prints `Usage: ...` and `error: ...` (translated)
  and exits 2; `--help` requests (no arguments given to a group) pass through untouched.
- `make_readable(command)` walks a built command tree once: arguments show as `FILE`, `SLUG`
  in the usage line (not `{file}`), flags show no type (not `<bool>`), values show `TEXT`,
  `INTEGER`, `PATH` or their choices.
- Help is drawn in the current locale: the English texts written in the code (typer `help=`
  strings, command docstrings) are the msgids (tools/i18n.py extracts them); `translate_help`
  translates the built command tree in place when a help screen is drawn (`draw_help_translated`), after
  the root command has chosen the locale. One source of truth, no import-order dependence, and
  nothing to load for a command that shows no help.
"""

from __future__ import annotations

import difflib
from typing import IO, Any

import typer
import typer.core

from campaign.core.i18n import N_, _, get_locale

try:  # typer >= 0.2x: a vendored click
    from typer._click import exceptions as _exceptions
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as _exceptions  # type: ignore[no-redef]

UsageError = _exceptions.UsageError
ClickException = _exceptions.ClickException
USAGE_EXIT_CODE = 2


class CampaignUsageError(UsageError):
    """A usage error shown as the command's usage line and one translated `error:` line."""

    exit_code = USAGE_EXIT_CODE

    def show(self, file: IO[Any] | None = None) -> None:
        if self.ctx is None:
            typer.echo(_("error: %(message)s", message=self.message), err=True)
            return
        draw_help_translated(self.ctx)  # the usage line's own words
        typer.echo(self.ctx.get_usage(), err=True)
        typer.echo(
            _(
                "error: %(message)s (see '%(command)s --help')",
                message=self.message,
                command=self.ctx.command_path,
            ),
            err=True,
        )


def is_help_request(exc: BaseException) -> bool:
    """A group called without a command prints its help: not an error to rewrite."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def usage_error(exc: Any) -> CampaignUsageError:
    """The usage error to show for a framework usage error `exc` (same context)."""
    return CampaignUsageError(_describe(exc), getattr(exc, "ctx", None))


def _describe(exc: Any) -> str:
    name = type(exc).__name__
    param = getattr(exc, "param", None)
    if name == "MissingParameter" and param is not None:
        if param.param_type_name == "argument":
            return _("missing argument %(name)s", name=_display_name(param))
        return _("missing option %(name)s", name=_option_name(param))
    if name == "NoSuchOption":
        option = getattr(exc, "option_name", "")
        possibilities = sorted(getattr(exc, "possibilities", None) or ())
        if possibilities:
            return _(
                "no such option %(name)s; did you mean %(close)s?",
                name=option,
                close=", ".join(possibilities),
            )
        return _("no such option %(name)s", name=option)
    if name == "BadParameter" and param is not None:
        where = _display_name(param) if param.param_type_name == "argument" else _option_name(param)
        return _("invalid value for %(name)s: %(reason)s", name=where, reason=exc.message)
    return str(exc.format_message())


def unknown_command(name: str, known: list[str]) -> str:
    """The error line for an unknown command `name`, suggesting the closest known ones."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return _("unknown command %(name)r; did you mean %(close)s?", name=name, close=", ".join(close))
    return _("unknown command %(name)r; the commands are %(known)s", name=name, known=", ".join(known))


def _display_name(param: Any) -> str:
    return str(param.metavar or param.name.upper())


def _option_name(param: Any) -> str:
    longest = sorted(param.opts, key=len)[-1] if param.opts else param.name
    return str(longest)


# --- help: types in words ---------------------------------------------------------------------


def _type_words(param: Any) -> str | None:
    """How a value is written, for the help table: `TEXT`, `INTEGER`, `a|b|c`, or None (flags)."""
    if getattr(param, "is_flag", False):
        return None
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices is not None:
        return "|".join(str(getattr(c, "value", c)) for c in descriptor.choices)
    if descriptor.is_path:
        word = _("PATH")
    else:
        annotation = descriptor.annotation
        inner = getattr(annotation, "__args__", None) if descriptor.is_list else None
        base = inner[0] if inner else annotation
        word = {
            int: _("INTEGER"),
            float: _("NUMBER"),
        }.get(base, _("TEXT"))
    if descriptor.is_list:
        word += " " + _("(repeatable)")
    return word


class ReadableArgument(typer.core.TyperArgument):
    """An argument shown as `FILE` (required) or `[FILE]` (optional) in the usage line."""

    @property
    def display_name_raw(self) -> str:
        return str(self.metavar or (self.name or "").upper())

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return _type_words(self)


class ReadableOption(typer.core.TyperOption):
    """An option whose value type shows in words; a flag shows none."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        return _type_words(self)


# --- help: in the user's language ----------------------------------------------------------------

# Typer's own words in the help screens (module attributes of typer.rich_utils, read when drawn).
_FRAMEWORK_WORDS = {
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "DEPRECATED_STRING": N_("(deprecated) "),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
}
# The --help option's own help, as click writes it (translated with the rest by _translate_tree).
_HELP_OPTION_TEXT = N_("Show this message and exit.")
# The usage line's own words: its prefix (written by the help formatter) and the commands'
# placeholders for options and subcommands.
_USAGE_WORD = N_("Usage:")
_OPTIONS_METAVAR = N_("[OPTIONS]")
_SUBCOMMAND_METAVAR = N_("COMMAND [ARGS]...")


def _translate_usage_prefix() -> None:
    """The help formatter's "Usage: " prefix in the current locale (typer's own copy of click
    writes it as a literal; drawn when the line is written, so one patch serves every locale)."""
    import importlib

    try:
        formatting = importlib.import_module("typer._click.formatting")
    except ImportError:  # pragma: no cover - a typer that uses click itself
        formatting = importlib.import_module("click.formatting")
    formatter = formatting.HelpFormatter
    if getattr(formatter.write_usage, "_campaign_translated", False):
        return
    original = formatter.write_usage

    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        original(self, prog, args, f"{_USAGE_WORD} " if prefix is None else prefix)

    write_usage._campaign_translated = True  # type: ignore[attr-defined]
    formatter.write_usage = write_usage


def _translated(owner: Any, attribute: str) -> None:
    """Sets `owner.attribute` to its English original (kept on first call) in the current locale."""
    key = f"_campaign_english_{attribute}"
    original = owner.__dict__.get(key) if hasattr(owner, "__dict__") else None
    if original is None:
        original = getattr(owner, attribute, None)
        if not isinstance(original, str) or not original:
            return
        setattr(owner, key, original)
    setattr(owner, attribute, _(original))


def translate_help(command: Any) -> None:
    """The help texts of `command`, its parameters and its subcommands in the current locale (in
    place; English texts with no Spanish form stay as written, and tools/i18n.py check lists them)."""
    import importlib

    if getattr(command, "_campaign_help_locale", None) == get_locale():
        return
    command._campaign_help_locale = get_locale()

    _translate_usage_prefix()
    try:
        rich_utils = importlib.import_module("typer.rich_utils")
    except ImportError:  # pragma: no cover - typer without rich prints its own English words
        pass
    else:
        for name, words in _FRAMEWORK_WORDS.items():
            setattr(rich_utils, name, str(words))
    _translate_tree(command)


def _translate_tree(command: Any) -> None:
    _translated(command, "help")
    _translated(command, "short_help")
    _translated(command, "options_metavar")
    if hasattr(command, "subcommand_metavar"):
        _translated(command, "subcommand_metavar")
    help_option = getattr(command, "_help_option", None)
    for param in [*getattr(command, "params", ()), help_option]:
        if param is not None:
            _translated(param, "help")
    for sub in getattr(command, "commands", {}).values():
        _translate_tree(sub)


def draw_help_translated(ctx: Any) -> None:
    """Before a help screen is drawn: the whole command tree's help in the current locale."""
    translate_help(ctx.find_root().command)


class ReadableCommand(typer.core.TyperCommand):
    """A leaf command whose help screen is drawn in the current locale."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        draw_help_translated(ctx)
        super().format_help(ctx, formatter)


def make_readable(command: Any) -> None:
    """Gives every parameter of `command` and its subcommands the readable display, and every leaf
    command its help in the current locale (in place)."""
    if type(command) is typer.core.TyperCommand:
        command.__class__ = ReadableCommand
    command.get_help_option(typer.Context(command))  # created on demand: create it now
    for param in [*getattr(command, "params", ()), getattr(command, "_help_option", None)]:
        if type(param) is typer.core.TyperArgument:
            param.__class__ = ReadableArgument
        elif type(param) is typer.core.TyperOption:
            param.__class__ = ReadableOption
    for sub in getattr(command, "commands", {}).values():
        make_readable(sub)
