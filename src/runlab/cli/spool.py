"""``runlab spool``: records kept on disk while a tracking server was unreachable."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def spool() -> None:
    """Deliver records that were spooled while a tracking server was away.

    When a run logs to a server that stays unreachable past RUNLAB_FLUSH_TIMEOUT, the unsent
    records are kept in a spool file (under RUNLAB_SPOOL_DIR); these commands list and send them.
    Every process that logs also keeps a spool file of its own there while it runs (the runs it
    has open and, with RUNLAB_DURABLE=1, every record); `runlab runs recover` handles those of
    processes that died.
    """


@spool.command("list")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Spool folder.")
def list_spools(directory: Path | None) -> None:
    """List spool files, oldest first; those of running processes are marked so."""
    from runlab.tracking.spool import pending_spools, spool_dir
    from runlab.tracking.spool_file import in_use

    files = pending_spools(directory)
    if not files:
        click.echo(f"No spool files in {directory or spool_dir()}.")
        return
    for path in files:
        click.echo(f"{path}  (in use by a running process)" if in_use(path) else str(path))


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
    """Send spooled records to their store (every waiting file when no PATH is given).

    Files that running processes hold are skipped. Runs that a file says its dead process had
    open are left RUNNING, and the file kept, for `runlab runs recover`, which ends them.
    """
    from runlab.errors import InvalidState
    from runlab.tracking.spool import deliver, pending_spools

    files = list(paths) or pending_spools(directory)
    if not files:
        click.echo("Nothing to deliver.")
        return
    refused = 0
    for path in files:
        try:
            result = deliver(path, tracking_uri=tracking_uri)
        except InvalidState:
            click.echo(f"{path}: in use by a running process; skipped.")
            continue
        sent = result.sent
        click.echo(
            f"{path}: sent {sent.metrics} metric points, {sent.params} params, {sent.tags} tags "
            f"and {sent.run_ends} run ends to {result.tracking_uri}."
        )
        if result.open_runs:
            click.echo(
                f"  its process left {len(result.open_runs)} run(s) open; `runlab runs recover` "
                "ends them as KILLED."
            )
        for reason in result.rejected:
            refused += 1
            click.echo(f"  refused by the store: {reason}", err=True)
    if refused:
        raise click.ClickException(f"The store refused {refused} record(s); see above.")
