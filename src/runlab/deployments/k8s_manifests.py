"""The Kubernetes objects the ``kubernetes`` and ``kserve`` targets create, as plain dicts.

Both run the same container: the serving image with ``runlab models serve -m <model> --host
0.0.0.0 -p <port>`` (see :mod:`runlab.deployments.k8s_model` for what ``-m`` gets), its port
named ``http``, probes on the scoring server's health routes (``/ping`` for startup and
readiness, ``/health`` for liveness: both answer 200 once the model is loaded, which happens
before the server listens), resources, and environment from ``config``. The ``kubernetes``
target wraps it in a Deployment and a Service; ``kserve`` in an InferenceService
(``serving.kserve.io/v1beta1``) whose predictor is that container.

Every object carries the labels ``app.kubernetes.io/managed-by: runlab`` and
``runlab/deployment: <name>`` (what list and delete look for), and the annotations
``runlab/model-uri`` (the URI as given) and ``runlab/config`` (the config as given, so that an
update can start from it). Nothing here talks to a cluster.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from runlab.deployments.k8s_model import ClusterModel
from runlab.deployments.k8s_settings import KubeSettings

__all__ = [
    "ANNOTATION_CONFIG",
    "ANNOTATION_MODEL_URI",
    "ANNOTATION_SERVED_URI",
    "KSERVE_API_VERSION",
    "KSERVE_CONTAINER",
    "LABEL_DEPLOYMENT",
    "LABEL_MANAGED_BY",
    "MANAGED_BY",
    "container",
    "deployment_manifest",
    "inference_service_manifest",
    "serve_argv",
    "service_manifest",
    "to_yaml",
]

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "runlab"
LABEL_DEPLOYMENT = "runlab/deployment"
ANNOTATION_MODEL_URI = "runlab/model-uri"
ANNOTATION_SERVED_URI = "runlab/served-model-uri"
ANNOTATION_CONFIG = "runlab/config"
KSERVE_API_VERSION = "serving.kserve.io/v1beta1"
#: KServe finds a custom predictor's serving container by this name.
KSERVE_CONTAINER = "kserve-container"
_CONTAINER = "runlab-serving"
_PORT_NAME = "http"


def serve_argv(model: ClusterModel, settings: KubeSettings, host: str = "0.0.0.0") -> list[str]:
    """The container's command line: ``runlab models serve`` on the model, all interfaces."""
    argv = ["runlab", "models", "serve", "-m", model.serve_uri, "--host", host]
    argv += ["-p", str(settings.port)]
    if settings.workers != 1:
        argv += ["--workers", str(settings.workers)]
    if settings.trust_model:
        argv.append("--trust-model")
    return argv


def _probe(path: str, settings: KubeSettings, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": settings.port}, **timing}


def container(
    name: str, model: ClusterModel, settings: KubeSettings, *, startup_probe: bool = True
) -> dict[str, Any]:
    """The serving container (a core/v1 Container).

    With ``startup_probe`` the start-up (model download and load) is covered by a startup
    probe of ``startup_timeout`` seconds, and liveness starts after it; without (KServe's
    serverless mode has no startup probes) liveness waits ``startup_timeout`` seconds instead.
    """
    env = [{"name": key, "value": value} for key, value in sorted(model.env.items())]
    if model.storage_uri is not None:
        env.append({"name": "STORAGE_URI", "value": model.storage_uri})
    env += [{"name": key, "value": value} for key, value in sorted(settings.env.items())]
    argv = serve_argv(model, settings)
    spec: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "command": argv[:1],
        "args": argv[1:],
        "ports": [{"name": _PORT_NAME, "containerPort": settings.port, "protocol": "TCP"}],
        "readinessProbe": _probe("/ping", settings, periodSeconds=10, timeoutSeconds=5),
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if startup_probe:
        spec["startupProbe"] = _probe(
            "/ping",
            settings,
            periodSeconds=5,
            timeoutSeconds=5,
            failureThreshold=math.ceil(settings.startup_timeout / 5),
        )
        spec["livenessProbe"] = _probe("/health", settings, periodSeconds=20, timeoutSeconds=10)
    else:
        spec["livenessProbe"] = _probe(
            "/health",
            settings,
            initialDelaySeconds=settings.startup_timeout,
            periodSeconds=20,
            timeoutSeconds=10,
        )
    if env:
        spec["env"] = env
    if settings.env_from_secrets:
        spec["envFrom"] = [{"secretRef": {"name": secret}} for secret in settings.env_from_secrets]
    resources = {
        key: dict(value)
        for key, value in (("requests", settings.requests), ("limits", settings.limits))
        if value
    }
    if resources:
        spec["resources"] = resources
    if settings.image_pull_policy:
        spec["imagePullPolicy"] = settings.image_pull_policy
    return spec


def _metadata(
    name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
) -> dict[str, Any]:
    """Name, labels and annotations; no namespace when none was chosen (``kubectl apply``
    then uses its current one)."""
    annotations = {
        ANNOTATION_MODEL_URI: model.given,
        ANNOTATION_SERVED_URI: model.serve_uri if model.storage_uri is None else model.storage_uri,
        ANNOTATION_CONFIG: json.dumps(settings.stored, sort_keys=True),
    }
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = _labels(name)
    metadata["annotations"] = annotations
    return metadata


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "model-server",
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_DEPLOYMENT: name,
    }


def _pod_extras(settings: KubeSettings) -> dict[str, Any]:
    """Pod-level fields shared by the Deployment's pod template and KServe's predictor."""
    extras: dict[str, Any] = {}
    if settings.service_account:
        extras["serviceAccountName"] = settings.service_account
    if settings.image_pull_secret:
        extras["imagePullSecrets"] = [{"name": settings.image_pull_secret}]
    return extras


def deployment_manifest(
    name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
) -> dict[str, Any]:
    """An apps/v1 Deployment of ``settings.replicas`` pods serving the model."""
    metadata = _metadata(name, namespace, model, settings)
    # The selector is immutable once created: it names only the deployment, never the model.
    selector = {LABEL_DEPLOYMENT: name}
    pod_annotations = {
        ANNOTATION_MODEL_URI: model.given,
        ANNOTATION_SERVED_URI: metadata["annotations"][ANNOTATION_SERVED_URI],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": _labels(name), "annotations": pod_annotations},
                "spec": {
                    "containers": [container(_CONTAINER, model, settings)],
                    **_pod_extras(settings),
                },
            },
        },
    }


def service_manifest(
    name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
) -> dict[str, Any]:
    """A core/v1 Service in front of the Deployment's pods (port ``service_port`` → ``http``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, model, settings),
        "spec": {
            "type": settings.service_type,
            "selector": {LABEL_DEPLOYMENT: name},
            "ports": [
                {
                    "name": _PORT_NAME,
                    "port": settings.service_port,
                    "targetPort": _PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def inference_service_manifest(
    name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
) -> dict[str, Any]:
    """A KServe InferenceService whose predictor is the serving container (a custom predictor).

    ``replicas`` is the predictor's ``minReplicas`` (0 lets a serverless one scale to zero),
    ``max_replicas`` its ``maxReplicas``; ``deployment_mode`` becomes the
    ``serving.kserve.io/deploymentMode`` annotation. In RawDeployment mode the container keeps
    its startup probe; in serverless mode (Knative) it has none.
    """
    metadata = _metadata(name, namespace, model, settings)
    if settings.deployment_mode:
        metadata["annotations"]["serving.kserve.io/deploymentMode"] = settings.deployment_mode
    raw = settings.deployment_mode == "RawDeployment"
    predictor: dict[str, Any] = {
        "minReplicas": settings.replicas,
        "containers": [container(KSERVE_CONTAINER, model, settings, startup_probe=raw)],
        **_pod_extras(settings),
    }
    if settings.max_replicas is not None:
        predictor["maxReplicas"] = settings.max_replicas
    return {
        "apiVersion": KSERVE_API_VERSION,
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The objects as one multi-document YAML text (what ``kubectl apply -f`` reads)."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
