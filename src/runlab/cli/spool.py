"""``runlab spool``: records kept on disk while a tracking server was unreachable."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def spool() -> None:
    """Deliver records that were spooled while a tracking server was away.

    When a run logs to a server that stays unreachable past RUNLAB_FLUSH_TIMEOUT, the unsent
    records are kept in a spool file (under RUNLAB_SPOOL_DIR); these commands list and send them.
    """


@spool.command("list")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Spool folder.")
def list_spools(directory: Path | None) -> None:
    """List spool files waiting to be delivered, oldest first."""
    from runlab.tracking.spool import pending_spools, spool_dir

    files = pending_spools(directory)
    if not files:
        click.echo(f"No spool files in {directory or spool_dir()}.")
        return
    for path in files:
        click.echo(str(path))


@spool.command("deliver")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tracking-uri",
    help="Send to this server instead of the one recorded in each spool file.",
)
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Spool folder.")
def deliver_spools(
    paths: tuple[Path, ...], tracking_uri: str | None, directory: Path | None
) -> None:
    """Send spooled records to their tracking server (every waiting file when no PATH is given)."""
    from runlab.tracking.spool import deliver, pending_spools

    files = list(paths) or pending_spools(directory)
    if not files:
        click.echo("Nothing to deliver.")
        return
    refused = 0
    for path in files:
        result = deliver(path, tracking_uri=tracking_uri)
        sent = result.sent
        click.echo(
            f"{path}: sent {sent.metrics} metric points, {sent.params} params, {sent.tags} tags "
            f"and {sent.run_ends} run ends to {result.tracking_uri}."
        )
        for reason in result.rejected:
            refused += 1
            click.echo(f"  refused by the server: {reason}", err=True)
    if refused:
        raise click.ClickException(f"The server refused {refused} record(s); see above.")
