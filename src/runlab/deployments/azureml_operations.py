"""The ``azureml`` target's calls on one workspace, through the SDK's ``MLClient``.

Each method is one step a deployment takes (look up, register the model, create the endpoint,
put the deployment, route traffic, delete), wrapped in :func:`azure_errors` so that Azure's
refusals come back as runlab errors naming the step. Long-running operations are waited for up
to the configured timeout; a resource still provisioning then is reported, not abandoned
silently. The module imports no SDK at import time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from runlab.deployments.azureml_errors import azure_errors, is_not_found
from runlab.deployments.azureml_specs import AzureSettings, load_entity
from runlab.deployments.azureml_workspace import Workspace
from runlab.errors import NotFound, Unavailable

__all__ = [
    "AzureML",
    "azure_payload",
    "describe_deployment",
    "describe_endpoint",
    "model_reference",
    "share_of",
]

logger = logging.getLogger("runlab.deployments.azureml")


def model_reference(model_id: str | None) -> dict[str, str | None]:
    """``{"model": "<name>:<version>", …}`` of an Azure model id (ARM id or ``azureml:`` form)."""
    if not model_id:
        return {"model": None, "model_name": None, "model_version": None}
    text = str(model_id)
    if "/models/" in text and "/versions/" in text:
        name, _, version = text.split("/models/", 1)[1].partition("/versions/")
    else:
        name, _, version = text.removeprefix("azureml:").partition(":")
    return {"model": f"{name}:{version}", "model_name": name, "model_version": version or None}


def describe_endpoint(endpoint: Any, deployments: list[Any] | None = None) -> dict[str, Any]:
    """A JSON-able summary of an SDK endpoint entity."""
    summary: dict[str, Any] = {
        "name": endpoint.name,
        "scoring_uri": getattr(endpoint, "scoring_uri", None),
        "auth_mode": getattr(endpoint, "auth_mode", None),
        "traffic": dict(getattr(endpoint, "traffic", None) or {}),
        "provisioning_state": _state(endpoint),
    }
    if deployments is not None:
        summary["deployments"] = sorted(d.name for d in deployments)
    return summary


def describe_deployment(deployment: Any, endpoint: Any = None) -> dict[str, Any]:
    """A JSON-able summary of an SDK deployment entity (with its share of ``endpoint``'s
    traffic when known); ``flavor`` is the one Azure ML serves MLflow models with."""
    traffic = share_of(endpoint, deployment.name) if endpoint is not None else 0
    summary: dict[str, Any] = {
        "name": deployment.name,
        "endpoint": deployment.endpoint_name,
        "flavor": "python_function",
        **model_reference(getattr(deployment, "model", None)),
        "instance_type": getattr(deployment, "instance_type", None),
        "instance_count": getattr(deployment, "instance_count", None),
        "provisioning_state": _state(deployment),
    }
    if endpoint is not None:
        summary["traffic"] = traffic
        summary["scoring_uri"] = getattr(endpoint, "scoring_uri", None)
    return summary


def share_of(endpoint: Any, deployment: str) -> int:
    """The percent of ``endpoint``'s traffic that goes to ``deployment`` (names compare in any
    case, as Azure's do: the SDK sends them lower-cased)."""
    traffic = {str(k).lower(): v for k, v in (getattr(endpoint, "traffic", None) or {}).items()}
    return int(traffic.get(deployment.lower(), 0) or 0)


def _state(entity: Any) -> str | None:
    state = getattr(entity, "provisioning_state", None)
    return None if state is None else str(getattr(state, "value", state))


class AzureML:
    """One workspace's endpoints, deployments and models (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        workspace: Workspace,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.workspace = workspace
        self.progress = progress or logger.info

    # -- waiting ---------------------------------------------------------------------------
    def _wait(self, poller: Any, what: str, timeout: float) -> Any:
        poller.wait(timeout=timeout)
        if not poller.done():
            raise Unavailable(
                f"Azure is still working on {what} after {timeout:g} s; it goes on in Azure. "
                "`runlab azureml get` shows its state (raise -C timeout=SECONDS to wait longer)."
            )
        return poller.result()

    # -- reading ---------------------------------------------------------------------------
    def check_workspace(self) -> None:
        """NotFound, naming where runlab looked, unless the workspace exists and can be read."""
        where = self.workspace.describe()
        with azure_errors(f"read {where}"):
            try:
                self.client.workspaces.get(self.workspace.workspace_name)
            except Exception as error:
                if not is_not_found(error):
                    raise
                raise NotFound(
                    f"There is no Azure ML {where}; check --workspace, --resource-group and "
                    "--subscription-id (or the target URI, the environment, config.json)."
                ) from None

    def find_endpoint(self, name: str) -> Any:
        """The endpoint ``name``, or None when the workspace has none of that name."""
        with azure_errors(f"get endpoint {name!r} in {self.workspace.describe()}"):
            try:
                return self.client.online_endpoints.get(name)
            except Exception as error:
                if is_not_found(error):
                    return None
                raise

    def endpoints(self) -> list[Any]:
        """Every online endpoint of the workspace."""
        with azure_errors(f"list the endpoints of {self.workspace.describe()}"):
            return list(self.client.online_endpoints.list())

    def deployments(self, endpoint: str) -> list[Any]:
        """The deployments of endpoint ``endpoint``."""
        with azure_errors(f"list the deployments of endpoint {endpoint!r}"):
            return list(self.client.online_deployments.list(endpoint))

    # -- creating --------------------------------------------------------------------------
    def register_model(self, document: dict[str, Any]) -> Any:
        """Upload the model folder and register it as a new version of an MLflow model."""
        name = document["name"]
        self.progress(f"Registering model {name!r} in {self.workspace.describe()}…")
        model = load_entity("model", document)
        with azure_errors(f"register model {name!r}"):
            registered = self.client.models.create_or_update(model)
        self.progress(f"Registered model {registered.name}:{registered.version}.")
        return registered

    def put_endpoint(self, document: dict[str, Any], settings: AzureSettings) -> Any:
        """Create (or replace) an endpoint from its spec and wait until it is ready."""
        name = document["name"]
        self.progress(f"Creating endpoint {name!r}…")
        endpoint = load_entity("endpoint", document)
        with azure_errors(f"create endpoint {name!r}"):
            poller = self.client.online_endpoints.begin_create_or_update(endpoint)
            return self._wait(poller, f"endpoint {name!r}", settings.timeout)

    def put_deployment(self, document: dict[str, Any], settings: AzureSettings) -> Any:
        """Create or update a deployment from its spec and wait until it serves."""
        name, endpoint = document["name"], document["endpoint_name"]
        self.progress(f"Deploying {document['model']} as {name!r} on endpoint {endpoint!r}…")
        deployment = load_entity("deployment", document)
        with azure_errors(f"deploy {name!r} on endpoint {endpoint!r}"):
            poller = self.client.online_deployments.begin_create_or_update(deployment)
            return self._wait(poller, f"deployment {name!r}", settings.timeout)

    def set_traffic(self, endpoint: Any, traffic: dict[str, int], settings: AzureSettings) -> Any:
        """Route ``endpoint``'s traffic as ``traffic`` says (deployment name to percent)."""
        self.progress(f"Routing endpoint {endpoint.name!r} traffic: {traffic}…")
        endpoint.traffic = dict(traffic)
        with azure_errors(f"set the traffic of endpoint {endpoint.name!r} to {traffic}"):
            poller = self.client.online_endpoints.begin_create_or_update(endpoint)
            return self._wait(poller, f"endpoint {endpoint.name!r}", settings.timeout)

    # -- deleting --------------------------------------------------------------------------
    def delete_deployment(self, endpoint: str, name: str, settings: AzureSettings) -> None:
        """Delete deployment ``name`` of ``endpoint`` (its share of traffic must be 0)."""
        self.progress(f"Deleting deployment {name!r} of endpoint {endpoint!r}…")
        with azure_errors(f"delete deployment {name!r} of endpoint {endpoint!r}"):
            poller = self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint)
            self._wait(poller, f"deleting deployment {name!r}", settings.timeout)

    def delete_endpoint(self, name: str, settings: AzureSettings) -> None:
        """Delete endpoint ``name`` and every deployment on it."""
        self.progress(f"Deleting endpoint {name!r} and its deployments…")
        with azure_errors(f"delete endpoint {name!r}"):
            poller = self.client.online_endpoints.begin_delete(name=name)
            self._wait(poller, f"deleting endpoint {name!r}", settings.timeout)

    # -- scoring ---------------------------------------------------------------------------
    def invoke(self, endpoint: str, deployment: str | None, payload: dict[str, Any]) -> Any:
        """POST ``payload`` to the endpoint's scoring URI (through ``deployment`` when given)
        with the endpoint's key or token; the decoded JSON answer."""
        # The SDK's invoke reads the request body from a file.
        handle, path = tempfile.mkstemp(prefix="runlab-azureml-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(payload, out)
            where = f"endpoint {endpoint!r}" + (
                f" (deployment {deployment!r})" if deployment else ""
            )
            with azure_errors(f"score on {where}"):
                text = self.client.online_endpoints.invoke(
                    endpoint_name=endpoint, request_file=path, deployment_name=deployment
                )
        finally:
            os.unlink(path)
        try:
            return json.loads(text)
        except ValueError:
            return text


def azure_payload(inputs: Any) -> dict[str, Any]:
    """``inputs`` as the body Azure ML's MLflow scoring server takes: ``{"input_data": …}``.

    A DataFrame becomes ``{"columns", "index", "data"}`` (pandas' split orientation); arrays,
    lists and dicts of arrays are sent as tensors; a document in MLflow's scoring protocol
    (``dataframe_split``, ``inputs`` …) is translated; one that has ``input_data`` is sent as it is.
    """
    from runlab.deployments.scoring import scoring_request

    if isinstance(inputs, Mapping) and "input_data" in inputs:
        return dict(inputs)
    document = scoring_request(inputs)
    payload: dict[str, Any] = {}
    if "dataframe_split" in document:
        split = dict(document["dataframe_split"])
        rows = split.get("data") or []
        split.setdefault("index", list(range(len(rows))))
        payload["input_data"] = split
    elif "dataframe_records" in document:
        records = document["dataframe_records"]
        columns = list(dict.fromkeys(k for record in records for k in record))
        payload["input_data"] = {
            "columns": columns,
            "index": list(range(len(records))),
            "data": [[record.get(c) for c in columns] for record in records],
        }
    else:
        payload["input_data"] = document.get("inputs", document.get("instances"))
    if "params" in document:
        payload["params"] = document["params"]
    return payload
