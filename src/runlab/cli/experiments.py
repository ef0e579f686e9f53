"""``runlab experiments``: list, create, delete, restore and rename experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runlab.cli import output
from runlab.cli.options import F, make_client, tracking_uri_option, view_option, view_type

if TYPE_CHECKING:
    from runlab.entities import Experiment
    from runlab.tracking.client import Client


@click.group("experiments")
def experiments() -> None:
    """Manage experiments: named groups of runs."""


def experiment_selector(func: F) -> F:
    """Add ``--experiment-id`` / ``--experiment-name`` (exactly one is needed)."""
    func = click.option(
        "-n", "--experiment-name", "experiment_name", metavar="NAME", help="Experiment name."
    )(func)
    return click.option(
        "-x", "--experiment-id", "experiment_id", metavar="ID", help="Experiment id."
    )(func)


def resolve_experiment(client: Client, experiment_id: str | None, name: str | None) -> Experiment:
    """The experiment named by exactly one of ``--experiment-id`` and ``--experiment-name``."""
    from runlab.errors import ExperimentNotFound

    if (experiment_id is None) == (name is None):
        raise click.UsageError("Give exactly one of --experiment-id and --experiment-name.")
    if experiment_id is not None:
        return client.get_experiment(experiment_id)
    assert name is not None
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise ExperimentNotFound(
            f"No experiment named {name!r}. `runlab experiments list --view all` shows them all."
        )
    return experiment


def all_experiments(client: Client, view: int) -> list[Experiment]:
    """Every experiment of a view type, following page tokens."""
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(view_type=view, max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


@experiments.command("list")
@view_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@tracking_uri_option
def list_experiments(view: str, as_json: bool, tracking_uri: str | None) -> None:
    """List experiments."""
    client = make_client(tracking_uri)
    found = all_experiments(client, view_type(view))
    if as_json:
        output.print_json(
            [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "artifact_location": e.artifact_location,
                    "lifecycle_stage": e.lifecycle_stage,
                    "tags": e.tags,
                    "creation_time": e.creation_time,
                    "last_update_time": e.last_update_time,
                }
                for e in found
            ]
        )
        return
    output.print_table(
        None,
        ["ID", "Name", "Stage", "Created", "Artifact location"],
        [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                output.format_time(e.creation_time),
                e.artifact_location,
            )
            for e in found
        ],
        empty=f"No experiments ({view}) in {client.tracking_uri}.",
    )


@experiments.command("create")
@click.option("-n", "--experiment-name", "name", required=True, metavar="NAME", help="Name.")
@click.option(
    "-l",
    "--artifact-location",
    default=None,
    metavar="URI",
    help="Where the experiment's artifacts go (default: under the artifact root).",
)
@click.option(
    "-t",
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="An experiment tag; repeat for more.",
)
@tracking_uri_option
def create_experiment(
    name: str, artifact_location: str | None, tags: tuple[str, ...], tracking_uri: str | None
) -> None:
    """Create an experiment and print its id."""
    parsed: dict[str, str] = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE.", param_hint="--tag")
        parsed[key] = value
    client = make_client(tracking_uri)
    experiment_id = client.create_experiment(name, artifact_location=artifact_location, tags=parsed)
    click.echo(f"Created experiment {name!r} with id {experiment_id}.")


@experiments.command("delete")
@experiment_selector
@tracking_uri_option
def delete_experiment(
    experiment_id: str | None, experiment_name: str | None, tracking_uri: str | None
) -> None:
    """Delete an experiment and its runs (they can be restored)."""
    client = make_client(tracking_uri)
    experiment = resolve_experiment(client, experiment_id, experiment_name)
    client.delete_experiment(experiment.experiment_id)
    click.echo(
        f"Deleted experiment {experiment.name!r} (id {experiment.experiment_id}); "
        "`runlab experiments restore` brings it back."
    )


@experiments.command("restore")
@experiment_selector
@tracking_uri_option
def restore_experiment(
    experiment_id: str | None, experiment_name: str | None, tracking_uri: str | None
) -> None:
    """Restore a deleted experiment and its runs."""
    client = make_client(tracking_uri)
    experiment = resolve_experiment(client, experiment_id, experiment_name)
    client.restore_experiment(experiment.experiment_id)
    click.echo(f"Restored experiment {experiment.name!r} (id {experiment.experiment_id}).")


@experiments.command("rename")
@experiment_selector
@click.option("--new-name", required=True, metavar="NAME", help="The new name.")
@tracking_uri_option
def rename_experiment(
    experiment_id: str | None, experiment_name: str | None, new_name: str, tracking_uri: str | None
) -> None:
    """Give an experiment a new name."""
    client = make_client(tracking_uri)
    experiment = resolve_experiment(client, experiment_id, experiment_name)
    client.rename_experiment(experiment.experiment_id, new_name)
    click.echo(
        f"Renamed experiment {experiment.name!r} (id {experiment.experiment_id}) to {new_name!r}."
    )
