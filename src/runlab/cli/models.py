"""``runlab models``: the model registry from the terminal.

List and describe registered models, list their versions, move versions between stages, set
and remove aliases, and show the history of stage and alias changes. The commands go through
:class:`runlab.Client`, so they work the same on a local database and against a server.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from runlab.cli import output
from runlab.cli.options import F, positive_int_option, tracking_uri_option

if TYPE_CHECKING:
    from runlab.entities import ModelVersion, RegisteredModel, RegistryEvent
    from runlab.tracking.client import Client

# Spelled out here (the registry's canonical spellings) so that `runlab --help` need not import
# the entities; a test checks they match runlab.entities.STAGES.
STAGE_CHOICES = ("None", "Staging", "Production", "Archived")

REGISTRY_URI_HELP = (
    "Model registry URI, in the same forms as --tracking-uri. Default: $RUNLAB_REGISTRY_URI, "
    "else $MLFLOW_REGISTRY_URI, else the tracking URI."
)


@click.group("models")
def models() -> None:
    """Work with the model registry (models, versions, stages, aliases) and serve models."""


def registry_options(func: F) -> F:
    """Add ``--tracking-uri`` and ``--registry-uri`` to a registry command."""
    func = click.option(
        "--registry-uri", "registry_uri", default=None, metavar="URI", help=REGISTRY_URI_HELP
    )(func)
    return tracking_uri_option(func)


def json_option(func: F) -> F:
    """Add ``--json`` (machine-readable output) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(
        func
    )


def make_registry_client(tracking_uri: str | None, registry_uri: str | None) -> Client:
    """The client for ``--tracking-uri`` and ``--registry-uri`` (each defaulting as the API does)."""
    from runlab.tracking.client import Client

    return Client(tracking_uri=tracking_uri, registry_uri=registry_uri)


# -- plain data for --json -------------------------------------------------------------------------
def version_to_dict(mv: ModelVersion) -> dict[str, Any]:
    """A model version as JSON-ready data."""
    return {
        "name": mv.name,
        "version": mv.version,
        "current_stage": mv.current_stage,
        "aliases": list(mv.aliases),
        "description": mv.description,
        "source": mv.source,
        "run_id": mv.run_id,
        "model_id": mv.model_id,
        "status": mv.status,
        "tags": dict(mv.tags),
        "user_id": mv.user_id,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
    }


def model_to_dict(model: RegisteredModel) -> dict[str, Any]:
    """A registered model as JSON-ready data."""
    return {
        "name": model.name,
        "description": model.description,
        "tags": dict(model.tags),
        "aliases": dict(model.aliases),
        "latest_versions": [version_to_dict(mv) for mv in model.latest_versions],
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }


def event_to_dict(event: RegistryEvent) -> dict[str, Any]:
    """A history event as JSON-ready data."""
    return {
        "name": event.name,
        "kind": event.kind,
        "subject": event.subject,
        "from": event.from_value,
        "to": event.to_value,
        "timestamp": event.timestamp,
        "user_id": event.user_id,
    }


def _name_filter(name: str) -> str:
    # A quote inside the name is escaped by doubling it, as the search grammar reads strings.
    return "name = '{}'".format(name.replace("'", "''"))


def all_versions(client: Client, name: str) -> list[ModelVersion]:
    """Every version of a model, newest first (ModelNotFound for an unknown model)."""
    client.get_registered_model(name)  # an unknown name is an error, not an empty list
    found: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(
            _name_filter(name), max_results=1000, order_by=["version_number DESC"], page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _all_models(
    client: Client, filter_string: str | None, limit: int | None
) -> list[RegisteredModel]:
    found: list[RegisteredModel] = []
    token: str | None = None
    while limit is None or len(found) < limit:
        size = 1000 if limit is None else min(1000, limit - len(found))
        page = client.search_registered_models(
            filter_string or None, max_results=size, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias} -> v{version}" for alias, version in sorted(aliases.items()))


# -- commands ---------------------------------------------------------------------------------------
@models.command("list")
@click.option(
    "--filter",
    "filter_string",
    default="",
    metavar="FILTER",
    help="Search filter, e.g. \"name LIKE 'fraud%'\" or \"tags.team = 'risk'\" (AND only).",
)
@positive_int_option("--max-results", help="At most this many models.")
@json_option
@registry_options
def list_models(
    filter_string: str,
    max_results: int | None,
    as_json: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """List registered models with their aliases and newest version per stage."""
    client = make_registry_client(tracking_uri, registry_uri)
    found = _all_models(client, filter_string, max_results)
    if as_json:
        output.print_json([model_to_dict(m) for m in found])
        return
    output.print_table(
        None,
        ["Name", "Latest versions", "Aliases", "Updated", "Description"],
        [
            (
                m.name,
                ", ".join(f"v{mv.version} {mv.current_stage}" for mv in m.latest_versions) or "-",
                _aliases_text(m.aliases) or "-",
                output.format_time(m.last_updated_timestamp),
                m.description or "",
            )
            for m in found
        ],
        empty="No registered models match." if filter_string else "No registered models yet.",
    )


@models.command("describe")
@click.argument("name")
@json_option
@registry_options
def describe_model(
    name: str, as_json: bool, tracking_uri: str | None, registry_uri: str | None
) -> None:
    """Show one registered model: description, tags, aliases and newest version per stage."""
    model = make_registry_client(tracking_uri, registry_uri).get_registered_model(name)
    if as_json:
        output.print_json(model_to_dict(model))
        return
    output.print_mapping(
        "Registered model",
        {
            "name": model.name,
            "description": model.description or "-",
            "created": output.format_time(model.creation_timestamp),
            "updated": output.format_time(model.last_updated_timestamp),
        },
    )
    output.print_mapping("Tags", model.tags)
    output.print_mapping("Aliases", {alias: f"v{v}" for alias, v in model.aliases.items()})
    output.print_table(
        "Newest version per stage",
        ["Stage", "Version", "Source"],
        [(mv.current_stage, str(mv.version), mv.source) for mv in model.latest_versions],
        empty="No versions yet: `runlab.register_model('runs:/<run_id>/model', NAME)` adds one.",
    )


@models.command("versions")
@click.argument("name")
@json_option
@registry_options
def list_versions(
    name: str, as_json: bool, tracking_uri: str | None, registry_uri: str | None
) -> None:
    """List every version of a registered model, newest first."""
    found = all_versions(make_registry_client(tracking_uri, registry_uri), name)
    if as_json:
        output.print_json([version_to_dict(mv) for mv in found])
        return
    output.print_table(
        None,
        ["Version", "Stage", "Aliases", "Created", "Run ID", "Source"],
        [
            (
                str(mv.version),
                mv.current_stage,
                ", ".join(mv.aliases) or "-",
                output.format_time(mv.creation_timestamp),
                mv.run_id or "-",
                mv.source,
            )
            for mv in found
        ],
        empty=f"Registered model {name!r} has no versions yet.",
    )


@models.command("stage")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.argument("stage", metavar="STAGE", type=click.Choice(STAGE_CHOICES, case_sensitive=False))
@click.option(
    "--archive-existing",
    is_flag=True,
    help="Move the versions already in STAGE to Archived (Staging and Production only).",
)
@registry_options
def transition_stage(
    name: str,
    version: int,
    stage: str,
    archive_existing: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Move version VERSION of model NAME to STAGE: None, Staging, Production or Archived.

    STAGE is matched in any case. Every move is kept in `runlab models history`.
    """
    if archive_existing and stage not in ("Staging", "Production"):
        raise click.BadParameter(
            f"--archive-existing works only with Staging or Production, not {stage}.",
            param_hint="--archive-existing",
        )
    client = make_registry_client(tracking_uri, registry_uri)
    before = client.get_model_version(name, version).current_stage
    moved = client.transition_model_version_stage(
        name, version, stage, archive_existing_versions=archive_existing
    )
    note = " (other versions in it archived)" if archive_existing else ""
    click.echo(f"{name} v{moved.version}: {before} -> {moved.current_stage}{note}.")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False, type=click.IntRange(min=1))
@click.option("--delete", "delete", is_flag=True, help="Remove ALIAS instead of setting it.")
@registry_options
def set_alias(
    name: str,
    alias: str,
    version: int | None,
    delete: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Point ALIAS of model NAME at VERSION, or remove it with --delete."""
    if delete == (version is not None):
        raise click.UsageError(
            "Give VERSION to set the alias, or --delete (without VERSION) to remove it."
        )
    client = make_registry_client(tracking_uri, registry_uri)
    if delete:
        # Removing an alias that is not set is no error (as in MLflow), but say so.
        if alias not in client.get_registered_model(name).aliases:
            click.echo(f"{name} has no alias {alias!r}; nothing to remove.")
            return
        client.delete_registered_model_alias(name, alias)
        click.echo(f"Removed alias {alias!r} of {name}.")
        return
    assert version is not None
    client.set_registered_model_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> v{version}.")


def parse_moment(text: str | None, option: str) -> int | None:
    """``--since``/``--until``: milliseconds since the epoch, or an ISO date or date-time.

    A date or time without a zone is local time, as the history table prints it.
    """
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an ISO date/time (2026-11-27, 2026-11-27T14:30) nor "
            "milliseconds since the epoch.",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


def _describe_event(event: RegistryEvent) -> tuple[str, str, str]:
    """(what changed, from, to) for one event, in words."""
    from runlab.entities.registry import STAGE_EVENT

    if event.kind == STAGE_EVENT:
        return f"stage of v{event.subject}", event.from_value or "-", event.to_value or "-"

    def version_text(value: str | None) -> str:
        return "-" if value is None else f"v{value}"

    return f"alias {event.subject}", version_text(event.from_value), version_text(event.to_value)


@models.command("history")
@click.argument("name")
@click.option(
    "--since", default=None, metavar="WHEN", help="Only changes at or after WHEN (ISO or ms)."
)
@click.option("--until", default=None, metavar="WHEN", help="Only changes before WHEN (ISO or ms).")
@json_option
@registry_options
def history(
    name: str,
    since: str | None,
    until: str | None,
    as_json: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Show every stage transition and alias change of model NAME, oldest first.

    WHEN is a date (2026-11-27), a date-time (2026-11-27T14:30, local unless it has a zone)
    or milliseconds since the epoch.
    """
    client = make_registry_client(tracking_uri, registry_uri)
    events = client.get_registry_history(
        name, since=parse_moment(since, "--since"), until=parse_moment(until, "--until")
    )
    if not events:
        # History outlives a deleted model, so only an empty answer needs the name checked.
        client.get_registered_model(name)
    if as_json:
        output.print_json([event_to_dict(e) for e in events])
        return
    rows = []
    for event in events:
        what, before, after = _describe_event(event)
        rows.append((output.format_time(event.timestamp), what, before, after, event.user_id))
    output.print_table(
        None,
        ["Time", "Change", "From", "To", "By"],
        rows,
        empty=f"No stage or alias changes of {name!r} recorded"
        + (" in that period." if since or until else "."),
    )


# Serving and scoring commands (serve, predict, build-docker, …) live in their own module.
from runlab.cli.models_serving import add_serving_commands  # noqa: E402

add_serving_commands(models)

# `runlab models evaluate` too.
from runlab.cli.models_evaluate import add_evaluate_command  # noqa: E402

add_evaluate_command(models)
