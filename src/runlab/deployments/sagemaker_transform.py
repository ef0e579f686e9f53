"""SageMaker batch transform: scoring S3 data with a model, without an endpoint.

A transform job named ``job`` runs the SageMaker model ``job-model-<random>`` (made from the
model URI as for an endpoint) over the S3 input and writes the predictions under the output
path. Waiting (``synchronous``) polls until the job is Completed; then, unless ``archive``, the
model and its S3 data are deleted, since nothing else uses them. Terminating stops a job that is
still running and cleans up the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runlab.deployments.sagemaker_aws import AwsContext, aws_errors, check_resource_name
from runlab.deployments.sagemaker_config import DeploySettings
from runlab.deployments.sagemaker_models import (
    create_sagemaker_model,
    delete_sagemaker_model,
    resource_tags,
)
from runlab.deployments.sagemaker_wait import Progress, Status, log_progress, wait_for_status
from runlab.errors import AlreadyExists, InvalidParameter, NotFound

__all__ = [
    "TransformData",
    "describe_transform_job",
    "start_transform_job",
    "terminate_transform_job",
]

_DATA_TYPES = ("S3Prefix", "ManifestFile", "AugmentedManifestFile")
_COMPRESSION = ("None", "Gzip")
_SPLIT = ("None", "Line", "RecordIO", "TFRecord")
_ASSEMBLE = ("None", "Line")
_JOIN = ("None", "Input")
_RUNNING = ("InProgress", "Stopping")


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidParameter(f"{option} must be one of {', '.join(allowed)}, got {value!r}.")
    return value


def _s3_url(option: str, value: str) -> str:
    if not value.startswith("s3://") or len(value) <= len("s3://"):
        raise InvalidParameter(f"{option} must be an s3:// URL, got {value!r}.")
    return value


@dataclass(frozen=True)
class TransformData:
    """What a transform job reads and writes (the options of ``deploy-transform-job``)."""

    input_data_type: str
    input_uri: str
    content_type: str
    output_path: str
    compression_type: str = "None"
    split_type: str = "Line"
    accept: str = "text/csv"
    assemble_with: str = "Line"
    input_filter: str = "$"
    output_filter: str = "$"
    join_resource: str = "None"

    def __post_init__(self) -> None:
        _one_of("--input-data-type", self.input_data_type, _DATA_TYPES)
        _s3_url("--input-uri", self.input_uri)
        _s3_url("--output-path", self.output_path)
        _one_of("--compression-type", self.compression_type, _COMPRESSION)
        _one_of("--split-type", self.split_type, _SPLIT)
        _one_of("--assemble-with", self.assemble_with, _ASSEMBLE)
        _one_of("--join-resource", self.join_resource, _JOIN)
        if not self.content_type.strip():
            raise InvalidParameter("--content-type must not be empty (e.g. text/csv).")

    def request(self) -> dict[str, Any]:
        """The TransformInput, TransformOutput and DataProcessing of CreateTransformJob."""
        return {
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": self.input_data_type, "S3Uri": self.input_uri}
                },
                "ContentType": self.content_type,
                "CompressionType": self.compression_type,
                "SplitType": self.split_type,
            },
            "TransformOutput": {
                "S3OutputPath": self.output_path,
                "Accept": self.accept,
                "AssembleWith": self.assemble_with,
            },
            "DataProcessing": {
                "InputFilter": self.input_filter,
                "OutputFilter": self.output_filter,
                "JoinSource": self.join_resource,
            },
        }


def describe_transform_job(ctx: AwsContext, name: str) -> dict[str, Any] | None:
    """SageMaker's description of the transform job ``name``, or None when there is none."""
    try:
        with aws_errors(f"describing the transform job {name}"):
            found: dict[str, Any] = ctx.client("sagemaker").describe_transform_job(
                TransformJobName=name
            )
    except NotFound:
        return None
    return found


def _look(ctx: AwsContext, name: str) -> Status:
    found = describe_transform_job(ctx, name)
    if found is None:
        return Status("Missing", "the job is gone")
    return Status(str(found["TransformJobStatus"]), str(found.get("FailureReason") or ""))


def start_transform_job(
    ctx: AwsContext,
    name: str,
    model_uri: str,
    flavor: str | None,
    data: TransformData,
    settings: DeploySettings,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Start the transform job ``name`` scoring ``data`` with ``model_uri``; what was created.

    With ``settings.synchronous`` it waits for the job to complete (a failure raises, with
    AWS's reason) and then, unless ``settings.archive``, deletes the model made for it.
    """
    report = progress or log_progress
    check_resource_name(name, "The transform job name")
    if not settings.synchronous and not settings.archive:
        raise InvalidParameter(
            "A transform job started without waiting cannot clean up its model afterwards: "
            "wait for it (drop --async) or keep the model (--archive)."
        )
    if describe_transform_job(ctx, name) is not None:
        raise AlreadyExists(
            f"A transform job named {name!r} already exists in {ctx.region}; transform job "
            "names cannot be reused, choose another --job-name."
        )
    model = create_sagemaker_model(
        ctx, _model_name(name), model_uri, flavor, settings, name, report
    )
    request = {
        "TransformJobName": name,
        "ModelName": model.name,
        "TransformResources": {
            "InstanceType": settings.instance_type,
            "InstanceCount": settings.instance_count,
        },
        "Tags": resource_tags(name, settings, model_uri),
        **data.request(),
    }
    try:
        with aws_errors(f"creating the transform job {name}"):
            ctx.client("sagemaker").create_transform_job(**request)
    except Exception:
        delete_sagemaker_model(ctx, model.name)
        raise
    result = {
        "name": name,
        "flavor": model.flavor,
        "model_name": model.name,
        "model_data_url": model.model_data_url,
        "output_path": data.output_path,
        "status": "InProgress",
    }
    if not settings.synchronous:
        return result
    status = wait_for_status(
        lambda: _look(ctx, name),
        what=f"transform job {name}",
        done={"Completed"},
        failed={"Failed", "Stopped", "Missing"},
        timeout_seconds=settings.timeout_seconds,
        progress=report,
        after_timeout=f"It goes on in AWS; `runlab sagemaker terminate-transform-job --job-name "
        f"{name} --region-name {ctx.region}` stops it and removes its model.",
        after_failure=f"Its model {model.name} is kept; `runlab sagemaker "
        f"terminate-transform-job --job-name {name} --region-name {ctx.region}` removes it.",
    )
    result["status"] = status.status
    if not settings.archive:
        delete_sagemaker_model(ctx, model.name)
    return result


def _model_name(job: str) -> str:
    from runlab.deployments.sagemaker_aws import unique_name

    return unique_name(job, "model")


def terminate_transform_job(
    ctx: AwsContext,
    name: str,
    *,
    archive: bool = False,
    synchronous: bool = True,
    timeout_seconds: int = 1200,
    progress: Progress | None = None,
) -> str:
    """Stop the transform job ``name`` if it runs, then (unless ``archive``) delete its model.

    Returns the job's final status. A job that already ended is not stopped; its model is
    still cleaned up.
    """
    check_resource_name(name, "The transform job name")
    if not synchronous and not archive:
        raise InvalidParameter(
            "Terminating without waiting cannot clean up the job's model afterwards: wait for "
            "it (drop --async) or keep the model (--archive)."
        )
    job = describe_transform_job(ctx, name)
    if job is None:
        raise NotFound(f"No transform job named {name!r} in {ctx.region}.")
    status = str(job["TransformJobStatus"])
    if status == "InProgress":
        with aws_errors(f"stopping the transform job {name}"):
            ctx.client("sagemaker").stop_transform_job(TransformJobName=name)
        status = "Stopping"
    if not synchronous:
        return status
    if status in _RUNNING:
        status = wait_for_status(
            lambda: _look(ctx, name),
            what=f"transform job {name}",
            done={"Stopped", "Completed", "Failed"},
            failed={"Missing"},
            timeout_seconds=timeout_seconds,
            progress=progress,
            after_timeout="Its model was not cleaned up.",
        ).status
    if not archive:
        delete_sagemaker_model(ctx, str(job["ModelName"]))
    return status
