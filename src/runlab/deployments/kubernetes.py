"""The ``kubernetes`` deployment target: a Deployment and a Service running ``runlab models serve``.

::

    runlab deployments create -t kubernetes --name churn -m models:/churn@champion \\
        -C tracking_uri=http://runlab.mlops:5000 -C replicas=2 -C apply=true

See :mod:`runlab.deployments.k8s_target` for what create, update and delete do,
:mod:`runlab.deployments.k8s_model` for how the container gets the model, and
:func:`target_help` for every config key. Importing this module imports no Kubernetes client;
talking to a cluster needs ``pip install 'runlab[kubernetes]'``.
"""

from __future__ import annotations

from typing import Any

from runlab.deployments.base import PredictionsResponse
from runlab.deployments.k8s_manifests import deployment_manifest, service_manifest
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

__all__ = ["DeploymentClient", "run_local", "target_help"]

_TARGET = "kubernetes"


class DeploymentClient(KubeTargetClient):
    """Deployments as a Deployment plus a Service of the same name."""

    target = _TARGET
    primary_kind = "Deployment"

    def _kinds(self) -> list[str]:
        return ["Deployment", "Service"]

    def build(
        self, name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
    ) -> list[dict[str, Any]]:
        """The Deployment, then the Service in front of its pods."""
        return [
            deployment_manifest(name, namespace, model, settings),
            service_manifest(name, namespace, model, settings),
        ]

    def describe(self, objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Name, model, image, replicas (wanted and ready) and, with the Service, its address."""
        deployment = objects["Deployment"]
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        containers = (((spec.get("template") or {}).get("spec") or {}).get("containers")) or [{}]
        info = describe_metadata(deployment)
        info.update(
            {
                "image": containers[0].get("image"),
                "replicas": spec.get("replicas"),
                "ready_replicas": status.get("readyReplicas") or 0,
                "available_replicas": status.get("availableReplicas") or 0,
            }
        )
        service = objects.get("Service")
        if service is not None:
            ports = (service.get("spec") or {}).get("ports") or [{}]
            info["endpoint"] = (
                f"http://{info['name']}.{info['namespace']}.svc:{ports[0].get('port')}"
            )
        return info

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` on the deployment's pods through the API server's service proxy
        (POST /invocations of the Service's ``http`` port): no ingress or port-forward needed,
        only the kubeconfig's credentials and RBAC permission for ``services/proxy``."""
        self._no_endpoint(endpoint)
        name = validate_name(deployment_name)
        body = scoring_body(inputs)
        with self._cluster() as cluster:
            namespace = self.uri_namespace or cluster.namespace
            self._existing(cluster, name, namespace)
            data = cluster.post_to_service(namespace, name, "http", "invocations", body)
        return predictions_from(data, f"The deployment {namespace}/{name}")


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve the model here the way the Deployment's container does (``runlab models serve``
    with the same options), on 127.0.0.1:``port``, until interrupted."""
    argv, env = local_command(_TARGET, name, model_uri, flavor, config)
    run_local_command(argv, env)


def target_help() -> str:
    """The target URI and config keys of the ``kubernetes`` target."""
    return _HELP


_HELP = """\
Target URI: kubernetes (the current kubeconfig context and its namespace) or
kubernetes:/<namespace>.

create/update write a Deployment and a Service named after the deployment; both run the
serving image with `runlab models serve -m <model> --host 0.0.0.0 -p <port>`, readiness and
startup probes on /ping and a liveness probe on /health.

What happens to the manifests:
  (default)            write them to <name>-kubernetes.yaml (or output=PATH)
  dry_run=true         print them as YAML
  apply=true           create them (update: replace them) in the current context's cluster
  apply=true dry_run=true   the API server checks them and stores nothing

The model (-m): models:/name/<version|stage|@alias> and runs:/ URIs are resolved in the
container through the tracking server (a stage or alias is pinned to its version now); an
s3:// or other storage URI is read by the container directly; a local path is refused.
  tracking_uri=URL     the tracking server as the cluster reaches it (default: the current
                       tracking URI, if it is an http(s) address other than loopback)
  registry_uri=URL     the registry, when it is not the tracking server
  model_in_image=true  the image holds the model at /opt/ml/model (runlab models build-docker)
  trust_model=true     serve with --trust-model (models whose files run code when loaded)

The pods:
  image=IMAGE          default runlab-pyfunc:<runlab version> (the image of `runlab
                       sagemaker build-and-push-container`, pushed where the cluster pulls)
  image_pull_policy=Always|IfNotPresent|Never    image_pull_secret=SECRET
  replicas=N (1)       workers=N (1, uvicorn workers per pod)    port=N (8080)
  cpu_request, memory_request, cpu_limit, memory_limit, gpu_limit (e.g. 500m, 1Gi, 1)
  env={"NAME": "value"} or env.NAME=value        env_from_secret=SECRET[,SECRET]
  service_account=NAME startup_timeout=SECONDS (600: model download and load)
  service_type=ClusterIP|NodePort|LoadBalancer    service_port=N (80)
  namespace=NAME       (or in the target URI)

predict posts to /invocations through the API server's service proxy. delete removes the
Deployment and the Service (dry_run=true: checked, not deleted); list and get read them.
"""
