"""Options and helpers shared by every command: the tracking URI, the client, view types."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runlab.tracking.client import Client

F = TypeVar("F", bound=Callable[..., Any])

TRACKING_URI_HELP = (
    "Tracking URI (sqlite:///file.db, postgresql://…, mysql://…, or a folder). "
    "Default: $RUNLAB_TRACKING_URI, else $MLFLOW_TRACKING_URI, else runlab.db in the "
    "working directory."
)

VIEW_CHOICES = ("active_only", "deleted_only", "all")


def tracking_uri_option(func: F) -> F:
    """Add ``--tracking-uri`` to a command (every command has it)."""
    return click.option(
        "--tracking-uri",
        "tracking_uri",
        default=None,
        metavar="URI",
        help=TRACKING_URI_HELP,
    )(func)


def view_option(func: F) -> F:
    """Add ``--view`` (active_only, deleted_only, all) to a listing command."""
    return click.option(
        "--view",
        "view",
        type=click.Choice(VIEW_CHOICES, case_sensitive=False),
        default="active_only",
        show_default=True,
        help="Which lifecycle stages to list.",
    )(func)


def positive_int_option(name: str, *, help: str) -> Callable[[F], F]:
    """An option taking a whole number of at least 1 (shown as ``N``); None when it is not given.

    For limits and counts whose default the command decides (and names in ``help``).
    """
    return click.option(name, type=click.IntRange(min=1), default=None, metavar="N", help=help)


def make_client(tracking_uri: str | None) -> Client:
    """The client for ``--tracking-uri``, or for the URI the fluent API would use.

    ``Client(None)`` resolves the URI exactly like ``runlab.get_tracking_uri()``: code, then
    ``RUNLAB_TRACKING_URI``, then ``MLFLOW_TRACKING_URI``, then the embedded default.
    """
    from runlab.tracking.client import Client

    return Client(tracking_uri=tracking_uri)


def view_type(view: str) -> int:
    """The ViewType number for a ``--view`` choice."""
    from runlab.entities import ViewType

    return ViewType.from_string(view)


class OneLineErrors(click.Command):
    """A command whose bad or missing options end in one ``Error: …`` line and exit code 1.

    click reports them as usage errors (exit 2, the usage text first). These commands (the
    server, the scoring server, deployments) are mostly started by scripts, CI jobs and service
    managers, where one line naming the option reads best in a log and one exit code for "did
    not start" is easiest to check. The line points at the command's own help, by its full path.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the options; a usage error becomes a one-line :class:`click.ClickException`."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            # The path below the root, under the name users type (the root's own name is
            # whatever started the program: `runlab`, `python -m runlab.cli`, a test runner).
            below = parent.command_path.split()[1:] if parent is not None else []
            path = " ".join(["runlab", *below, self.name or ""])
            raise click.ClickException(f"{exc.format_message()} (see `{path} --help`)") from None
