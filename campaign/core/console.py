"""Shared CLI plumbing: output as Rich tables or JSON, progress bars, one unit of work per command.

Leaf module (imports only config and db) so that `audiences/cli.py` and `messages/cli.py` can use
it without depending on the campaign domain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaign.core.config import Settings, get_settings
from campaign.core.db import make_engine, unit_of_work

JSON_OPTION = typer.Option(False, "--json", help="Print a JSON document instead of a table.")


def console() -> Console:
    """A console bound to the current stdout (so test runners capture it).

    Piped output (make, logs, CI) would otherwise be cut to 80 columns and truncate table cells.
    """
    out = Console(soft_wrap=True, highlight=False)
    if not out.is_terminal:
        out.width = 160
    return out


def echo_json(data: Any) -> None:
    """Prints `data` as pretty JSON (UTF-8, dates as ISO strings)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """Prints rows as a Rich table with the given column headers."""
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)


def info(message: str) -> None:
    """One line of human-readable output (Rich markup allowed)."""
    console().print(message)


def warn(message: str) -> None:
    """One warning line on stderr."""
    from campaign.core.i18n import _

    prefix = _("warning:")
    Console(stderr=True, highlight=False).print(f"[yellow]{prefix}[/yellow] {message}")


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr for long work; yields `advance(n=1, description=None)`.

    Hidden when stderr is not a terminal (scripts and logs get the summary only).
    """
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            if description is not None:
                bar.update(task, description=description)
            bar.advance(task, n)

        yield advance


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    from campaign.core.crypto import ensure_active

    settings = settings or get_settings()
    ensure_active(settings)
    return _engine_for(settings.database_url)


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """One unit of work for one CLI command: commit on success, roll back on error."""
    with unit_of_work(engine(settings)) as session:
        yield session


YES_WORDS = frozenset({"y", "yes", "s", "si", "sí"})


def ask_yes_no(question: str) -> bool:
    """Asks on the terminal; only an explicit yes (y, yes, s, sí) is yes, anything else (or EOF) no."""
    from campaign.core.i18n import _

    choices = _("[y/N]")
    try:
        answer = typer.prompt(f"{question} {choices}", default="", show_default=False, prompt_suffix=" ")
    except (EOFError, typer.Abort):
        return False
    return answer.strip().lower() in YES_WORDS


def in_words(value: Any, *, label: Callable[[Any], str] = str) -> str:
    """A value for a table cell people read: a mapping as "sent 12, failed 1" (zeros and empty
    parts left out; each key through `label`, e.g. a code in the user's language), a list as
    "a, b", nothing as "-"; never a Python repr."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        empty: tuple[Any, ...] = (0, None, [], {}, "")
        parts = [
            f"{label(key)} {in_words(item, label=label)}" for key, item in value.items() if item not in empty
        ]
        return ", ".join(parts) or "-"
    if isinstance(value, list | tuple | set):
        return ", ".join(in_words(item, label=label) for item in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
