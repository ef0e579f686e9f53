"""SageMaker endpoints: deploying a model in each mode, deleting, listing, describing, scoring.

A deployment named ``app`` is the endpoint ``app``, its endpoint configuration
``app-config-<random>`` and the models its production variants run (``app-model-<random>``).
``mode`` says what happens when the endpoint exists:

- ``create`` refuses (the default: nothing is replaced by accident);
- ``replace`` is blue/green: a new configuration with the new model alone, the endpoint
  updated to it (SageMaker keeps serving the old one until the new one is InService), then the
  old configuration and the models no longer served are deleted, with their S3 data;
- ``add`` keeps the endpoint's variants and adds the new model as one more production variant
  (weight 1, the others keep theirs); the old configuration is deleted.

Waiting (``synchronous``) polls until the endpoint is InService; the old resources are cleaned
up only after that, unless ``archive`` keeps them. An update SageMaker rolls back leaves the
endpoint on its old configuration; the new model and configuration are then deleted.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from runlab.deployments.sagemaker_aws import AwsContext, aws_errors, check_resource_name, logger
from runlab.deployments.sagemaker_config import DeleteSettings, DeploySettings
from runlab.deployments.sagemaker_models import (
    SageMakerModel,
    create_sagemaker_model,
    delete_sagemaker_model,
    resource_tags,
)
from runlab.deployments.sagemaker_wait import Progress, Status, log_progress, wait_for_status
from runlab.errors import AlreadyExists, InvalidParameter, InvalidState, NotFound

__all__ = [
    "delete_deployment",
    "deploy",
    "describe_deployment",
    "find_endpoint",
    "jsonable",
    "list_deployments",
    "predict",
]


def jsonable(value: Any) -> Any:
    """An AWS answer with its datetimes as ISO text and without ``ResponseMetadata``."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def find_endpoint(ctx: AwsContext, name: str) -> dict[str, Any] | None:
    """SageMaker's description of the endpoint ``name``, or None when there is none."""
    try:
        with aws_errors(f"describing the endpoint {name}"):
            found: dict[str, Any] = ctx.client("sagemaker").describe_endpoint(EndpointName=name)
    except NotFound:
        return None
    return found


def _endpoint_config(ctx: AwsContext, name: str) -> dict[str, Any] | None:
    try:
        with aws_errors(f"describing the endpoint configuration {name}"):
            found: dict[str, Any] = ctx.client("sagemaker").describe_endpoint_config(
                EndpointConfigName=name
            )
    except NotFound:
        return None
    return found


def _variant(model: SageMakerModel, settings: DeploySettings) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": settings.variant_name or model.name,
        "ModelName": model.name,
        "InitialVariantWeight": 1.0,
    }
    if settings.serverless_config:
        variant["ServerlessConfig"] = settings.serverless_config
    else:
        variant["InstanceType"] = settings.instance_type
        variant["InitialInstanceCount"] = settings.instance_count
    return variant


def _kept_variants(endpoint: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """The endpoint's variants as its configuration defines them, at their current weights."""
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in endpoint.get("ProductionVariants", [])
        if "CurrentWeight" in v
    }
    kept = []
    for variant in config.get("ProductionVariants", []):
        copy = dict(variant)
        if copy["VariantName"] in weights:
            copy["InitialVariantWeight"] = weights[copy["VariantName"]]
        kept.append(copy)
    return kept


def _check_request(
    name: str, settings: DeploySettings, endpoint: dict[str, Any] | None, region: str
) -> None:
    if endpoint is not None and settings.mode == "create":
        raise AlreadyExists(
            f"An endpoint named {name!r} already exists in {region}. Deploy with mode 'replace' "
            "(swap its model, blue/green) or 'add' (add a production variant), or choose "
            "another name."
        )
    if endpoint is not None and not settings.synchronous and not settings.archive:
        raise InvalidParameter(
            f"Updating {name!r} without waiting cannot clean up its old resources afterwards: "
            "wait for it (drop --async) or keep them (--archive)."
        )


def deploy(
    ctx: AwsContext,
    name: str,
    model_uri: str,
    flavor: str | None,
    settings: DeploySettings,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Deploy ``model_uri`` as the endpoint ``name`` (see the module docstring for the modes).

    Returns ``name``, ``flavor``, the endpoint's status and what was created.
    """
    report = progress or log_progress
    check_resource_name(name, "The application name")
    if settings.variant_name:
        check_resource_name(settings.variant_name, "The variant name")
    endpoint = find_endpoint(ctx, name)
    _check_request(name, settings, endpoint, ctx.region)
    old_config = _endpoint_config(ctx, endpoint["EndpointConfigName"]) if endpoint else None
    variants: list[dict[str, Any]] = []
    if endpoint is not None and old_config is not None and settings.mode == "add":
        variants = _kept_variants(endpoint, old_config)
        taken = {v["VariantName"] for v in variants}
        if settings.variant_name in taken:
            raise AlreadyExists(
                f"The endpoint {name!r} already has a variant named {settings.variant_name!r}."
            )
    model = create_sagemaker_model(
        ctx, _unique(name, "model"), model_uri, flavor, settings, name, report
    )
    config_name = _unique(name, "config")
    try:
        _create_config(ctx, config_name, [*variants, _variant(model, settings)], settings, name)
    except Exception:
        delete_sagemaker_model(ctx, model.name)
        raise
    sagemaker = ctx.client("sagemaker")
    try:
        if endpoint is None:
            with aws_errors(f"creating the endpoint {name}"):
                sagemaker.create_endpoint(
                    EndpointName=name,
                    EndpointConfigName=config_name,
                    Tags=resource_tags(name, settings, model_uri),
                )
        else:
            with aws_errors(f"updating the endpoint {name}"):
                sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config_name)
    except Exception:
        _delete_config(ctx, config_name)
        delete_sagemaker_model(ctx, model.name)
        raise
    report(f"{'Updating' if endpoint else 'Creating'} the endpoint {name} ({config_name})")
    result = {
        "name": name,
        "flavor": model.flavor,
        "mode": settings.mode,
        "region_name": ctx.region,
        "model_name": model.name,
        "model_data_url": model.model_data_url,
        "image_url": model.image_url,
        "endpoint_config_name": config_name,
        "endpoint_status": "Updating" if endpoint else "Creating",
    }
    if not settings.synchronous:
        return result
    if endpoint is None:
        status = _wait_created(ctx, name, settings, report)
    else:
        status = _wait_updated(ctx, name, config_name, model.name, settings, report)
    result["endpoint_status"] = status.status
    if endpoint is not None and old_config is not None and not settings.archive:
        kept = {v["ModelName"] for v in variants}
        _clean_up_config(ctx, old_config, keep_models=kept)
    return result


def _unique(base: str, kind: str) -> str:
    from runlab.deployments.sagemaker_aws import unique_name

    return unique_name(base, kind)


def _create_config(
    ctx: AwsContext,
    config_name: str,
    variants: list[dict[str, Any]],
    settings: DeploySettings,
    owner: str,
) -> None:
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": variants,
        "Tags": resource_tags(owner, settings),
    }
    if settings.data_capture_config:
        request["DataCaptureConfig"] = settings.data_capture_config
    if settings.async_inference_config:
        request["AsyncInferenceConfig"] = settings.async_inference_config
    with aws_errors(f"creating the endpoint configuration {config_name}"):
        ctx.client("sagemaker").create_endpoint_config(**request)


def _delete_config(ctx: AwsContext, config_name: str) -> None:
    try:
        with aws_errors(f"deleting the endpoint configuration {config_name}"):
            ctx.client("sagemaker").delete_endpoint_config(EndpointConfigName=config_name)
    except NotFound:
        return
    logger.info("Deleted the endpoint configuration %s", config_name)


def _clean_up_config(
    ctx: AwsContext, config: dict[str, Any], keep_models: set[str] | frozenset[str] = frozenset()
) -> None:
    """Delete an endpoint configuration and the models of its variants not in ``keep_models``."""
    _delete_config(ctx, str(config["EndpointConfigName"]))
    for variant in config.get("ProductionVariants", []):
        if variant.get("ModelName") and variant["ModelName"] not in keep_models:
            delete_sagemaker_model(ctx, str(variant["ModelName"]))


def _look(ctx: AwsContext, name: str) -> Status:
    found = find_endpoint(ctx, name)
    if found is None:
        return Status("Deleted")
    return Status(str(found["EndpointStatus"]), str(found.get("FailureReason") or ""))


def _wait_created(ctx: AwsContext, name: str, settings: DeploySettings, report: Progress) -> Status:
    delete = f"runlab sagemaker delete --app-name {name} --region-name {ctx.region}"
    return wait_for_status(
        lambda: _look(ctx, name),
        what=f"endpoint {name}",
        done={"InService"},
        failed={"Failed", "Deleted", "OutOfService"},
        timeout_seconds=settings.timeout_seconds,
        progress=report,
        after_timeout=f"It goes on in AWS; check it with `runlab sagemaker list --region-name "
        f"{ctx.region}`.",
        after_failure=f"Its model and configuration are kept for diagnosis (see the endpoint's "
        f"CloudWatch logs); `{delete}` removes them.",
    )


def _wait_updated(
    ctx: AwsContext,
    name: str,
    config_name: str,
    model_name: str,
    settings: DeploySettings,
    report: Progress,
) -> Status:
    def look() -> Status:
        found = find_endpoint(ctx, name)
        if found is None:
            return Status("Deleted")
        status = str(found["EndpointStatus"])
        reason = str(found.get("FailureReason") or "")
        if status == "InService" and found.get("EndpointConfigName") != config_name:
            return Status("RolledBack", reason or "SageMaker kept the previous configuration")
        return Status(status, reason)

    try:
        return wait_for_status(
            look,
            what=f"endpoint {name}",
            done={"InService"},
            failed={"Failed", "RollingBack", "RolledBack", "Deleted"},
            timeout_seconds=settings.timeout_seconds,
            progress=report,
            after_timeout="It goes on in AWS; its old configuration and models were not "
            "cleaned up.",
        )
    except InvalidState as exc:
        if settings.archive:
            raise
        # The update did not take: what was made for it serves nothing.
        _delete_config(ctx, config_name)
        delete_sagemaker_model(ctx, model_name)
        raise InvalidState(
            f"{exc.message} The update of {name!r} did not take; the endpoint keeps its "
            "previous configuration, and the new model and configuration were deleted."
        ) from None


def delete_deployment(
    ctx: AwsContext,
    name: str,
    settings: DeleteSettings,
    progress: Progress | None = None,
    missing_ok: bool = False,
) -> bool:
    """Delete the endpoint ``name`` and, unless ``archive``, its configuration and models.

    Returns False when there was no such endpoint (with ``missing_ok``; else NotFound).
    """
    check_resource_name(name, "The application name")
    if not settings.synchronous and not settings.archive:
        raise InvalidParameter(
            "Deleting without waiting cannot clean up the endpoint's configuration and models "
            "afterwards: wait for it (drop --async) or keep them (--archive)."
        )
    endpoint = find_endpoint(ctx, name)
    if endpoint is None:
        if missing_ok:
            return False
        raise NotFound(f"No SageMaker endpoint named {name!r} in {ctx.region}.")
    config = _endpoint_config(ctx, str(endpoint["EndpointConfigName"]))
    with aws_errors(f"deleting the endpoint {name}"):
        ctx.client("sagemaker").delete_endpoint(EndpointName=name)
    if not settings.synchronous:
        return True
    wait_for_status(
        lambda: _look(ctx, name),
        what=f"endpoint {name}",
        done={"Deleted"},
        failed={"Failed"},
        timeout_seconds=settings.timeout_seconds,
        progress=progress,
        after_timeout="Its configuration and models were not cleaned up.",
    )
    if config is not None and not settings.archive:
        _clean_up_config(ctx, config)
    return True


def list_deployments(ctx: AwsContext) -> list[dict[str, Any]]:
    """Every endpoint of the region, as SageMaker lists it, with ``name``."""
    found: list[dict[str, Any]] = []
    with aws_errors("listing endpoints"):
        for page in ctx.client("sagemaker").get_paginator("list_endpoints").paginate():
            for endpoint in page.get("Endpoints", []):
                found.append({"name": endpoint["EndpointName"], **jsonable(endpoint)})
    return found


def describe_deployment(ctx: AwsContext, name: str) -> dict[str, Any]:
    """The endpoint ``name`` as SageMaker describes it, with ``name`` and its configuration."""
    check_resource_name(name, "The application name")
    endpoint = find_endpoint(ctx, name)
    if endpoint is None:
        raise NotFound(f"No SageMaker endpoint named {name!r} in {ctx.region}.")
    result = {"name": name, **jsonable(endpoint)}
    config = _endpoint_config(ctx, str(endpoint["EndpointConfigName"]))
    if config is not None:
        result["EndpointConfig"] = jsonable(config)
    return result


def predict(ctx: AwsContext, name: str, inputs: Any, params: dict[str, Any] | None) -> Any:
    """Score ``inputs`` on the endpoint ``name`` (SageMaker runtime InvokeEndpoint)."""
    from runlab.deployments.scoring import predictions_response, scoring_request

    check_resource_name(name, "The deployment name")
    body = json.dumps(scoring_request(inputs, params))
    with aws_errors(f"scoring on the endpoint {name}"):
        answer = ctx.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name,
            Body=body.encode("utf-8"),
            ContentType="application/json",
            Accept="application/json",
        )
        text = answer["Body"].read().decode("utf-8")
    try:
        decoded = json.loads(text)
    except ValueError:
        raise InvalidParameter(
            f"The endpoint {name!r} answered with something that is not JSON: {text[:200]!r}."
        ) from None
    return predictions_response(decoded)
