"""Talking to a Kubernetes cluster with the official ``kubernetes`` client (``runlab[kubernetes]``).

The cluster is the current kubeconfig's current context, read when a call is made (the files
``KUBECONFIG`` lists, else ``~/.kube/config``), as ``kubectl`` finds it; inside a pod without a
kubeconfig, the pod's service account. Objects go in and come out as plain dicts in the
API's own JSON spelling (``containerPort``, not ``container_port``), the same dicts the
manifests are written as. The API's refusals become runlab errors naming the object and what
the API server said: 404 :class:`~runlab.errors.NotFound`, 409
:class:`~runlab.errors.AlreadyExists`, 401/403 :class:`~runlab.errors.PermissionDenied`,
400/422 :class:`~runlab.errors.InvalidParameter`, an unreachable server or a 5xx
:class:`~runlab.errors.Unavailable`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unavailable,
)

__all__ = ["KIND_APIS", "Cluster", "KindApi", "connect"]

_INSTALL_HINT = "pip install 'runlab[kubernetes]'"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class KindApi:
    """Where a kind lives in the API: ``group``/``version`` and its ``plural`` name."""

    group: str
    version: str
    plural: str

    def collection(self, namespace: str) -> str:
        """The path of the kind's objects in ``namespace``."""
        prefix = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"


KIND_APIS = {
    "Deployment": KindApi("apps", "v1", "deployments"),
    "Service": KindApi("", "v1", "services"),
    "InferenceService": KindApi("serving.kserve.io", "v1beta1", "inferenceservices"),
}


def _kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise InvalidParameter(
            f"Talking to a Kubernetes cluster needs the kubernetes client: {_INSTALL_HINT}. "
            "Without it, -C dry_run=true prints the manifests and the default writes them."
        ) from None
    return kubernetes


def _kubeconfig_path() -> str:
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


@contextmanager
def connect() -> Iterator[Cluster]:
    """A :class:`Cluster` of the current kubeconfig context, closed at the end of the block."""
    kubernetes = _kubernetes()
    configuration = kubernetes.client.Configuration()
    path = _kubeconfig_path()
    namespace = "default"
    in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and not (
        "KUBECONFIG" in os.environ or Path(path).is_file()
    )
    try:
        if in_cluster:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            if _SERVICE_ACCOUNT_NAMESPACE.is_file():
                namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or namespace
        else:
            kubernetes.config.load_kube_config(
                config_file=path, client_configuration=configuration, persist_config=False
            )
            _contexts, active = kubernetes.config.list_kube_config_contexts(config_file=path)
            namespace = (active or {}).get("context", {}).get("namespace") or namespace
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise Unavailable(
            f"No usable Kubernetes configuration ({exc}). runlab uses the current context of "
            f"the kubeconfig (KUBECONFIG, else ~/.kube/config), as kubectl does."
        ) from None
    # One retry: an API server that refuses connections should fail the command quickly.
    configuration.retries = 1
    api_client = kubernetes.client.ApiClient(configuration)
    try:
        yield Cluster(api_client, namespace)
    finally:
        api_client.close()


class Cluster:
    """The calls the targets make, on one API client (see :func:`connect`)."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.api_client = api_client
        #: The current context's namespace ("default" when it names none).
        self.namespace = namespace

    @property
    def host(self) -> str:
        """The API server's URL."""
        return str(self.api_client.configuration.host)

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        kubernetes = _kubernetes()
        import urllib3

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = self.api_client.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=(10, 120),
            )
        except kubernetes.client.exceptions.ApiException as exc:
            raise _translate(exc, what, self.host) from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unavailable(
                f"Cannot reach the Kubernetes API server at {self.host} ({type(exc).__name__}: "
                f"{exc}). Check the current kubeconfig context (kubectl config current-context)."
            ) from None
        try:
            data = response.data
        finally:
            response.release_conn()
        return data

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        data = self._call(method, path, what, **kwargs)
        value = json.loads(data) if data else {}
        if not isinstance(value, dict):
            raise Unavailable(f"The Kubernetes API answered {what} with something not an object.")
        return value

    def read(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        path = f"{KIND_APIS[kind].collection(namespace)}/{name}"
        try:
            return self._json("GET", path, f"reading {kind} {namespace}/{name}")
        except NotFound:
            return None

    def create(self, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Create ``body`` (its kind and namespace say where); ``dry_run`` asks the API server
        to check it without storing it."""
        kind, meta = body["kind"], body["metadata"]
        path = KIND_APIS[kind].collection(meta["namespace"])
        what = f"creating {kind} {meta['namespace']}/{meta['name']}"
        return self._json("POST", path, what, body=body, query=_dry_run(dry_run))

    def replace(self, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Replace the object ``body`` names (``body`` carries the resourceVersion read)."""
        kind, meta = body["kind"], body["metadata"]
        path = f"{KIND_APIS[kind].collection(meta['namespace'])}/{meta['name']}"
        what = f"replacing {kind} {meta['namespace']}/{meta['name']}"
        return self._json("PUT", path, what, body=body, query=_dry_run(dry_run))

    def delete(self, kind: str, name: str, namespace: str, dry_run: bool = False) -> bool:
        """Delete the object and what it owns (in the background); False if it was gone."""
        path = f"{KIND_APIS[kind].collection(namespace)}/{name}"
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self._json(
                "DELETE",
                path,
                f"deleting {kind} {namespace}/{name}",
                body=body,
                query=_dry_run(dry_run),
            )
        except NotFound:
            return False
        return True

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` in ``namespace`` whose labels match ``selector``."""
        path = KIND_APIS[kind].collection(namespace)
        found = self._json(
            "GET", path, f"listing {kind} in {namespace}", query=[("labelSelector", selector)]
        )
        items = found.get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def post_to_service(
        self, namespace: str, service: str, port: str, path: str, body: Any
    ) -> bytes:
        """POST ``body`` (JSON) to ``path`` of a Service's port, through the API server's
        service proxy: reached with the kubeconfig's credentials, no ingress needed."""
        from urllib.parse import quote

        target = quote(f"{service}:{port}", safe="")
        resource = f"/api/v1/namespaces/{namespace}/services/{target}/proxy/{path}"
        data: bytes = self._call(
            "POST", resource, f"calling {path} of Service {namespace}/{service}", body=body
        )
        return data


def _dry_run(dry_run: bool) -> list[tuple[str, str]]:
    return [("dryRun", "All")] if dry_run else []


def _translate(exc: Any, what: str, host: str) -> RunlabError:
    """A runlab error for the API server's refusal ``exc`` (an ApiException)."""
    status = int(getattr(exc, "status", 0) or 0)
    message = _status_message(getattr(exc, "body", None)) or str(exc.reason or "").strip()
    text = f"The Kubernetes API server refused {what}: {message or f'HTTP {status}'}"
    if status == 404:
        return NotFound(text + ".")
    if status == 409:
        return AlreadyExists(text + ".")
    if status in (401, 403):
        return PermissionDenied(
            text + ". Check the current context's credentials and RBAC permissions."
        )
    if status in (400, 422):
        return InvalidParameter(text + ".")
    if status == 0:
        return Unavailable(f"Cannot reach the Kubernetes API server at {host}: {message}.")
    return Unavailable(text + f" (HTTP {status}).")


def _status_message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body, or the body's text."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(status, dict):
        message = status.get("message")
        if isinstance(message, str):
            return message
    return body.strip()[:500]
