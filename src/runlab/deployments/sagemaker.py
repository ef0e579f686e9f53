"""The ``sagemaker`` deployment target: models on Amazon SageMaker endpoints.

::

    from runlab.deployments import get_deploy_client

    client = get_deploy_client("sagemaker:/us-west-2")
    client.create_deployment(
        "churn",
        "models:/churn@champion",
        config={"execution_role_arn": "arn:aws:iam::123456789012:role/sagemaker", "instance_count": 2},
    )
    client.predict("churn", frame)

The target URI is ``sagemaker`` (region us-west-2), ``sagemaker:/<region>`` or
``sagemaker:/<region>/<role ARN>`` (every call made as that role, through STS AssumeRole).
``runlab sagemaker ...`` runs the same code with MLflow's options; see :func:`target_help` for
the ``config`` keys. Needs boto3 (``pip install 'runlab[sagemaker]'``), imported when a method
runs. The pieces: :mod:`~runlab.deployments.sagemaker_endpoints` (deploy, delete, list, get,
predict), :mod:`~runlab.deployments.sagemaker_models` (the SageMaker model of a runlab model),
:mod:`~runlab.deployments.sagemaker_transform` (batch transform),
:mod:`~runlab.deployments.sagemaker_image` (the serving image) and
:mod:`runlab.serving.sagemaker_container` (the command that image runs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

from runlab.deployments.base import BaseDeploymentClient, PredictionsResponse
from runlab.deployments.sagemaker_config import (
    DeleteSettings,
    DeploySettings,
    parse_target_uri,
    settings_from_config,
)
from runlab.errors import InvalidParameter

__all__ = ["DeploymentClient", "run_local", "target_help"]


def _aws(region: str, role: str | None) -> Any:
    from runlab.deployments.sagemaker_aws import AwsContext

    return AwsContext(region=region, assume_role_arn=role)


def _no_endpoint(endpoint: str | None) -> None:
    if endpoint is not None:
        raise InvalidParameter(
            "A SageMaker deployment is an endpoint of its own: leave endpoint unset and name "
            "the deployment."
        )


class DeploymentClient(BaseDeploymentClient):
    """Deployments to SageMaker endpoints of one region (see the module docstring)."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        self.region_name, self.assume_role_arn = parse_target_uri(target_uri)

    def _deploy_settings(self, config: dict[str, Any] | None, mode: str) -> DeploySettings:
        settings: DeploySettings = settings_from_config(
            DeploySettings,
            config,
            region_name=self.region_name,
            assume_role_arn=self.assume_role_arn,
            mode=mode,
        )
        return settings

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``model_uri`` as the endpoint ``name`` (config ``mode`` default ``create``)."""
        from runlab.deployments.sagemaker_endpoints import deploy

        _no_endpoint(endpoint)
        settings = self._deploy_settings(config, "create")
        ctx = _aws(settings.region_name, settings.assume_role_arn)
        return deploy(ctx, name, model_uri, flavor, settings)

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``model_uri`` to the existing endpoint ``name`` (``mode`` ``replace`` or
        ``add``, default ``replace``)."""
        from runlab.deployments.sagemaker_endpoints import deploy, find_endpoint
        from runlab.errors import NotFound

        _no_endpoint(endpoint)
        if not model_uri:
            raise InvalidParameter(
                "A SageMaker update deploys a model: give model_uri (the endpoint's settings "
                "are changed by deploying with them)."
            )
        settings = self._deploy_settings(config, "replace")
        if settings.mode not in ("replace", "add"):
            raise InvalidParameter(
                f"update_deployment's mode must be 'replace' or 'add', got {settings.mode!r}."
            )
        ctx = _aws(settings.region_name, settings.assume_role_arn)
        if find_endpoint(ctx, name) is None:
            raise NotFound(
                f"No SageMaker endpoint named {name!r} in {ctx.region} to update; create it first."
            )
        return deploy(ctx, name, model_uri, flavor, settings)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Delete the endpoint ``name`` and (unless config ``archive``) its configuration and
        models; nothing happens when there is no such endpoint."""
        from runlab.deployments.sagemaker_endpoints import delete_deployment

        _no_endpoint(endpoint)
        settings: DeleteSettings = settings_from_config(
            DeleteSettings,
            config,
            region_name=self.region_name,
            assume_role_arn=self.assume_role_arn,
        )
        ctx = _aws(settings.region_name, settings.assume_role_arn)
        delete_deployment(ctx, name, settings, missing_ok=True)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The region's endpoints (SageMaker's summaries, each with ``name``)."""
        from runlab.deployments.sagemaker_endpoints import list_deployments

        _no_endpoint(endpoint)
        return list_deployments(_aws(self.region_name, self.assume_role_arn))

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """The endpoint ``name`` and its configuration; NotFound if there is none."""
        from runlab.deployments.sagemaker_endpoints import describe_deployment

        _no_endpoint(endpoint)
        return describe_deployment(_aws(self.region_name, self.assume_role_arn), name)

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` on the endpoint ``deployment_name`` (InvokeEndpoint, JSON)."""
        from runlab.deployments.sagemaker_endpoints import predict

        _no_endpoint(endpoint)
        if not deployment_name:
            raise InvalidParameter("predict needs the deployment's name.")
        response: PredictionsResponse = predict(
            _aws(self.region_name, self.assume_role_arn), deployment_name, inputs, params
        )
        return response


_RUN_LOCAL_KEYS = ("port", "workers", "trust_model")


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve ``model_uri`` on this machine with the SageMaker image's own command.

    The model is fetched and handed to ``python -m runlab.serving.sagemaker_container serve``
    as SageMaker would hand it to the container (without Docker: in this Python environment).
    Config: ``port`` (default 5000), ``workers`` (default 1), ``trust_model``. Blocks until
    the server stops (Ctrl-C).
    """
    from runlab.deployments.deployable import deployable_model
    from runlab.deployments.sagemaker_config import _as_bool, _as_int
    from runlab.models.trust import TRUSTED_SOURCES_ENV
    from runlab.serving.sagemaker_container import MODEL_DIR_ENV

    given = dict(config or {})
    unknown = sorted(set(given) - set(_RUN_LOCAL_KEYS))
    if unknown:
        raise InvalidParameter(
            f"Unknown run-local config key(s): {', '.join(unknown)}. Known keys: "
            f"{', '.join(_RUN_LOCAL_KEYS)}."
        )
    port = _as_int("port", given.get("port", 5000))
    workers = _as_int("workers", given.get("workers", 1))
    trusted = _as_bool("trust_model", given.get("trust_model", False))
    with deployable_model(model_uri, flavor) as model:
        env = {
            **os.environ,
            MODEL_DIR_ENV: str(model.path),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        }
        if model.trust(trusted).allows():
            env[TRUSTED_SOURCES_ENV] = str(model.path)
        command = [sys.executable, "-m", "runlab.serving.sagemaker_container", "serve"]
        print(f"Serving {model_uri} as the SageMaker deployment {name!r} on port {port}.")
        process = subprocess.Popen(command, env=env)
        previous = None
        if threading.current_thread() is threading.main_thread():
            # Stopping this process stops the server too, instead of leaving it running.
            previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            code = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            code = process.wait()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    if code not in (0, -15):
        raise InvalidParameter(f"The SageMaker serving command exited with code {code}.")


def target_help() -> str:
    """What the SageMaker target's URI and config keys mean."""
    return _HELP


_HELP = """\
Deploy models to Amazon SageMaker endpoints (needs boto3: pip install 'runlab[sagemaker]').

Target URI: sagemaker (region us-west-2), sagemaker:/<region>, or
sagemaker:/<region>/<role ARN> to act as that IAM role (STS AssumeRole). Credentials and
service endpoints come from AWS's usual sources (AWS_* variables such as AWS_PROFILE and
AWS_ENDPOINT_URL, config files, instance roles).

A deployment NAME is the SageMaker endpoint NAME, with a configuration NAME-config-<id> and
models NAME-model-<id>; the model is uploaded as s3://<bucket>/NAME-model-<id>/model.tar.gz.

Config keys (-C key=value) for create and update:
  mode                   create (default for create; refuses an existing endpoint), replace
                         (default for update; blue/green, old resources deleted once the new
                         ones are InService) or add (one more production variant)
  execution_role_arn     IAM role SageMaker runs the model with (default: the caller's role)
  bucket                 S3 bucket for the model (default runlab-sagemaker-<region>-<account>,
                         created when missing)
  image_url              serving image (default <account>.dkr.ecr.<region>.amazonaws.com/
                         runlab-pyfunc:<runlab version>, see runlab sagemaker
                         build-and-push-container; RUNLAB_SAGEMAKER_DEPLOY_IMG_URL overrides)
  region_name            AWS region (default: the target URI's)
  instance_type          default ml.m5.xlarge
  instance_count         default 1
  variant_name           production variant name (default: the model's name)
  vpc_config             JSON object: SecurityGroupIds, Subnets
  data_capture_config    JSON object, SageMaker's DataCaptureConfig
  async_inference_config JSON object, SageMaker's AsyncInferenceConfig
  serverless_config      JSON object, SageMaker's ServerlessConfig (instead of instances)
  env                    JSON object: the container's environment
  tags                   JSON object: tags of the model, configuration and endpoint
  trust_model            true lets the container load a model whose files run code (a pickle)
  synchronous            wait until the endpoint is InService (default true)
  timeout_seconds        how long to wait (default 1200)
  archive                keep replaced configurations and models (default false)
  assume_role_arn        IAM role to act as (default: the target URI's)

Config keys for delete: region_name, assume_role_arn, archive, synchronous, timeout_seconds.
Config keys for run-local: port (default 5000), workers (default 1), trust_model.
"""
