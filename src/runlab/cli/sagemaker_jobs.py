"""``runlab sagemaker`` commands beyond endpoints: batch transform jobs, ``push-model`` and
``build-and-push-container`` (registered on the group by :mod:`runlab.cli.sagemaker`)."""

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

__all__ = ["JOB_COMMANDS"]


# -- transform jobs -------------------------------------------------------------------------------
@click.command("deploy-transform-job")
@click.option("--job-name", "-n", required=True, help="Transform job name.")
@model_options
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
@region_option
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
@wait_options("job to complete")
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

    use_tracking(tracking_uri, registry_uri)
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
    settings = deploy_settings(
        {
            "region_name": region_name,
            "execution_role_arn": execution_role_arn,
            "bucket": bucket,
            "image_url": image_url,
            "instance_type": instance_type,
            "instance_count": instance_count,
            "vpc_config": vpc(vpc_config),
            "archive": archive,
            "synchronous": not asynchronous,
            "timeout_seconds": timeout,
            "trust_model": trust_model,
        }
    )
    with progress_display() as progress:
        result = start_transform_job(
            aws(region_name), job_name, model_uri, flavor, data, settings, progress
        )
    echo_json(result)


@click.command("terminate-transform-job")
@click.option("--job-name", "-n", required=True, help="Transform job name.")
@region_option
@wait_options("job to stop")
def terminate_transform_job(
    job_name: str, region_name: str, archive: bool, asynchronous: bool, timeout: int
) -> None:
    """Stop the transform job JOB_NAME if it runs and (unless --archive) delete its model."""
    from runlab.deployments.sagemaker_transform import terminate_transform_job as terminate

    with progress_display() as progress:
        status = terminate(
            aws(region_name),
            job_name,
            archive=archive,
            synchronous=not asynchronous,
            timeout_seconds=timeout,
            progress=progress,
        )
    echo_json({"name": job_name, "status": status})


# -- push-model -----------------------------------------------------------------------------------
@click.command("push-model")
@click.option("--model-name", "-n", required=True, help="Name of the SageMaker model.")
@model_options
@region_option
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

    use_tracking(tracking_uri, registry_uri)
    settings = deploy_settings(
        {
            "region_name": region_name,
            "execution_role_arn": execution_role_arn,
            "bucket": bucket,
            "image_url": image_url,
            "vpc_config": vpc(vpc_config),
            "trust_model": trust_model,
        }
    )
    with progress_display() as progress:
        result = push(aws(region_name), model_name, model_uri, flavor, settings, progress)
    echo_json(result)


# -- build-and-push-container ---------------------------------------------------------------------
@click.command("build-and-push-container")
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
@click.option(
    "--registry-uri", default=None, metavar="URI", help="Model registry for models:/ URIs."
)
@click.option("--tracking-uri", default=None, metavar="URI", help="Tracking URI for runs:/ URIs.")
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
    registry_uri: str | None,
    tracking_uri: str | None,
) -> None:
    """Build the SageMaker serving image and push it to ECR as runlab-pyfunc:<version>.

    Its entry point serves /opt/ml/model on port 8080 when SageMaker runs `<image> serve`.
    Needs a Docker engine to build and push; without one the build context is written and
    the commands that build and push it elsewhere are printed (with --push the ECR repository
    is created first, so that they work).
    """
    from runlab.deployments.sagemaker_image import build_and_push

    use_tracking(tracking_uri, registry_uri)
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


JOB_COMMANDS = (deploy_transform_job, terminate_transform_job, push_model, build_and_push_container)
