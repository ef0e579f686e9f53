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

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runlab.deployments.sagemaker_aws import AwsContext
    from runlab.deployments.sagemaker_config import DeploySettings

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_REGION = "us-west-2"
_DEFAULT_TIMEOUT = 1200


@click.group()
def sagemaker() -> None:
    """Deploy models to Amazon SageMaker (pip install 'runlab[sagemaker]').

    AWS credentials, and service endpoints such as AWS_ENDPOINT_URL, come from AWS's usual
    sources (environment, config files, instance roles). Models are given as any model URI
    (models:/name@alias, models:/name/Production, runs:/..., a path).
    """


# -- shared options -------------------------------------------------------------------------------
def _region_option(func: F) -> F:
    return click.option(
        "--region-name",
        "-r",
        default=_DEFAULT_REGION,
        show_default=True,
        help="AWS region of the SageMaker resources.",
    )(func)


def _model_options(func: F) -> F:
    """What makes a SageMaker model: the model URI, role, bucket, image, VPC, flavor, trust."""
    options = [
        click.option(
            "--trust-model",
            is_flag=True,
            default=False,
            help="Let the serving container load a model whose files run code when loaded (a "
            "pickle); without it such a model is refused when the container starts.",
        ),
        click.option(
            "--flavor",
            "-f",
            default=None,
            help="Flavor to deploy (python_function, the default, is the one runlab serves).",
        ),
        click.option(
            "--vpc-config",
            "-v",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="JSON file with the VPC configuration of the SageMaker model "
            "(SecurityGroupIds, Subnets).",
        ),
        click.option(
            "--image-url",
            "-i",
            default=None,
            help="Serving image. Default: $RUNLAB_SAGEMAKER_DEPLOY_IMG_URL, else "
            "<account>.dkr.ecr.<region>.amazonaws.com/runlab-pyfunc:<runlab version>.",
        ),
        click.option(
            "--bucket",
            "-b",
            default=None,
            help="S3 bucket for the model archive. Default: runlab-sagemaker-<region>-<account> "
            "(created when missing).",
        ),
        click.option(
            "--execution-role-arn",
            "-e",
            default=None,
            help="IAM role SageMaker runs the model with. Default: the role you act as.",
        ),
        click.option(
            "--registry-uri", default=None, metavar="URI", help="Model registry for models:/ URIs."
        ),
        click.option(
            "--tracking-uri", default=None, metavar="URI", help="Tracking URI for runs:/ URIs."
        ),
        click.option(
            "--model-uri", "-m", required=True, metavar="URI", help="The model to deploy."
        ),
    ]
    for option in options:
        func = option(func)
    return func


def _wait_options(what: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func = click.option(
            "--timeout",
            type=click.IntRange(min=0),
            default=_DEFAULT_TIMEOUT,
            show_default=True,
            help=f"Seconds to wait for the {what}; it goes on in AWS after that.",
        )(func)
        func = click.option(
            "--async",
            "asynchronous",
            is_flag=True,
            default=False,
            help=f"Return once the {what} has started, without waiting (needs --archive: "
            "nothing is cleaned up afterwards).",
        )(func)
        return click.option(
            "--archive",
            is_flag=True,
            default=False,
            help="Keep the resources that become unused (models, configurations, their S3 "
            "data) instead of deleting them.",
        )(func)

    return decorate


# -- helpers --------------------------------------------------------------------------------------
def _aws(region: str) -> AwsContext:
    from runlab.deployments.sagemaker_aws import AwsContext

    return AwsContext(region=region)


def _use_tracking(tracking_uri: str | None, registry_uri: str | None) -> None:
    from runlab.tracking import config

    if tracking_uri:
        config.set_tracking_uri(tracking_uri)
    if registry_uri:
        config.set_registry_uri(registry_uri)


def _vpc(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"--vpc-config {path}: not a JSON file ({exc}).") from None
    if not isinstance(value, dict):
        raise click.ClickException(f"--vpc-config {path}: expected a JSON object.")
    return value


def _settings(config: dict[str, Any]) -> DeploySettings:
    from runlab.deployments.sagemaker_config import DeploySettings, settings_from_config

    settings: DeploySettings = settings_from_config(
        DeploySettings, {k: v for k, v in config.items() if v is not None}
    )
    return settings


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A live status line on stderr; each new status is also kept as a line of its own."""
    from rich.console import Console

    console = Console(file=sys.stderr, highlight=False)
    last = ""
    with console.status("Starting", spinner="dots") as status:

        def show(text: str) -> None:
            nonlocal last
            # "endpoint x: Creating (12s)": a new line only when what comes before "(" changes.
            head = text.rsplit(" (", 1)[0]
            if head != last:
                console.print(text, soft_wrap=True)
                last = head
            status.update(text)

        yield show


# -- deploy, delete, list -------------------------------------------------------------------------
@sagemaker.command("deploy")
@click.option("--app-name", "-a", required=True, help="Name of the endpoint (the application).")
@_model_options
@_region_option
@click.option(
    "--mode",
    type=click.Choice(["create", "add", "replace"]),
    default="create",
    show_default=True,
    help="create refuses an existing endpoint; replace swaps its model blue/green (old "
    "resources deleted once the new ones serve); add adds a production variant.",
)
@click.option(
    "--instance-type", "-t", default="ml.m5.xlarge", show_default=True, help="Instance type."
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
@_wait_options("endpoint to be InService")
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

    _use_tracking(tracking_uri, registry_uri)
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
        "vpc_config": _vpc(vpc_config),
        "archive": archive,
        "synchronous": not asynchronous,
        "timeout_seconds": timeout,
        "trust_model": trust_model,
    }
    settings = _settings(config)
    with _progress() as progress:
        result = deploy_endpoint(_aws(region_name), app_name, model_uri, flavor, settings, progress)
    _echo_json(result)


@sagemaker.command("delete")
@click.option("--app-name", "-a", required=True, help="Name of the endpoint to delete.")
@_region_option
@_wait_options("endpoint to be deleted")
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
    with _progress() as progress:
        delete_deployment(_aws(region_name), app_name, settings, progress)
    click.echo(f"Deleted the endpoint {app_name}.", err=True)


@sagemaker.command("list")
@_region_option
def list_endpoints(region_name: str) -> None:
    """List the region's SageMaker endpoints (JSON: name, status, times)."""
    from runlab.deployments.sagemaker_endpoints import list_deployments

    _echo_json(list_deployments(_aws(region_name)))


# -- transform jobs -------------------------------------------------------------------------------
@sagemaker.command("deploy-transform-job")
@click.option("--job-name", "-n", required=True, help="Transform job name.")
@_model_options
@click.option(
    "--input-data-type",
    required=True,
    type=click.Choice(["S3Prefix", "ManifestFile", "AugmentedManifestFile"]),
    help="How --input-uri names the input.",
)
@click.option("--input-uri", "-u", required=True, help="S3 prefix or manifest of the input.")
@click.option("--content-type", required=True, help="MIME type of the input (e.g. text/csv).")
@click.option("--output-path", "-o", required=True, help="S3 path for the output.")
@click.option("--compression-type", default="None", show_default=True, help="None or Gzip.")
@click.option(
    "--split-type",
    "-s",
    default="Line",
    show_default=True,
    help="How input files are split into requests: None, Line, RecordIO or TFRecord.",
)
@click.option("--accept", "-a", default="text/csv", show_default=True, help="Output MIME type.")
@click.option("--assemble-with", default="Line", show_default=True, help="None or Line.")
@click.option("--input-filter", default="$", show_default=True, help="JSONPath of the input.")
@click.option("--output-filter", default="$", show_default=True, help="JSONPath of the output.")
@click.option(
    "--join-resource",
    "-j",
    default="None",
    show_default=True,
    help="None, or Input to join each output with its input.",
)
@_region_option
@click.option(
    "--instance-type", "-t", default="ml.m5.xlarge", show_default=True, help="Instance type."
)
@click.option(
    "--instance-count",
    "-c",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of instances.",
)
@_wait_options("job to complete")
def deploy_transform_job(
    job_name: str,
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    execution_role_arn: str | None,
    bucket: str | None,
    image_url: str | None,
    vpc_config: Path | None,
    flavor: str | None,
    trust_model: bool,
    input_data_type: str,
    input_uri: str,
    content_type: str,
    output_path: str,
    compression_type: str,
    split_type: str,
    accept: str,
    assemble_with: str,
    input_filter: str,
    output_filter: str,
    join_resource: str,
    region_name: str,
    instance_type: str,
    instance_count: int,
    archive: bool,
    asynchronous: bool,
    timeout: int,
) -> None:
    """Score S3 data with a model as the SageMaker batch transform job JOB_NAME.

    Waits for the job to complete, then (unless --archive) deletes the SageMaker model made for
    it. The predictions are under --output-path.
    """
    from runlab.deployments.sagemaker_transform import TransformData, start_transform_job

    _use_tracking(tracking_uri, registry_uri)
    data = TransformData(
        input_data_type=input_data_type,
        input_uri=input_uri,
        content_type=content_type,
        output_path=output_path,
        compression_type=compression_type,
        split_type=split_type,
        accept=accept,
        assemble_with=assemble_with,
        input_filter=input_filter,
        output_filter=output_filter,
        join_resource=join_resource,
    )
    settings = _settings(
        {
            "region_name": region_name,
            "execution_role_arn": execution_role_arn,
            "bucket": bucket,
            "image_url": image_url,
            "instance_type": instance_type,
            "instance_count": instance_count,
            "vpc_config": _vpc(vpc_config),
            "archive": archive,
            "synchronous": not asynchronous,
            "timeout_seconds": timeout,
            "trust_model": trust_model,
        }
    )
    with _progress() as progress:
        result = start_transform_job(
            _aws(region_name), job_name, model_uri, flavor, data, settings, progress
        )
    _echo_json(result)


@sagemaker.command("terminate-transform-job")
@click.option("--job-name", "-n", required=True, help="Transform job name.")
@_region_option
@_wait_options("job to stop")
def terminate_transform_job(
    job_name: str, region_name: str, archive: bool, asynchronous: bool, timeout: int
) -> None:
    """Stop the transform job JOB_NAME if it runs and (unless --archive) delete its model."""
    from runlab.deployments.sagemaker_transform import terminate_transform_job as terminate

    with _progress() as progress:
        status = terminate(
            _aws(region_name),
            job_name,
            archive=archive,
            synchronous=not asynchronous,
            timeout_seconds=timeout,
            progress=progress,
        )
    _echo_json({"name": job_name, "status": status})


# -- push-model -----------------------------------------------------------------------------------
@sagemaker.command("push-model")
@click.option("--model-name", "-n", required=True, help="Name of the SageMaker model.")
@_model_options
@_region_option
def push_model(
    model_name: str,
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
) -> None:
    """Create the SageMaker model MODEL_NAME (archive in S3, image, role) without an endpoint."""
    from runlab.deployments.sagemaker_models import push_model as push

    _use_tracking(tracking_uri, registry_uri)
    settings = _settings(
        {
            "region_name": region_name,
            "execution_role_arn": execution_role_arn,
            "bucket": bucket,
            "image_url": image_url,
            "vpc_config": _vpc(vpc_config),
            "trust_model": trust_model,
        }
    )
    with _progress() as progress:
        result = push(_aws(region_name), model_name, model_uri, flavor, settings, progress)
    _echo_json(result)


# -- build-and-push-container ---------------------------------------------------------------------
@sagemaker.command("build-and-push-container")
@click.option("--build/--no-build", default=True, help="Build the image.")
@click.option("--push/--no-push", default=True, help="Push the image to ECR.")
@click.option("--container", "-c", default="runlab-pyfunc", show_default=True, help="Image name.")
@click.option("--network", default=None, help="docker build's --network (e.g. sagemaker).")
@click.option(
    "--env-manager",
    type=click.Choice(["local"]),
    default="local",
    show_default=True,
    help="Accepted as MLflow takes it: the image has one environment, built in.",
)
@click.option(
    "--output-directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the build context here (a new or empty folder). Default: a temporary folder "
    "when Docker builds it, else ./<container>-context.",
)
@click.option(
    "--model-uri",
    "-m",
    default=None,
    metavar="URI",
    help="Also install this model's requirements in the image (the model itself is not put "
    "in it: SageMaker mounts it).",
)
@click.option("--runlab-spec", default=None, metavar="SPEC", help="pip spec installing runlab.")
@click.option("--base-image", default=None, metavar="IMAGE", help="Base image.")
@click.option(
    "--region-name",
    "-r",
    default=None,
    help="Region of the ECR repository. Default: AWS's configured region, else us-west-2.",
)
def build_and_push_container(
    build: bool,
    push: bool,
    container: str,
    network: str | None,
    env_manager: str,
    output_directory: Path | None,
    model_uri: str | None,
    runlab_spec: str | None,
    base_image: str | None,
    region_name: str | None,
) -> None:
    """Build the SageMaker serving image and push it to ECR as runlab-pyfunc:<version>.

    Its entry point serves /opt/ml/model on port 8080 when SageMaker runs `<image> serve`.
    Needs a Docker engine to build and push; without one the build context is written and
    the commands that build and push it elsewhere are printed (with --push the ECR repository
    is created first, so that they work).
    """
    from runlab.deployments.sagemaker_image import build_and_push

    _use_tracking(None, None)
    build_and_push(
        build=build,
        push=push,
        container=container,
        network=network,
        output_directory=output_directory,
        model_uri=model_uri,
        runlab_spec=runlab_spec,
        base_image=base_image,
        region_name=region_name,
        say=lambda line: click.echo(line, err=True),
    )
