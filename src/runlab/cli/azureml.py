"""``runlab azureml``: deploy models to Azure Machine Learning managed online endpoints.

``deploy`` registers the model as an Azure ML MLflow model, creates the endpoint ``--name`` when
it does not exist, creates or updates the deployment on it and routes the endpoint's traffic;
``delete``, ``list`` and ``get`` manage what it made. The same target is reachable as
``runlab deployments … -t azureml``. Results are printed as JSON on stdout, progress on stderr.
The Azure SDK is imported only when a command runs (pip install 'runlab[azureml]').
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runlab.cli.deployments import tracking_options
from runlab.cli.options import OneLineErrors

if TYPE_CHECKING:
    from runlab.deployments.azureml import DeploymentClient

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def azureml() -> None:
    """Deploy models to Azure Machine Learning online endpoints (pip install 'runlab[azureml]').

    The workspace is --subscription-id, --resource-group and --workspace, else
    $AZURE_SUBSCRIPTION_ID, $AZURE_RESOURCE_GROUP and $AZUREML_WORKSPACE_NAME, else the
    workspace's config.json. Credentials come from DefaultAzureCredential (az login, a service
    principal's AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity).
    """


def workspace_options(func: F) -> F:
    """``--subscription-id``, ``--resource-group`` and ``--workspace``."""
    for option, env in (
        ("--workspace", "AZUREML_WORKSPACE_NAME"),
        ("--resource-group", "AZURE_RESOURCE_GROUP"),
        ("--subscription-id", "AZURE_SUBSCRIPTION_ID"),
    ):
        func = click.option(
            option,
            default=None,
            metavar="NAME" if option != "--subscription-id" else "ID",
            help=f"Azure ML {option[2:].replace('-', ' ')}. Default: ${env}, else config.json.",
        )(func)
    return func


def name_option(func: F) -> F:
    """``--name``: the endpoint."""
    return click.option(
        "--name",
        required=True,
        help="Endpoint name: 3-32 letters, digits or '-', a letter first; unique in the "
        "Azure region.",
    )(func)


def deployment_name_option(help: str) -> Callable[[F], F]:
    """``--deployment-name``."""
    return click.option("--deployment-name", default=None, metavar="NAME", help=help)


def config_option(func: F) -> F:
    """``-C/--config key=value`` (repeatable)."""
    return click.option(
        "--config",
        "-C",
        "config",
        multiple=True,
        metavar="KEY=VALUE",
        help="A setting of the azureml target (values read as JSON when they parse); "
        "`runlab deployments help -t azureml` lists the keys (traffic, model_name, auth_mode, "
        "tags, environment_variables, timeout, …).",
    )(func)


def _client(
    subscription_id: str | None, resource_group: str | None, workspace: str | None
) -> DeploymentClient:
    from runlab.deployments.azureml import DeploymentClient

    return DeploymentClient(
        "azureml",
        subscription_id=subscription_id,
        resource_group=resource_group,
        workspace=workspace,
        progress=_say,
    )


def _config(pairs: Sequence[str], **options: Any) -> dict[str, Any]:
    """``-C`` pairs plus the options given as flags (a flag and a -C key for the same setting
    must agree)."""
    from runlab.deployments.config import parse_config
    from runlab.errors import InvalidParameter

    config = parse_config(pairs)
    for key, value in options.items():
        if value is None:
            continue
        if key in config and config[key] != value:
            raise InvalidParameter(
                f"--{key.replace('_', '-')} {value} and -C {key}={config[key]} disagree; give one."
            )
        config[key] = value
    return config


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _use_tracking(tracking_uri: str | None, registry_uri: str | None) -> None:
    from runlab.tracking import config

    if tracking_uri:
        config.set_tracking_uri(tracking_uri)
    if registry_uri:
        config.set_registry_uri(registry_uri)


@azureml.command("deploy", cls=OneLineErrors)
@click.option("--model-uri", "-m", required=True, metavar="URI", help="The model to deploy.")
@name_option
@deployment_name_option("Name of the deployment on the endpoint. Default: the endpoint's name.")
@workspace_options
@click.option(
    "--instance-type",
    default=None,
    metavar="VM_SIZE",
    help="VM size of each instance. Default: Standard_DS3_v2 (an update keeps the current).",
)
@click.option(
    "--instance-count",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Number of instances. Default: 1 (an update keeps the current).",
)
@config_option
@click.option(
    "--write-specs",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Create nothing in Azure: write the model's files and the endpoint.yml and "
    "deployment.yml that `az ml` takes into DIR (new or empty).",
)
@tracking_options
def deploy(
    model_uri: str,
    name: str,
    deployment_name: str | None,
    workspace: str | None,
    resource_group: str | None,
    subscription_id: str | None,
    instance_type: str | None,
    instance_count: int | None,
    config: tuple[str, ...],
    write_specs: Path | None,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Deploy a model to the endpoint --name: create or update the deployment and route the
    endpoint's traffic to it (all of it, unless -C traffic='{"blue": 90, "green": 10}').

    Registers the model's folder as an Azure ML MLflow model, creates the managed online
    endpoint if it does not exist and waits until the deployment serves. Prints the deployment
    as JSON.
    """
    settings = _config(config, instance_type=instance_type, instance_count=instance_count)
    _use_tracking(tracking_uri, registry_uri)
    deployment = deployment_name or name
    if write_specs is not None:
        from runlab.deployments.azureml_specs import write_specs as write

        written = write(write_specs, deployment, model_uri, None, settings, endpoint=name)
        _say(
            f"Wrote the specs to {write_specs}; nothing was created in Azure. Deploy them with "
            f"`az ml online-endpoint create -f {write_specs / 'endpoint.yml'}` and `az ml "
            f"online-deployment create -f {write_specs / 'deployment.yml'} --all-traffic`."
        )
        _echo_json([str(path) for path in written])
        return
    client = _client(subscription_id, resource_group, workspace)
    result = client.deploy(deployment, model_uri, config=settings, endpoint=name)
    _say(f"Deployment {deployment!r} serves on endpoint {name!r}: {result.get('scoring_uri')}")
    _echo_json(result)


@azureml.command("delete", cls=OneLineErrors)
@name_option
@deployment_name_option(
    "Delete only this deployment of the endpoint (it must get no traffic, unless it is the "
    "last one). Default: the whole endpoint with all its deployments."
)
@workspace_options
@config_option
def delete(
    name: str,
    deployment_name: str | None,
    workspace: str | None,
    resource_group: str | None,
    subscription_id: str | None,
    config: tuple[str, ...],
) -> None:
    """Delete the endpoint --name and its deployments (or one --deployment-name); registered
    models stay in the workspace. No error if it is already gone."""
    settings = _config(config)
    client = _client(subscription_id, resource_group, workspace)
    if deployment_name is None:
        client.delete_endpoint(name, config=settings)
        _echo_json({"endpoint": name, "deleted": True})
    else:
        client.delete_deployment(deployment_name, config=settings, endpoint=name)
        _echo_json({"endpoint": name, "deployment": deployment_name, "deleted": True})


@azureml.command("list", cls=OneLineErrors)
@click.option(
    "--name",
    default=None,
    help="List this endpoint's deployments. Default: list the workspace's endpoints.",
)
@workspace_options
def list_(
    name: str | None,
    workspace: str | None,
    resource_group: str | None,
    subscription_id: str | None,
) -> None:
    """List the workspace's online endpoints (with their deployments and traffic), or the
    deployments of one endpoint, as JSON."""
    client = _client(subscription_id, resource_group, workspace)
    _echo_json(client.list_deployments(endpoint=name) if name else client.list_endpoints())


@azureml.command("get", cls=OneLineErrors)
@name_option
@deployment_name_option("Show this deployment of the endpoint. Default: the endpoint.")
@workspace_options
def get(
    name: str,
    deployment_name: str | None,
    workspace: str | None,
    resource_group: str | None,
    subscription_id: str | None,
) -> None:
    """Show the endpoint --name (scoring URI, traffic, deployments) or one deployment, as JSON."""
    client = _client(subscription_id, resource_group, workspace)
    if deployment_name is None:
        _echo_json(client.get_endpoint(name))
    else:
        _echo_json(client.get_deployment(deployment_name, endpoint=name))
