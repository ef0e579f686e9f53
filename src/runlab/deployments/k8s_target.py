"""What the ``kubernetes`` and ``kserve`` targets share: config, model, and where manifests go.

A create or update builds the target's objects (:mod:`runlab.deployments.k8s_manifests`) and
then, by config:

* by default writes them as YAML to ``output`` (default ``<name>-<target>.yaml`` in the current
  folder), for ``kubectl apply -f`` or a GitOps repository;
* ``dry_run=true`` prints them instead;
* ``apply=true`` creates them (update: replaces them) in the cluster of the current kubeconfig
  context with the official client; with ``dry_run=true`` too, the API server checks them
  (``dryRun=All``) and stores nothing.

Create refuses a name that is taken, and removes what it created when a later object is
refused, so a failed create leaves nothing behind. Update starts from the config recorded on
the objects (``runlab/config``) and the model URI they were created from, so ``-C replicas=3``
alone changes only the replicas, and an update without a model URI serves what that URI names
now (``models:/churn@champion`` moves to the alias's current version). Objects that runlab did
not create (no ``app.kubernetes.io/managed-by: runlab``) are never replaced or deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlab.deployments.base import BaseDeploymentClient, PredictionsResponse
from runlab.deployments.k8s_manifests import (
    ANNOTATION_CONFIG,
    ANNOTATION_MODEL_URI,
    ANNOTATION_SERVED_URI,
    LABEL_DEPLOYMENT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    to_yaml,
)
from runlab.deployments.k8s_model import ClusterModel, locate_model
from runlab.deployments.k8s_settings import (
    KubeSettings,
    read_settings,
    validate_name,
    validate_namespace,
)
from runlab.errors import AlreadyExists, InvalidParameter, NotFound, RunlabError

if TYPE_CHECKING:
    from runlab.deployments.k8s_cluster import Cluster

__all__ = ["KubeTargetClient", "managed_by_runlab", "scoring_body"]

_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def managed_by_runlab(obj: dict[str, Any] | None, name: str) -> bool:
    """True if ``obj`` is one runlab created for deployment ``name``."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY and labels.get(LABEL_DEPLOYMENT) == name


class KubeTargetClient(BaseDeploymentClient):
    """The create/update/delete/list/get flow of a target whose deployments are Kubernetes
    objects; a subclass says which objects (:meth:`build`) and how to describe and call them."""

    #: The target's name (``kubernetes``, ``kserve``).
    target: str
    #: The object kind that stands for a deployment (read by get and list), first in build().
    primary_kind: str

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        self.uri_namespace = _namespace_of(target_uri)

    # -- what a subclass provides -----------------------------------------------------------
    @abstractmethod
    def build(
        self, name: str, namespace: str | None, model: ClusterModel, settings: KubeSettings
    ) -> list[dict[str, Any]]:
        """The objects of deployment ``name``, the :attr:`primary_kind` one first."""

    @abstractmethod
    def describe(self, objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The deployment as ``get_deployment`` returns it, from its objects by kind."""

    # -- deployments ---------------------------------------------------------------------------
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Write, print or apply the objects serving ``model_uri`` as ``name`` (module doc)."""
        self._no_endpoint(endpoint)
        validate_name(name)
        settings = read_settings(self.target, config)
        if not settings.apply:
            return self._offline(name, model_uri, flavor, settings)
        with self._cluster() as cluster:
            namespace = self._cluster_namespace(settings, cluster)
            model = locate_model(model_uri, settings, flavor)
            objects = self.build(name, namespace, model, settings)
            self._refuse_taken(cluster, name, namespace, objects)
            created: list[dict[str, Any]] = []
            try:
                for obj in objects:
                    cluster.create(obj, dry_run=settings.dry_run)
                    created.append(obj)
            except RunlabError:
                if not settings.dry_run:
                    self._remove(cluster, created)
                raise
        if settings.dry_run:
            _print(objects)
        return self._result(name, namespace, model, objects, applied=not settings.dry_run)

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Change the model and/or config of ``name``: replaces its objects in the cluster
        with ``apply=true`` (starting from the recorded config), else writes or prints them
        as create does (then the model URI is needed)."""
        self._no_endpoint(endpoint)
        validate_name(name)
        action = read_settings(self.target, config)
        if not action.apply:
            if model_uri is None:
                raise InvalidParameter(
                    "Without -C apply=true an update writes the manifests anew and needs the "
                    "model URI (-m); with apply=true it reads the deployment's own."
                )
            return self._offline(name, model_uri, flavor, action)
        with self._cluster() as cluster:
            namespace = self._cluster_namespace(action, cluster)
            current = self._existing(cluster, name, namespace)
            primary = current[self.primary_kind]
            annotations = primary["metadata"].get("annotations") or {}
            settings = read_settings(
                self.target, {**_recorded_config(annotations), **dict(config or {})}
            )
            uri = model_uri if model_uri is not None else annotations.get(ANNOTATION_MODEL_URI)
            model = locate_model(uri, settings, flavor)
            objects = self.build(name, namespace, model, settings)
            for obj in objects:
                existing = current.get(obj["kind"])
                if existing is None:
                    cluster.create(obj, dry_run=settings.dry_run)
                else:
                    cluster.replace(_carry_over(obj, existing), dry_run=settings.dry_run)
        if settings.dry_run:
            _print(objects)
        return self._result(name, namespace, model, objects, applied=not settings.dry_run)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Delete the objects of ``name`` from the cluster (their pods go with them); nothing
        to do if it is gone. ``dry_run=true``: the API server checks, nothing is deleted."""
        self._no_endpoint(endpoint)
        validate_name(name)
        settings = read_settings(self.target, config)
        with self._cluster() as cluster:
            namespace = self._cluster_namespace(settings, cluster)
            found = {kind: cluster.read(kind, name, namespace) for kind in self._kinds()}
            foreign = [
                kind
                for kind, obj in found.items()
                if obj is not None and not managed_by_runlab(obj, name)
            ]
            if foreign:
                raise InvalidParameter(
                    f"{' and '.join(foreign)} {namespace}/{name} exist(s) but runlab did not "
                    "create them; runlab deletes only its own deployments."
                )
            for kind, obj in found.items():
                if obj is not None:
                    cluster.delete(kind, name, namespace, dry_run=settings.dry_run)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """runlab's deployments of this target in the namespace (of the URI or the context)."""
        self._no_endpoint(endpoint)
        with self._cluster() as cluster:
            namespace = self.uri_namespace or cluster.namespace
            found = cluster.list(self.primary_kind, namespace, _SELECTOR)
        return [
            self.describe({self.primary_kind: obj})
            for obj in found
            if managed_by_runlab(obj, obj.get("metadata", {}).get("name", ""))
        ]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """The deployment ``name``, read from the cluster; NotFound if runlab has none."""
        self._no_endpoint(endpoint)
        validate_name(name)
        with self._cluster() as cluster:
            namespace = self.uri_namespace or cluster.namespace
            return self.describe(self._existing(cluster, name, namespace))

    # -- helpers -------------------------------------------------------------------------------
    def _kinds(self) -> list[str]:
        return [self.primary_kind]

    @contextlib.contextmanager
    def _cluster(self) -> Iterator[Cluster]:
        from runlab.deployments.k8s_cluster import connect

        with connect() as cluster:
            yield cluster

    def _no_endpoint(self, endpoint: str | None) -> None:
        if endpoint is not None:
            raise InvalidParameter(
                f"The {self.target} target has no endpoints; leave endpoint out."
            )

    def _namespace(self, settings: KubeSettings) -> str | None:
        """The namespace of config and target URI (which must agree); None if neither has one."""
        if settings.namespace and self.uri_namespace and settings.namespace != self.uri_namespace:
            raise InvalidParameter(
                f"Config namespace {settings.namespace!r} differs from the target URI's "
                f"namespace {self.uri_namespace!r}; give one of them."
            )
        return settings.namespace or self.uri_namespace

    def _cluster_namespace(self, settings: KubeSettings, cluster: Cluster) -> str:
        """As :meth:`_namespace`, else the current context's namespace."""
        return self._namespace(settings) or cluster.namespace

    def _offline(
        self, name: str, model_uri: str, flavor: str | None, settings: KubeSettings
    ) -> dict[str, Any]:
        """Without apply: print (dry_run) or write the manifests; the cluster is not asked."""
        namespace = self._namespace(settings)
        model = locate_model(model_uri, settings, flavor)
        objects = self.build(name, namespace, model, settings)
        result = self._result(name, namespace, model, objects, applied=False)
        if settings.dry_run:
            _print(objects)
            return result
        path = Path(settings.output or f"{name}-{self.target}.yaml")
        _write_atomically(path, to_yaml(objects))
        return {**result, "manifest_path": str(path)}

    def _refuse_taken(
        self, cluster: Cluster, name: str, namespace: str | None, objects: list[dict[str, Any]]
    ) -> None:
        assert namespace is not None
        for obj in objects:
            existing = cluster.read(obj["kind"], name, namespace)
            if existing is None:
                continue
            if managed_by_runlab(existing, name):
                raise AlreadyExists(
                    f"The deployment {namespace}/{name} exists already ({obj['kind']}); change "
                    "it with update (runlab deployments update) or delete it first."
                )
            raise AlreadyExists(
                f"A {obj['kind']} named {namespace}/{name} exists and runlab did not create "
                "it; choose another deployment name."
            )

    def _existing(
        self, cluster: Cluster, name: str, namespace: str | None
    ) -> dict[str, dict[str, Any]]:
        """The deployment's objects by kind; NotFound unless its primary object is runlab's."""
        assert namespace is not None
        current: dict[str, dict[str, Any]] = {}
        for kind in self._kinds():
            obj = cluster.read(kind, name, namespace)
            if obj is not None:
                current[kind] = obj
        primary = current.get(self.primary_kind)
        if primary is None or not managed_by_runlab(primary, name):
            raise NotFound(
                f"No {self.target} deployment {name!r} in namespace {namespace!r}"
                + (" (a object of that name exists, not created by runlab)." if primary else ".")
            )
        return {kind: obj for kind, obj in current.items() if managed_by_runlab(obj, name)}

    @staticmethod
    def _remove(cluster: Cluster, created: list[dict[str, Any]]) -> None:
        """Undo a create that failed half-way (best effort: the first error is what counts)."""
        for obj in reversed(created):
            meta = obj["metadata"]
            with contextlib.suppress(RunlabError):
                cluster.delete(obj["kind"], meta["name"], meta["namespace"])

    def _result(
        self,
        name: str,
        namespace: str | None,
        model: ClusterModel,
        objects: list[dict[str, Any]],
        *,
        applied: bool,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": name,
            "flavor": "python_function",
            "target": self.target,
            "namespace": namespace,
            "model_uri": model.given,
            "served_model_uri": model.storage_uri or model.serve_uri,
            "objects": [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects],
            "applied": applied,
        }
        if model.version is not None:
            result["model_version"] = model.version
        return result


def describe_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """What every deployment description starts with: name, namespace, flavor, model URIs."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "flavor": "python_function",
        "model_uri": annotations.get(ANNOTATION_MODEL_URI),
        "served_model_uri": annotations.get(ANNOTATION_SERVED_URI),
        "created": meta.get("creationTimestamp"),
    }


def scoring_body(inputs: Any) -> Any:
    """``inputs`` as a JSON body of ``/invocations``: a DataFrame as ``dataframe_split``, an
    array or list as ``instances``, a dict as it is (already a scoring body such as
    ``{"inputs": ...}`` or ``{"dataframe_records": ...}``)."""
    from runlab.serving.predictions import jsonable

    if isinstance(inputs, dict):
        return jsonable(inputs)
    if type(inputs).__name__ == "DataFrame" and hasattr(inputs, "to_dict"):
        return {"dataframe_split": jsonable(inputs.to_dict(orient="split"))}
    if hasattr(inputs, "tolist") or isinstance(inputs, list | tuple):
        values = inputs.tolist() if hasattr(inputs, "tolist") else list(inputs)
        return {"instances": jsonable(values)}
    raise InvalidParameter(
        f"predict takes a DataFrame, an array, a list or a dict body, got {type(inputs).__name__}."
    )


def predictions_from(data: bytes, where: str) -> PredictionsResponse:
    """The scoring server's JSON answer as a :class:`PredictionsResponse`."""
    try:
        return PredictionsResponse.from_json(data.decode("utf-8"))
    except (ValueError, InvalidParameter):
        raise InvalidParameter(
            f"{where} answered with something that is not a JSON object: {data[:200]!r}"
        ) from None


def _namespace_of(target_uri: str) -> str | None:
    """``ns`` of a target URI ``kubernetes:/ns`` (None for plain ``kubernetes``)."""
    _, _, rest = target_uri.partition(":")
    rest = rest.strip("/")
    if not rest:
        return None
    try:
        return validate_namespace(rest)
    except InvalidParameter:
        raise InvalidParameter(
            f"{target_uri!r}: the target URI is <target> or <target>:/<namespace>, and "
            f"{rest!r} is not a namespace name."
        ) from None


def _recorded_config(annotations: dict[str, Any]) -> dict[str, Any]:
    try:
        recorded = json.loads(annotations.get(ANNOTATION_CONFIG) or "{}")
    except ValueError:
        recorded = {}
    return recorded if isinstance(recorded, dict) else {}


def _carry_over(new: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """``new`` with what a replace must keep from ``existing``: its resourceVersion (the
    API server refuses a replace of an object changed since it was read) and, for a Service,
    the cluster IPs and node ports the API server allocated (they cannot change)."""
    body = json.loads(json.dumps(new))
    old_meta = existing.get("metadata") or {}
    if old_meta.get("resourceVersion"):
        body["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
    if new["kind"] == "Service":
        old_spec = existing.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            if old_spec.get(key):
                body["spec"][key] = old_spec[key]
        old_ports = {port.get("name"): port for port in old_spec.get("ports") or []}
        for port in body["spec"]["ports"]:
            node_port = old_ports.get(port["name"], {}).get("nodePort")
            if node_port and body["spec"]["type"] != "ClusterIP":
                port["nodePort"] = node_port
    return body


def _print(objects: list[dict[str, Any]]) -> None:
    sys.stdout.write(to_yaml(objects))
    sys.stdout.flush()


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves no half file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidParameter(f"Cannot write {path}: the folder {folder} does not exist.")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def local_command(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command and environment ``run_local`` runs: the container's ``runlab models serve``
    with the model URI as given (this machine can read it), on 127.0.0.1 and ``port``."""
    validate_name(name)
    settings = read_settings(target, config)
    if flavor not in (None, "python_function"):
        raise InvalidParameter(
            f"The {target} target serves a model's python_function flavor; got {flavor!r}."
        )
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(f"A model URI must be a non-empty string, got {model_uri!r}.")
    from runlab.deployments.k8s_manifests import serve_argv

    model = ClusterModel(model_uri, model_uri)
    argv = serve_argv(model, settings, host="127.0.0.1")
    env = {**os.environ, **settings.env}
    if settings.tracking_uri:
        env["RUNLAB_TRACKING_URI"] = settings.tracking_uri
    if settings.registry_uri:
        env["RUNLAB_REGISTRY_URI"] = settings.registry_uri
    return argv, env


def run_local_command(argv: list[str], env: dict[str, str]) -> None:
    """Run ``argv`` (a ``runlab ...`` command line) with this interpreter until it exits."""
    import subprocess

    command = [sys.executable, "-m", "runlab.cli", *argv[1:]]
    try:
        code = subprocess.run(command, env=env, check=False).returncode
    except KeyboardInterrupt:
        return
    if code not in (0, -2, 130):  # Ctrl-C ends a server normally
        raise InvalidParameter(f"`{' '.join(argv)}` exited with code {code}; see its output above.")
