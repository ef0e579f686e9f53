"""``runlab sagemaker``: MLflow's ``mlflow sagemaker`` commands, on runlab's SageMaker target.

``deploy``, ``delete`` and ``list`` manage endpoints (``deploy`` is also reachable as
``runlab deployments create -t sagemaker:/REGION``); ``deploy-transform-job`` and
``terminate-transform-job`` run batch transform; ``push-model`` creates a SageMaker model
without an endpoint; ``build-and-push-container`` builds the serving image and pushes it to ECR
(or, without a Docker engine, writes its build context and prints the commands). Options keep
MLflow's names and short flags. Results are JSON on stdout; progress goes to stderr. The work is
done by :mod:`runlab.deployments.sagemaker_endpoints` and its siblings, the same code the
``sagemaker`` deployment target runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from runlab.cli.sagemaker_options import (
    DEFAULT_INSTANCE_TYPE,
    aws,
    deploy_settings,
    echo_json,
    model_options,
    progress_display,
    region_option,
    use_tracking,
    vpc,
    wait_options,
)


@click.group()
def sagemaker() -> None:
    """Deploy models to Amazon SageMaker (pip install 'runlab[sagemaker]').

    AWS credentials, and service endpoints such as AWS_ENDPOINT_URL, come from AWS's usual
    sources (environment, config files, instance roles). Models are given as any model URI
    (models:/name@alias, models:/name/Production, runs:/..., a path).
    """


# -- deploy, delete, list -------------------------------------------------------------------------
@sagemaker.command("deploy")
@click.option("--app-name", "-a", required=True, help="Name of the endpoint (the application).")
@model_options
@region_option
@click.option(
    "--mode",
    type=click.Choice(["create", "add", "replace"]),
    default="create",
    show_default=True,
    help="create refuses an existing endpoint; replace swaps its model blue/green (old "
    "resources deleted once the new ones serve); add adds a production variant.",
)
@click.option(
    "--instance-type", "-t", default=DEFAULT_INSTANCE_TYPE, show_default=True, help="Instance type."
)
@click.option(
    "--instance-count",
    "-c",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of instances.",
)
@click.option(
    "--variant-name", default=None, help="Production variant name (default: the model's)."
)
@click.option(
    "--config",
    "-C",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other setting of `runlab deployments help -t sagemaker` (env, tags, "
    "data_capture_config, async_inference_config, serverless_config), repeatable.",
)
@wait_options("endpoint to be InService")
def deploy(
    app_name: str,
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    execution_role_arn: str | None,
    bucket: str | None,
    image_url: str | None,
    vpc_config: Path | None,
    flavor: str | None,
    trust_model: bool,
    region_name: str,
    mode: str,
    instance_type: str,
    instance_count: int,
    variant_name: str | None,
    extra: tuple[str, ...],
    archive: bool,
    asynchronous: bool,
    timeout: int,
) -> None:
    """Deploy a model to the SageMaker endpoint APP_NAME and wait until it is InService.

    Uploads the model as s3://BUCKET/APP_NAME-model-<id>/model.tar.gz, creates the SageMaker
    model, an endpoint configuration and the endpoint (or updates it, with --mode replace or
    add). `runlab sagemaker delete` removes all of it.
    """
    from runlab.deployments.config import parse_config
    from runlab.deployments.sagemaker_endpoints import deploy as deploy_endpoint

    use_tracking(tracking_uri, registry_uri)
    config = {
        **parse_config(list(extra)),
        "region_name": region_name,
        "mode": mode,
        "execution_role_arn": execution_role_arn,
        "bucket": bucket,
        "image_url": image_url,
        "instance_type": instance_type,
        "instance_count": instance_count,
        "variant_name": variant_name,
        "vpc_config": vpc(vpc_config),
        "archive": archive,
        "synchronous": not asynchronous,
        "timeout_seconds": timeout,
        "trust_model": trust_model,
    }
    settings = deploy_settings(config)
    with progress_display() as progress:
        result = deploy_endpoint(aws(region_name), app_name, model_uri, flavor, settings, progress)
    echo_json(result)


@sagemaker.command("delete")
@click.option("--app-name", "-a", required=True, help="Name of the endpoint to delete.")
@region_option
@wait_options("endpoint to be deleted")
def delete(
    app_name: str, region_name: str, archive: bool, asynchronous: bool, timeout: int
) -> None:
    """Delete the endpoint APP_NAME, and (unless --archive) its configuration, its models and
    their S3 archives."""
    from runlab.deployments.sagemaker_config import DeleteSettings
    from runlab.deployments.sagemaker_endpoints import delete_deployment

    settings = DeleteSettings(
        region_name=region_name,
        archive=archive,
        synchronous=not asynchronous,
        timeout_seconds=timeout,
    )
    with progress_display() as progress:
        delete_deployment(aws(region_name), app_name, settings, progress)
    click.echo(f"Deleted the endpoint {app_name}.", err=True)


@sagemaker.command("list")
@region_option
def list_endpoints(region_name: str) -> None:
    """List the region's SageMaker endpoints (JSON: name, status, times)."""
    from runlab.deployments.sagemaker_endpoints import list_deployments

    echo_json(list_deployments(aws(region_name)))


def _add_job_commands() -> None:
    # Defined in their own module (transform jobs, models, the image), on this group.
    from runlab.cli.sagemaker_jobs import JOB_COMMANDS

    for command in JOB_COMMANDS:
        sagemaker.add_command(command)


_add_job_commands()
