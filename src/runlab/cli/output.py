"""Rendering for the terminal: rich tables and panels, timestamps, JSON.

rich is imported only when a command prints something, so ``runlab --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

#: Width used when stdout is not a terminal (pipes, tests), so long ids are never cut.
_PIPE_WIDTH = 200


def console() -> Console:
    """A console on the current stdout (looked up now, so test runners can capture it)."""
    from rich.console import Console

    out = sys.stdout
    return Console(file=out, width=None if out.isatty() else _PIPE_WIDTH, highlight=False)


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local ``YYYY-MM-DD HH:MM:SS``; ``-`` when missing."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    """A run's duration (``1.2s``, ``3m04s``, ``2h05m``); ``-`` while unknown."""
    if start_ms is None or end_ms is None:
        return "-"
    seconds = max(0.0, (end_ms - start_ms) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_value(value: Any) -> str:
    """A metric value compactly (``0.1235``, ``1.2e+06``, ``nan``)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    empty: str = "Nothing to show.",
) -> None:
    """Print rows under the given column headers, or ``empty`` when there are none."""
    from rich.table import Table

    rows = list(rows)
    out = console()
    if not rows:
        out.print(empty)
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def print_mapping(title: str, mapping: Mapping[str, Any]) -> None:
    """Print a two-column key/value table (skipped when the mapping is empty)."""
    if not mapping:
        return
    print_table(
        title,
        ["key", "value"],
        [(key, format_value(mapping[key])) for key in sorted(mapping)],
    )


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (plain, for scripts and ``jq``)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
