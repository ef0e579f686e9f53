"""AWS for the SageMaker target's tests: one moto server over HTTP (SageMaker, its runtime, S3,
STS, IAM and ECR), reached by boto3 through AWS's standard ``AWS_ENDPOINT_URL``.

Tests import the fixtures from here (``from support.moto_sagemaker import ...``). The server is
moto's own (``ThreadedMotoServer``) in this process, so every request goes over HTTP through
botocore's real request building and validation, and the tests can look at (and set) the
emulator's state.

What moto 5 lacks is added here, as an emulation of what AWS does, and said so:

- ``UpdateEndpoint`` (the ``replace`` and ``add`` modes): the endpoint switches to the new
  configuration, as SageMaker does once the new variants are InService;
- ``StopTransformJob``: a running job becomes Stopped;
- moto makes endpoints InService and transform jobs Completed at once: :class:`Outcomes` lets a
  test say what the next endpoint create/update or transform job of a given name turns into
  (``Creating`` forever, ``Failed`` with a reason, an update SageMaker rolls back), which is how
  the wait loop's failure and timeout paths are driven with real resources.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from support.moto_s3 import _apply_dummy_env

ACCOUNT = "123456789012"
REGION = "us-west-2"
ROLE_NAME = "runlab-sagemaker-test"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
BUCKET = "runlab-sagemaker-models-test"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Outcomes:
    """What the emulator does next, by resource name (each entry is used once).

    ``endpoint``: the status (and failure reason) an endpoint gets when created or updated;
    the status ``RolledBack`` keeps an updated endpoint on its old configuration, InService,
    with the reason, as SageMaker does when an update fails. ``transform_job``: a job's
    status when created.
    """

    endpoint: dict[str, tuple[str, str]] = field(default_factory=dict)
    transform_job: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: CreateEndpoint of this name is refused with (error code, message), as AWS refuses one
    #: past a quota (ResourceLimitExceeded).
    refuse_endpoint: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MotoAws:
    """The running emulator: its URL, region, and handles on its state."""

    endpoint_url: str
    outcomes: Outcomes

    def sagemaker_state(self, region: str = REGION) -> Any:
        """moto's SageMaker backend of ``region`` (endpoints, configs, models, jobs)."""
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][region]

    def runtime_requests(self, region: str = REGION) -> list[dict[str, Any]]:
        """The InvokeEndpoint requests the runtime emulator has answered (decoded)."""
        import base64

        from moto.sagemakerruntime.models import sagemakerruntime_backends

        seen = []
        for per_endpoint in sagemakerruntime_backends[ACCOUNT][region].results.values():
            for key in per_endpoint:
                seen.append(json.loads(base64.b64decode(key)))
        return seen

    def queue_runtime_answer(self, body: str, region: str = REGION) -> None:
        """The next InvokeEndpoint answer (moto's documented way to set one)."""
        import httpx

        httpx.post(
            f"{self.endpoint_url}/moto-api/static/sagemaker/endpoint-results",
            json={
                "account_id": ACCOUNT,
                "region": region,
                "results": [
                    {
                        "Body": body,
                        "ContentType": "application/json",
                        "InvokedProductionVariant": "v",
                        "CustomAttributes": "",
                    }
                ],
            },
        ).raise_for_status()

    def clear_runtime(self, region: str = REGION) -> None:
        from moto.sagemakerruntime.models import sagemakerruntime_backends

        backend = sagemakerruntime_backends[ACCOUNT][region]
        backend.results.clear()
        backend.results_queue.clear()


def _install_missing_operations(outcomes: Outcomes) -> list[tuple[Any, str, Any]]:
    """Add UpdateEndpoint and StopTransformJob to moto, and the outcome hooks; what to undo."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.sagemaker.exceptions import SagemakerClientError, ValidationError
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    undo: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        undo.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, value)

    original_create_endpoint = SageMakerModelBackend.create_endpoint
    original_create_job = SageMakerModelBackend.create_transform_job

    def create_endpoint(self: Any, endpoint_name: str, *args: Any, **kwargs: Any) -> Any:
        if endpoint_name in outcomes.refuse_endpoint:
            code, message = outcomes.refuse_endpoint.pop(endpoint_name)
            raise type("Refused", (SagemakerClientError,), {"code": code})(message)
        endpoint = original_create_endpoint(self, endpoint_name, *args, **kwargs)
        status, reason = outcomes.endpoint.pop(endpoint_name, ("InService", ""))
        endpoint.endpoint_status = status
        endpoint.failure_reason = reason or None
        return endpoint

    def create_transform_job(self: Any, transform_job_name: str, *args: Any, **kwargs: Any) -> Any:
        job = original_create_job(self, transform_job_name, *args, **kwargs)
        status, reason = outcomes.transform_job.pop(transform_job_name, ("Completed", ""))
        job.transform_job_status = status
        job.failure_reason = reason
        return job

    def update_endpoint(self: Any) -> Any:
        name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        backend = self.sagemaker_backend
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = backend.describe_endpoint_config(config_name)
        status, reason = outcomes.endpoint.pop(name, ("InService", ""))
        if status == "RolledBack":
            endpoint.endpoint_status = "InService"
        else:
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint._process_production_variants(
                config["ProductionVariants"]
            )
            endpoint.endpoint_status = status
        endpoint.failure_reason = reason or None
        return ActionResult({"EndpointArn": endpoint.arn})

    def stop_transform_job(self: Any) -> Any:
        name = self._get_param("TransformJobName")
        job = self.sagemaker_backend.transform_jobs.get(name)
        if job is None:
            raise ValidationError(message=f"Could not find job '{name}'.")
        if job.transform_job_status != "InProgress":
            raise ValidationError(
                message=f"Transform job {name} is {job.transform_job_status}, not InProgress."
            )
        job.transform_job_status = "Stopped"
        return EmptyResult()

    patch(SageMakerModelBackend, "create_endpoint", create_endpoint)
    patch(SageMakerModelBackend, "create_transform_job", create_transform_job)
    patch(SageMakerResponse, "update_endpoint", update_endpoint)
    patch(SageMakerResponse, "stop_transform_job", stop_transform_job)
    return undo


# One emulator per test session, however many test modules import the fixture (each import is a
# fixture definition of its own, so pytest would otherwise set it up once per module).
_shared: dict[str, Any] = {}


def _start() -> tuple[MotoAws, Any, list[tuple[Any, str, Any]]]:
    moto_server = pytest.importorskip("moto.server")
    import boto3

    outcomes = Outcomes()
    undo = _install_missing_operations(outcomes)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        _apply_dummy_env(env)
        session = boto3.session.Session(region_name=REGION)
        session.client("iam", endpoint_url=url).create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        session.client("s3", endpoint_url=url).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        push_default_image(session.client("ecr", endpoint_url=url))
    return MotoAws(url, outcomes), server, undo


@pytest.fixture(scope="session")
def moto_aws() -> Iterator[MotoAws]:
    """The emulator for the session, with the execution role, the image and a bucket in it."""
    pytest.importorskip("boto3")
    if not _shared:
        _shared["aws"], _shared["server"], _shared["undo"] = _start()
        _shared["users"] = 0
    _shared["users"] += 1
    try:
        yield _shared["aws"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["server"].stop()
            for owner, name, value in reversed(_shared["undo"]):
                if value is None:
                    delattr(owner, name)
                else:
                    setattr(owner, name, value)
            _shared.clear()


def push_default_image(ecr: Any) -> None:
    """Put runlab's default serving image (runlab-pyfunc:<version>) into the emulated ECR."""
    from runlab import __version__

    ecr.create_repository(repositoryName="runlab-pyfunc")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
    ecr.put_image(
        repositoryName="runlab-pyfunc", imageManifest=json.dumps(manifest), imageTag=__version__
    )


@pytest.fixture
def aws(moto_aws: MotoAws, monkeypatch: pytest.MonkeyPatch) -> MotoAws:
    """Dummy credentials, the test region, and boto3 pointed at the emulator through
    ``AWS_ENDPOINT_URL`` (what boto3 reads itself: runlab is given no URL)."""
    _apply_dummy_env(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_aws.endpoint_url)
    for name in ("RUNLAB_SAGEMAKER_DEPLOY_IMG_URL", "MLFLOW_SAGEMAKER_DEPLOY_IMG_URL"):
        monkeypatch.delenv(name, raising=False)
    moto_aws.outcomes.endpoint.clear()
    moto_aws.outcomes.transform_job.clear()
    moto_aws.outcomes.refuse_endpoint.clear()
    return moto_aws


def sagemaker_resources(state: Any) -> dict[str, list[str]]:
    """The names of every endpoint, configuration, model and transform job in a backend."""
    return {
        "endpoints": sorted(state.endpoints),
        "configs": sorted(state.endpoint_configs),
        "models": sorted(state._models),
        "jobs": sorted(state.transform_jobs),
    }
