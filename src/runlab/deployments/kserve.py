"""The ``kserve`` deployment target: a KServe InferenceService with runlab as a custom predictor.

::

    runlab deployments create -t kserve --name churn -m models:/churn@champion \\
        -C apply=true -C deployment_mode=RawDeployment

The InferenceService (``serving.kserve.io/v1beta1``) has one predictor container,
``kserve-container``, running the serving image with ``runlab models serve``. A model whose
files are in ``s3://`` or ``gs://`` (or a ``pvc://`` URI) is downloaded by KServe's storage
initializer into ``/mnt/models`` (the container's ``STORAGE_URI``), and the container serves
that folder; any other model is fetched by the container itself (see
:mod:`runlab.deployments.k8s_model`). Create, update and delete are
:mod:`runlab.deployments.k8s_target`'s; :func:`target_help` lists the config keys.
"""

from __future__ import annotations

from typing import Any

from runlab.deployments.base import PredictionsResponse
from runlab.deployments.k8s_manifests import inference_service_manifest
from runlab.deployments.k8s_model import ClusterModel
from runlab.deployments.k8s_settings import KubeSettings, validate_name
from runlab.deployments.k8s_target import (
    KubeTargetClient,
    describe_metadata,
    local_command,
    predictions_from,
    run_local_command,
    scoring_body,
)
from runlab.errors import InvalidParameter, NotFound, PermissionDenied, Unavailable

__all__ = ["DeploymentClient", "run_local", "target_help"]

_TARGET = "kserve"
_NO_CRD = "could not find the requested resource"


class DeploymentClient(KubeTargetClient):
    """Deployments as one InferenceService each."""

    target = _TARGET
    primary_kind = "InferenceService"

    def build(
        self, name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
    ) -> list[dict[str, Any]]:
        """The InferenceService."""
        return [inference_service_manifest(name, namespace, model, settings)]

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """As the shared create, with a hint when the cluster has no KServe."""
        try:
            return super().create_deployment(name, model_uri, flavor, config, endpoint)
        except NotFound as exc:
            raise _with_crd_hint(exc) from None

    def describe(self, objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Name, model, image, URL and readiness, as KServe reports them in the status."""
        service = objects["InferenceService"]
        predictor = (service.get("spec") or {}).get("predictor") or {}
        status = service.get("status") or {}
        conditions = status.get("conditions") or []
        ready: dict[str, Any] = next(
            (c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), {}
        )
        info = describe_metadata(service)
        info.update(
            {
                "image": ((predictor.get("containers") or [{}])[0]).get("image"),
                "min_replicas": predictor.get("minReplicas"),
                "max_replicas": predictor.get("maxReplicas"),
                "url": status.get("url"),
                "ready": ready.get("status") == "True",
            }
        )
        if ready.get("status") != "True" and ready.get("message"):
            info["reason"] = ready["message"]
        return info

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` with POST ``<status.url>/invocations``: the address KServe reports
        for the InferenceService, which this machine must be able to reach."""
        import httpx

        self._no_endpoint(endpoint)
        name = validate_name(deployment_name)
        body = scoring_body(inputs)
        with self._cluster() as cluster:
            namespace = self.uri_namespace or cluster.namespace
            info = self.describe(self._existing(cluster, name, namespace))
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise Unavailable(
                f"The InferenceService {namespace}/{name} has no URL yet (ready: "
                f"{info['ready']}); KServe sets one once its predictor is up."
            )
        where = f"The InferenceService {namespace}/{name} ({url})"
        try:
            response = httpx.post(f"{url.rstrip('/')}/invocations", json=body, timeout=120)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Cannot reach {url} ({type(exc).__name__}: {exc}).") from None
        if response.status_code >= 400:
            message = _error_message(response)
            if response.status_code in (401, 403):
                raise PermissionDenied(f"{where} refused the request: {message}")
            if response.status_code < 500:
                raise InvalidParameter(f"{where} refused the request: {message}")
            raise Unavailable(f"{where} failed (HTTP {response.status_code}): {message}")
        return predictions_from(response.content, where)


def _error_message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return str(response.text[:500])
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return str(response.text[:500])


def _with_crd_hint(exc: NotFound) -> NotFound:
    if _NO_CRD not in exc.message:
        return exc
    return NotFound(
        f"{exc.message} Is KServe installed in this cluster (kubectl get crd "
        "inferenceservices.serving.kserve.io)?"
    )


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve the model here the way the predictor container does (``runlab models serve``
    with the same options, the model read from its URI rather than a storage initializer),
    on 127.0.0.1:``port``, until interrupted."""
    argv, env = local_command(_TARGET, name, model_uri, flavor, config)
    run_local_command(argv, env)


def target_help() -> str:
    """The target URI and config keys of the ``kserve`` target."""
    return _HELP


_HELP = """\
Target URI: kserve (the current kubeconfig context and its namespace) or kserve:/<namespace>.

create/update write a KServe InferenceService (serving.kserve.io/v1beta1) named after the
deployment, whose predictor is one custom container, kserve-container: the serving image with
`runlab models serve -m <model> --host 0.0.0.0 -p <port>`, a readiness probe on /ping and a
liveness probe on /health (in RawDeployment mode also a startup probe on /ping).

What happens to the manifest:
  (default)            write it to <name>-kserve.yaml (or output=PATH)
  dry_run=true         print it as YAML
  apply=true           create it (update: replace it) in the current context's cluster
  apply=true dry_run=true   the API server checks it and stores nothing

The model (-m): when its files are in s3:// or gs:// (given so, or where a models:/ URI
resolves to), or it is a pvc://<claim>/<path> URI, KServe's storage initializer downloads it
to /mnt/models (STORAGE_URI) and the container serves that folder; otherwise the container
fetches it: models:/ and runs:/ URIs through the tracking server (a stage or alias is pinned
to its version now). A local path is refused.
  storage_initializer=true|false   force or turn off the storage initializer (default: auto)
  tracking_uri=URL     the tracking server as the cluster reaches it (default: the current
                       tracking URI, if it is an http(s) address other than loopback)
  registry_uri=URL     the registry, when it is not the tracking server
  model_in_image=true  the image holds the model at /opt/ml/model (runlab models build-docker)
  trust_model=true     serve with --trust-model (models whose files run code when loaded)

The predictor:
  image=IMAGE          default runlab-pyfunc:<runlab version> (the image of `runlab
                       sagemaker build-and-push-container`, pushed where the cluster pulls)
  image_pull_policy=Always|IfNotPresent|Never    image_pull_secret=SECRET
  replicas=N (1: minReplicas; 0 lets a serverless predictor scale to zero)
  max_replicas=N       maxReplicas        workers=N (1)        port=N (8080)
  cpu_request, memory_request, cpu_limit, memory_limit, gpu_limit (e.g. 500m, 1Gi, 1)
  env={"NAME": "value"} or env.NAME=value        env_from_secret=SECRET[,SECRET]
  service_account=NAME (with the storage credentials KServe reads)
  deployment_mode=Serverless|RawDeployment       startup_timeout=SECONDS (600)
  namespace=NAME       (or in the target URI)

predict posts to <status.url>/invocations (the URL KServe reports). delete removes the
InferenceService (dry_run=true: checked, not deleted); list and get read it and its status.
"""
