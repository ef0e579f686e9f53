"""``runlab runs``: list, describe, compare, delete, restore and recover runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runlab.cli import output
from runlab.cli.experiments import all_experiments, experiment_selector, resolve_experiment
from runlab.cli.options import make_client, tracking_uri_option, view_option, view_type

if TYPE_CHECKING:
    from runlab.entities import Run
    from runlab.projects.run_diff import Change, RunDiff

#: How many latest metric values the list shows per run before "…".
_METRICS_SHOWN = 3


@click.group("runs")
def runs() -> None:
    """Inspect and manage runs."""


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as plain JSON-ready data (info, params, metrics, tags)."""
    info = run.info
    return {
        "info": {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": info.lifecycle_stage,
            "user_id": info.user_id,
        },
        "data": {
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags),
        },
    }


def _metrics_summary(metrics: dict[str, float]) -> str:
    keys = sorted(metrics)
    shown = ", ".join(f"{k}={output.format_value(metrics[k])}" for k in keys[:_METRICS_SHOWN])
    return shown + (f", … (+{len(keys) - _METRICS_SHOWN})" if len(keys) > _METRICS_SHOWN else "")


@runs.command("list")
@experiment_selector
@click.option(
    "--filter",
    "filter_string",
    default="",
    metavar="FILTER",
    help="Search filter, e.g. \"metrics.loss < 0.1 AND params.optimizer = 'adam'\" "
    "(OR, NOT and parentheses work too).",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="KEY [ASC|DESC]",
    help="Sort key such as 'metrics.loss ASC'; repeat for ties. Default: newest first.",
)
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="At most this many runs.",
)
@view_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@tracking_uri_option
def list_runs(
    experiment_id: str | None,
    experiment_name: str | None,
    filter_string: str,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """List runs of one experiment, or of every experiment when none is given."""
    client = make_client(tracking_uri)
    if experiment_id is None and experiment_name is None:
        # Deleted runs live in deleted experiments too, so widen the experiments with the view.
        stages = "active_only" if view == "active_only" else "all"
        names = {e.experiment_id: e.name for e in all_experiments(client, view_type(stages))}
    else:
        experiment = resolve_experiment(client, experiment_id, experiment_name)
        names = {experiment.experiment_id: experiment.name}
    found: list[Run] = []
    if names:
        found = client.search_runs(
            list(names),
            filter_string=filter_string,
            run_view_type=view_type(view),
            max_results=max_results,
            order_by=list(order_by) or None,
        )
    if as_json:
        output.print_json([run_to_dict(r) for r in found])
        return
    several = len(names) > 1
    columns = ["Run ID", "Name", *(["Experiment"] if several else []), "Status", "Started"]
    columns += ["Duration", "Metrics"]
    rows = []
    for run in found:
        info = run.info
        row = [info.run_id, info.run_name]
        if several:
            row.append(names.get(info.experiment_id, info.experiment_id))
        row += [
            info.status,
            output.format_time(info.start_time),
            output.format_duration(info.start_time, info.end_time),
            _metrics_summary(run.data.metrics),
        ]
        rows.append(row)
    output.print_table(None, columns, rows, empty="No runs match.")


@runs.command("describe")
@click.option("-r", "--run-id", required=True, metavar="ID", help="The run to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@tracking_uri_option
def describe_run(run_id: str, as_json: bool, tracking_uri: str | None) -> None:
    """Show one run: its info, params, latest metrics and tags."""
    run = make_client(tracking_uri).get_run(run_id)
    data = run_to_dict(run)
    if as_json:
        output.print_json(data)
        return
    info = dict(data["info"])
    info["start_time"] = output.format_time(run.info.start_time)
    info["end_time"] = output.format_time(run.info.end_time)
    info["duration"] = output.format_duration(run.info.start_time, run.info.end_time)
    output.print_mapping("Run", info)
    output.print_mapping("Params", run.data.params)
    output.print_mapping("Metrics (latest)", run.data.metrics)
    output.print_mapping("Tags", run.data.tags)


@runs.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@tracking_uri_option
def diff_runs(run_a: str, run_b: str, as_json: bool, tracking_uri: str | None) -> None:
    """Show what differs between two runs.

    Compares their params, code version (source, git repository, commit and branch, project
    entry point and environment manager), environment lock package by package (added, removed
    and changed versions; project runs record one) and latest metric values. Only differences
    are shown.
    """
    from runlab.projects.run_diff import diff_runs as compare

    diff = compare(make_client(tracking_uri), run_a, run_b)
    if as_json:
        output.print_json(diff.to_dict())
        return
    _print_diff(diff)


def _print_diff(diff: RunDiff) -> None:
    """The human form of ``runs diff``: one table per kind of difference."""
    for side, run_id, original in (
        ("A", diff.run_a, diff.a_reproduces),
        ("B", diff.run_b, diff.b_reproduces),
    ):
        click.echo(f"{side}: {run_id}" + (f" (a re-run of {original})" if original else ""))
    if diff.same:
        click.echo("No differences.")
        return
    missing = "-"

    def rows(changes: tuple[Change, ...]) -> list[list[str]]:
        return [
            [c.key, missing if c.a is None else str(c.a), missing if c.b is None else str(c.b)]
            for c in changes
        ]

    if diff.params:
        output.print_table("Params", ["param", "A", "B"], rows(diff.params))
    if diff.code:
        output.print_table("Code", ["tag", "A", "B"], rows(diff.code))
    env = diff.environment
    if not env.same:
        for side, recorded in (("A", env.a_recorded), ("B", env.b_recorded)):
            if not recorded:
                click.echo(f"Run {side} recorded no environment lock.")
        if env.a_recorded and env.b_recorded:
            table = [[*r, "changed"] for r in rows(env.changed)]
            table += [[*r, "only in A"] for r in rows(env.removed)]
            table += [[*r, "only in B"] for r in rows(env.added)]
            output.print_table("Environment lock", ["package", "A", "B", ""], table)
    if diff.metrics:
        table = []
        for c in diff.metrics:
            a = missing if c.a is None else output.format_value(c.a)
            b = missing if c.b is None else output.format_value(c.b)
            delta = output.format_value(c.b - c.a) if None not in (c.a, c.b) else ""
            table.append([c.key, a, b, delta])
        output.print_table("Metrics (latest)", ["metric", "A", "B", "B - A"], table)


@runs.command("delete")
@click.option("-r", "--run-id", required=True, metavar="ID", help="The run to delete.")
@tracking_uri_option
def delete_run(run_id: str, tracking_uri: str | None) -> None:
    """Delete a run (it can be restored)."""
    make_client(tracking_uri).delete_run(run_id)
    click.echo(f"Deleted run {run_id}; `runlab runs restore --run-id {run_id}` brings it back.")


@runs.command("restore")
@click.option("-r", "--run-id", required=True, metavar="ID", help="The run to restore.")
@tracking_uri_option
def restore_run(run_id: str, tracking_uri: str | None) -> None:
    """Restore a deleted run."""
    make_client(tracking_uri).restore_run(run_id)
    click.echo(f"Restored run {run_id}.")


@runs.command("recover")
@click.option(
    "--tracking-uri",
    "tracking_uri",
    default=None,
    metavar="URI",
    help="Recover only what was logged to this store. Default: every spool file, each sent to "
    "the store it names.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Spool folder. Default: $RUNLAB_SPOOL_DIR, else runlab/spool in the user cache folder.",
)
def recover_runs(tracking_uri: str | None, directory: Path | None) -> None:
    """End the runs of processes that died, after sending what they left unsent.

    A process that logs notes in a spool file which runs it has open and, in durable mode
    (RUNLAB_DURABLE=1), every record before the logging call returns. A process killed before
    it could exit (SIGKILL, the OOM killer, a crash, power loss) leaves that file behind and its
    runs RUNNING. This sends the records such files hold, in order, and then ends their runs as
    KILLED. Files of running processes and runs that are no longer RUNNING are left alone;
    running it again does nothing more.
    """
    from runlab.tracking.config import spool_dir
    from runlab.tracking.recovery import recover

    result = recover(directory, tracking_uri=tracking_uri)
    folder = directory or spool_dir()
    for item in result.recovered:
        sent = item.sent
        click.echo(
            f"{item.path} (process {item.pid}, {item.tracking_uri}): sent {sent.metrics} metric "
            f"points, {sent.params} params, {sent.tags} tags and {sent.run_ends} run ends."
        )
        for run_id in item.killed:
            click.echo(f"  ended run {run_id} as KILLED")
        for run_id, status in item.already_ended:
            click.echo(f"  run {run_id} was already {status}; left as it is")
        for run_id in item.resumed:
            click.echo(f"  run {run_id} is open in a running process; left alone")
        for reason in item.rejected:
            click.echo(f"  refused by the store: {reason}", err=True)
        if item.error:
            click.echo(f"  kept for another try: {item.error}", err=True)
    if result.live:
        click.echo(f"Left alone {len(result.live)} spool file(s) of running processes.")
    if result.other_stores:
        click.echo(
            f"Left alone {len(result.other_stores)} spool file(s) of other stores than "
            f"{tracking_uri}."
        )
    for path, reason in result.unreadable:
        click.echo(f"{path}: not recovered: {reason}", err=True)
    if not result.recovered and not result.unreadable:
        click.echo(f"Nothing to recover in {folder}.")
        return
    killed = sum(len(item.killed) for item in result.recovered)
    points = sum(item.sent.metrics for item in result.recovered)
    done = sum(1 for item in result.recovered if item.error is None)
    click.echo(
        f"Recovered {done} spool file(s): sent {points} metric points, ended {killed} run(s) "
        "as KILLED."
    )
    if result.failed:
        raise click.ClickException("Some spool files were kept; see above, then run it again.")
