"""``runlab deployments``: deploy models through any deployment target plugin.

The commands and options are MLflow's ``mlflow deployments`` ones: ``-t/--target`` picks the
target by URI (``sagemaker:/us-west-2``, ``kserve``, a third-party plugin's name), ``-C key=value``
pairs become the target's ``config`` (values read as JSON when they parse, see
:mod:`runlab.deployments.config`), and the target does the work. Results are printed as JSON on
stdout, so scripts can read them; what happened is said on stderr.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runlab.cli.options import OneLineErrors

if TYPE_CHECKING:
    from runlab.deployments.base import BaseDeploymentClient

F = TypeVar("F", bound=Callable[..., Any])


@click.group("deployments")
def deployments() -> None:
    """Deploy models to serving platforms through deployment target plugins (-t TARGET).

    `runlab deployments help -t TARGET` says what a target's URI and -C keys mean.
    """


# -- options --------------------------------------------------------------------------------------
def target_option(func: F) -> F:
    """``-t/--target``: the target URI (required)."""
    return click.option(
        "--target",
        "-t",
        "target",
        required=True,
        metavar="URI",
        help="Deployment target URI: a plugin's name, optionally with what it reads after ':/' "
        "(sagemaker:/us-west-2, azureml, kubernetes, kserve). `runlab deployments help -t "
        "TARGET` explains a target's URI.",
    )(func)


def name_option(required: bool = True) -> Callable[[F], F]:
    """``--name``: the deployment's name."""
    return click.option(
        "--name", "name", required=required, metavar="NAME", help="Name of the deployment."
    )


def model_uri_option(required: bool) -> Callable[[F], F]:
    """``-m/--model-uri``: the model to deploy."""
    return click.option(
        "--model-uri",
        "-m",
        "model_uri",
        required=required,
        metavar="URI",
        help="Model to deploy: models:/<name>/<version or stage>, models:/<name>@<alias>, "
        "runs:/<run_id>/<path>, a local path or an artifact URI.",
    )


def flavor_option(func: F) -> F:
    """``-f/--flavor``: which of the model's flavors to deploy."""
    return click.option(
        "--flavor",
        "-f",
        "flavor",
        default=None,
        help="Flavor of the model to deploy; the target's default when omitted "
        "(python_function for the built-in targets).",
    )(func)


def config_option(func: F) -> F:
    """``-C/--config key=value``, repeatable."""
    return click.option(
        "--config",
        "-C",
        "config",
        multiple=True,
        metavar="KEY=VALUE",
        help="A target setting (repeatable). VALUE is read as JSON when it parses (2, true, "
        '["a"], {"k": 1}), else as text. `runlab deployments help -t TARGET` lists the keys.',
    )(func)


def endpoint_option(required: bool = False) -> Callable[[F], F]:
    """``--endpoint``: the endpoint a deployment sits behind, for targets that have them."""
    return click.option(
        "--endpoint",
        "endpoint",
        required=required,
        metavar="NAME",
        help="Endpoint name, for targets whose deployments sit behind endpoints.",
    )


def tracking_options(func: F) -> F:
    """``--tracking-uri`` and ``--registry-uri``, for the commands that resolve a model URI."""
    func = click.option(
        "--registry-uri",
        "registry_uri",
        default=None,
        metavar="URI",
        help="Model registry URI for models:/ URIs. Default: $RUNLAB_REGISTRY_URI, else "
        "$MLFLOW_REGISTRY_URI, else the tracking URI.",
    )(func)
    return click.option(
        "--tracking-uri",
        "tracking_uri",
        default=None,
        metavar="URI",
        help="Tracking URI for runs:/ and models:/ URIs. Default: $RUNLAB_TRACKING_URI, else "
        "$MLFLOW_TRACKING_URI, else runlab.db in the working directory.",
    )(func)


def io_options(func: F) -> F:
    """``--input-path`` (required) and ``--output-path`` for predict and explain."""
    func = click.option(
        "--output-path",
        "output_path",
        default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="File to write the JSON answer to; stdout when omitted.",
    )(func)
    return click.option(
        "--input-path",
        "input_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Input file: JSON in the scoring protocol (dataframe_split, dataframe_records, "
        "instances or inputs; plain records too), or a .csv or .parquet table.",
    )(func)


# -- helpers --------------------------------------------------------------------------------------
def _client(target: str) -> BaseDeploymentClient:
    from runlab.deployments import get_deploy_client

    return get_deploy_client(target)


def _config(pairs: Sequence[str]) -> dict[str, Any] | None:
    from runlab.deployments.config import parse_config

    return parse_config(pairs) or None


def _use_tracking(tracking_uri: str | None, registry_uri: str | None) -> None:
    # Through the environment, so that the target and any process it starts (run-local's
    # server) resolve runs:/ and models:/ URIs against the same stores.
    if tracking_uri:
        os.environ["RUNLAB_TRACKING_URI"] = tracking_uri
    if registry_uri:
        os.environ["RUNLAB_REGISTRY_URI"] = registry_uri


def _echo_json(value: Any) -> None:
    # default=str: a target may put datetimes or its SDK's enums in what it returns.
    click.echo(json.dumps(value, indent=2, default=str))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _read_inputs(path: Path) -> Any:
    """The inputs in ``path``: a JSON document as it is, a .csv/.parquet table as a DataFrame."""
    from runlab.serving.batch import format_of, read_input
    from runlab.serving.payload import load_json

    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        return read_input(path, format_of(path))[0]
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(
            f"Cannot read the input file {str(path)!r}: {exc.strerror or exc}."
        ) from None
    document = load_json(body, f"The input file {str(path)!r}")
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        # Plain records, as pandas' to_json(orient="records") writes them.
        document = {"dataframe_records": document}
    return document


def _write_answer(answer: Any, output_path: Path | None) -> None:
    text = json.dumps(dict(answer) if isinstance(answer, dict) else answer, default=str)
    if output_path is None:
        click.echo(text)
        return
    output_path.write_text(text, encoding="utf-8")
    _say(f"Wrote the answer to {output_path}.")


def _with_flags(
    settings: dict[str, Any] | None, apply_: bool, dry_run: bool
) -> dict[str, Any] | None:
    """``--apply`` / ``--dry-run`` as the config keys the targets read."""
    if not apply_ and not dry_run:
        return settings
    settings = dict(settings or {})
    if apply_:
        settings["apply"] = True
    if dry_run:
        settings["dry_run"] = True
    return settings


def _report(deployment: Any, settings: dict[str, Any] | None, done: str) -> None:
    """The outcome: JSON on stdout, or on a dry run only a note on stderr.

    A dry run's stdout holds what the target printed (manifests), so that it can be piped on
    (``| kubectl apply -f -``); nothing was created, and the note says so.
    """
    if settings is not None and settings.get("dry_run") is True:
        _say("Dry run: nothing was created or changed.")
        return
    _say(done)
    _echo_json(deployment)


# -- deployments ----------------------------------------------------------------------------------
@deployments.command("create", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option()
@model_uri_option(required=True)
@flavor_option
@config_option
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="For targets that write manifests (kubernetes, kserve): apply them (-C apply=true).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only show what would be deployed (-C dry_run=true); manifests go to stdout alone.",
)
@tracking_options
def create(
    endpoint: str | None,
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None,
    config: tuple[str, ...],
    apply_: bool,
    dry_run: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Deploy a model to the target.

    Deploys --model-uri as --name and prints the deployment as JSON.
    """
    settings = _with_flags(_config(config), apply_, dry_run)
    _use_tracking(tracking_uri, registry_uri)
    client = _client(target)
    deployment = client.create_deployment(
        name, model_uri, flavor, config=settings, endpoint=endpoint
    )
    _report(deployment, settings, f"Deployment {name!r} created on {target}.")


@deployments.command("update", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option()
@model_uri_option(required=False)
@flavor_option
@config_option
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="For targets that write manifests (kubernetes, kserve): apply them (-C apply=true).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only show what would be deployed (-C dry_run=true); manifests go to stdout alone.",
)
@tracking_options
def update(
    endpoint: str | None,
    target: str,
    name: str,
    model_uri: str | None,
    flavor: str | None,
    config: tuple[str, ...],
    apply_: bool,
    dry_run: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Change a deployment's model or settings.

    Prints the deployment as JSON.
    """
    settings = _with_flags(_config(config), apply_, dry_run)
    _use_tracking(tracking_uri, registry_uri)
    client = _client(target)
    deployment = client.update_deployment(
        name, model_uri=model_uri, flavor=flavor, config=settings, endpoint=endpoint
    )
    _report(deployment, settings, f"Deployment {name!r} updated on {target}.")


@deployments.command("delete", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option()
@config_option
def delete(endpoint: str | None, target: str, name: str, config: tuple[str, ...]) -> None:
    """Delete a deployment and what the target created for it."""
    settings = _config(config)
    _client(target).delete_deployment(name, config=settings, endpoint=endpoint)
    _say(f"Deployment {name!r} deleted from {target}.")
    _echo_json({"name": name, "deleted": True})


@deployments.command("list", cls=OneLineErrors)
@endpoint_option()
@target_option
def list_(endpoint: str | None, target: str) -> None:
    """Print the target's deployments as a JSON list."""
    _echo_json(_client(target).list_deployments(endpoint=endpoint))


@deployments.command("get", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option()
def get(endpoint: str | None, target: str, name: str) -> None:
    """Print one deployment as JSON."""
    _echo_json(_client(target).get_deployment(name, endpoint=endpoint))


@deployments.command("predict", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option(required=False)
@io_options
def predict(
    endpoint: str | None,
    target: str,
    name: str | None,
    input_path: Path,
    output_path: Path | None,
) -> None:
    """Score a file of inputs on a deployment.

    Prints the JSON answer, or writes it to --output-path.
    """
    client = _client(target)
    answer = client.predict(name, _read_inputs(input_path), endpoint=endpoint)
    _write_answer(answer, output_path)


@deployments.command("explain", cls=OneLineErrors)
@endpoint_option()
@target_option
@name_option(required=False)
@io_options
def explain(
    endpoint: str | None,
    target: str,
    name: str | None,
    input_path: Path,
    output_path: Path | None,
) -> None:
    """Explain predictions, on targets that can.

    Prints the JSON answer, or writes it to --output-path.
    """
    client = _client(target)
    answer = client.explain(name, _read_inputs(input_path), endpoint=endpoint)
    _write_answer(answer, output_path)


@deployments.command("run-local", cls=OneLineErrors)
@target_option
@name_option()
@model_uri_option(required=True)
@flavor_option
@config_option
@tracking_options
def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None,
    config: tuple[str, ...],
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Serve a model here the way the target would.

    Runs until interrupted.
    """
    from runlab import deployments as api

    settings = _config(config)
    _use_tracking(tracking_uri, registry_uri)
    api.run_local(target, name, model_uri, flavor, settings)


@deployments.command("help", cls=OneLineErrors)
@target_option
def help_(target: str) -> None:
    """Say what the target's URI and its -C keys mean."""
    from runlab.deployments import target_help

    click.echo(target_help(target))


# -- endpoints ------------------------------------------------------------------------------------
@deployments.command("create-endpoint", cls=OneLineErrors)
@target_option
@endpoint_option(required=True)
@config_option
def create_endpoint(target: str, endpoint: str, config: tuple[str, ...]) -> None:
    """Create an endpoint, on targets that have them.

    Prints the endpoint as JSON.
    """
    settings = _config(config)
    created = _client(target).create_endpoint(endpoint, config=settings)
    _say(f"Endpoint {endpoint!r} created on {target}.")
    _echo_json(created)


@deployments.command("update-endpoint", cls=OneLineErrors)
@target_option
@endpoint_option(required=True)
@config_option
def update_endpoint(target: str, endpoint: str, config: tuple[str, ...]) -> None:
    """Change an endpoint's settings (-C).

    The -C pairs set, for example, its traffic split.
    """
    settings = _config(config)
    _client(target).update_endpoint(endpoint, config=settings)
    _say(f"Endpoint {endpoint!r} updated on {target}.")
    _echo_json({"endpoint": endpoint, "updated": True})


@deployments.command("delete-endpoint", cls=OneLineErrors)
@target_option
@endpoint_option(required=True)
def delete_endpoint(target: str, endpoint: str) -> None:
    """Delete an endpoint."""
    _client(target).delete_endpoint(endpoint)
    _say(f"Endpoint {endpoint!r} deleted from {target}.")
    _echo_json({"endpoint": endpoint, "deleted": True})


@deployments.command("list-endpoints", cls=OneLineErrors)
@target_option
def list_endpoints(target: str) -> None:
    """Print the target's endpoints as a JSON list."""
    _echo_json(_client(target).list_endpoints())


@deployments.command("get-endpoint", cls=OneLineErrors)
@target_option
@endpoint_option(required=True)
def get_endpoint(target: str, endpoint: str) -> None:
    """Print one endpoint as JSON."""
    _echo_json(_client(target).get_endpoint(endpoint))
