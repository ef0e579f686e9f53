"""SageMaker models: a runlab model's archive in S3 behind the serving image.

A SageMaker *model* is what endpoints and transform jobs run: an image, the S3 URL of the
model's ``model.tar.gz``, an execution role and the container's environment.
:func:`create_sagemaker_model` makes one from any model URI runlab resolves; everything that can
be refused is checked before anything is written (the URI and flavor, the role, the image), and
an archive whose model SageMaker then refuses is deleted again, so a refusal leaves nothing
behind. Models runlab makes carry the tag ``runlab.deployment`` (the endpoint, job or model name
they were made for); only the S3 data of such models is ever deleted with them.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runlab.deployments.sagemaker_aws import (
    AwsContext,
    aws_errors,
    check_resource_name,
    logger,
)
from runlab.deployments.sagemaker_config import DeploySettings
from runlab.deployments.sagemaker_image import check_image, default_image_url
from runlab.deployments.sagemaker_packaging import (
    default_bucket,
    delete_model_data,
    pack_model,
    upload_model,
)
from runlab.deployments.sagemaker_wait import Progress, log_progress
from runlab.errors import AlreadyExists, NotFound

__all__ = [
    "CONTAINER_MODEL_DIR",
    "OWNER_TAG",
    "SageMakerModel",
    "create_sagemaker_model",
    "delete_sagemaker_model",
    "push_model",
    "resource_tags",
]

#: The tag on every SageMaker resource runlab creates: the name it was created for.
OWNER_TAG = "runlab.deployment"
_MODEL_URI_TAG = "runlab.model_uri"
#: Where SageMaker unpacks the model for the container.
CONTAINER_MODEL_DIR = "/opt/ml/model"
# SageMaker's tag value alphabet (letters, digits, spaces and _ . : / = + - @), 256 at most.
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")


@dataclass(frozen=True)
class SageMakerModel:
    """A SageMaker model :func:`create_sagemaker_model` made."""

    name: str
    arn: str
    model_data_url: str
    image_url: str
    execution_role_arn: str
    flavor: str


def resource_tags(
    owner: str, settings: DeploySettings, model_uri: str = ""
) -> list[dict[str, str]]:
    """The tags of a resource made for ``owner``: the user's, runlab's owner tag, the URI."""
    tags = {**settings.tags, OWNER_TAG: owner}
    if model_uri and _TAG_VALUE.match(model_uri):
        tags[_MODEL_URI_TAG] = model_uri
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _environment(settings: DeploySettings, trusted: bool) -> dict[str, str]:
    environment = dict(settings.env)
    if trusted:
        from runlab.models.trust import TRUSTED_SOURCES_ENV

        # The deployer's trust decision, carried to where the model is loaded.
        environment[TRUSTED_SOURCES_ENV] = CONTAINER_MODEL_DIR
    return environment


def create_sagemaker_model(
    ctx: AwsContext,
    name: str,
    model_uri: str,
    flavor: str | None,
    settings: DeploySettings,
    owner: str,
    progress: Progress | None = None,
) -> SageMakerModel:
    """Create the SageMaker model ``name`` serving ``model_uri``; what was created.

    The model is resolved (``models:/``, ``runs:/``, paths, artifact URIs) and packed here, and
    uploaded to ``settings.bucket`` (default: ``runlab-sagemaker-<region>-<account>``, created
    when missing) under ``<name>/model.tar.gz``. ``settings.trust_model`` (or a trusted-source
    prefix matching the URI, see :mod:`runlab.models.trust`) lets the container load a model
    whose files run code when loaded.
    """
    from runlab.deployments.deployable import deployable_model

    report = progress or log_progress
    with (
        deployable_model(model_uri, flavor) as model,
        tempfile.TemporaryDirectory(prefix="runlab-sagemaker-") as scratch,
    ):
        role = ctx.execution_role(settings.execution_role_arn)
        image = settings.image_url or default_image_url(ctx)
        check_image(ctx, image)
        bucket = settings.bucket or default_bucket(ctx)
        archive = pack_model(model.path, Path(scratch) / "model.tar.gz")
        report(f"Uploading the model to s3://{bucket}/{name}/")
        data_url = upload_model(ctx, archive, bucket, name)
        request: dict[str, Any] = {
            "ModelName": name,
            "ExecutionRoleArn": role,
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": data_url,
                "Environment": _environment(settings, model.trust(settings.trust_model).allows()),
            },
            "Tags": resource_tags(owner, settings, model_uri),
        }
        if settings.vpc_config:
            request["VpcConfig"] = settings.vpc_config
        try:
            with aws_errors(f"creating the SageMaker model {name}"):
                arn = str(ctx.client("sagemaker").create_model(**request)["ModelArn"])
        except Exception:
            delete_model_data(ctx, data_url)
            raise
        report(f"Created the SageMaker model {name}")
        return SageMakerModel(name, arn, data_url, image, role, model.flavor)


def describe_model(ctx: AwsContext, name: str) -> dict[str, Any] | None:
    """SageMaker's description of the model ``name``, or None when there is none."""
    try:
        with aws_errors(f"describing the SageMaker model {name}"):
            found: dict[str, Any] = ctx.client("sagemaker").describe_model(ModelName=name)
    except NotFound:
        return None
    return found


def _owned(ctx: AwsContext, arn: str) -> bool:
    with aws_errors(f"reading the tags of {arn}"):
        tags = ctx.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return any(tag.get("Key") == OWNER_TAG for tag in tags)


def delete_sagemaker_model(ctx: AwsContext, name: str) -> None:
    """Delete the model ``name`` and, when runlab made it, its archive in S3; no error if gone."""
    found = describe_model(ctx, name)
    if found is None:
        return
    data_url = str(found.get("PrimaryContainer", {}).get("ModelDataUrl", ""))
    owned = _owned(ctx, str(found["ModelArn"]))
    with aws_errors(f"deleting the SageMaker model {name}"):
        ctx.client("sagemaker").delete_model(ModelName=name)
    logger.info("Deleted the SageMaker model %s", name)
    if owned and data_url:
        delete_model_data(ctx, data_url)


def push_model(
    ctx: AwsContext,
    name: str,
    model_uri: str,
    flavor: str | None,
    settings: DeploySettings,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create the SageMaker model ``name`` without an endpoint (``runlab sagemaker push-model``)."""
    check_resource_name(name, "The model name")
    if describe_model(ctx, name) is not None:
        raise AlreadyExists(
            f"A SageMaker model named {name!r} already exists in {ctx.region}; choose another "
            "--model-name or delete it first."
        )
    model = create_sagemaker_model(ctx, name, model_uri, flavor, settings, name, progress)
    return {
        "name": model.name,
        "arn": model.arn,
        "flavor": model.flavor,
        "model_data_url": model.model_data_url,
        "image_url": model.image_url,
        "execution_role_arn": model.execution_role_arn,
    }
