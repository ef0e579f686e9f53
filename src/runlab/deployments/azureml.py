"""The ``azureml`` deployment target: Azure Machine Learning managed online endpoints.

::

    from runlab.deployments import get_deploy_client

    client = get_deploy_client("azureml:/<subscription_id>/<resource_group>/<workspace>")
    client.create_deployment("churn", "models:/churn@champion", config={"instance_count": 2})
    client.predict("churn", frame)

Deploying a model registers its folder as an Azure ML MLflow model (``type: mlflow_model``:
Azure serves it from its ``MLmodel`` file, no scoring script), creates the managed online
endpoint if it does not exist (named by ``endpoint``, by default the deployment's name), puts a
managed online deployment of the model on it and routes the endpoint's traffic: all of it to the
new deployment unless config ``traffic`` says otherwise. Everything is checked before the first
resource is created: names, config, the model and its flavor, the workspace, whether the
deployment already exists and the traffic split. A deployment that Azure refuses takes the
endpoint created for it along.

Which workspace, credentials and cloud: :mod:`runlab.deployments.azureml_workspace`. The specs
and the config keys: :mod:`runlab.deployments.azureml_specs`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

from runlab.deployments.azureml_errors import azure_errors
from runlab.deployments.azureml_operations import (
    AzureML,
    azure_payload,
    describe_deployment,
    describe_endpoint,
    share_of,
)
from runlab.deployments.azureml_specs import (
    CONFIG_KEYS,
    FLAVORS,
    AzureSettings,
    check_resource_name,
    deployment_document,
    endpoint_document,
    model_asset_name,
    model_document,
    plan_traffic,
    read_settings,
)
from runlab.deployments.azureml_workspace import (
    Workspace,
    connect,
    resolve_workspace,
    with_overrides,
)
from runlab.deployments.base import BaseDeploymentClient, PredictionsResponse
from runlab.errors import AlreadyExists, InvalidParameter, NotFound, RunlabError, Unavailable

__all__ = ["DeploymentClient", "run_local", "target_help"]


class DeploymentClient(BaseDeploymentClient):
    """Deployments on Azure ML managed online endpoints (see the module docstring).

    ``subscription_id``, ``resource_group`` and ``workspace`` override the target URI and the
    environment; ``credential`` replaces ``DefaultAzureCredential`` (any azure-core token
    credential); ``progress`` receives one line per step (default: the module's logger).
    """

    def __init__(
        self,
        target_uri: str,
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace: str | None = None,
        credential: Any = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(target_uri)
        self.workspace = resolve_workspace(target_uri, subscription_id, resource_group, workspace)
        self.credential = credential
        self.progress = progress
        self._clients: dict[Workspace, AzureML] = {}

    def _azure(self, config: Mapping[str, Any] | None = None) -> AzureML:
        workspace = with_overrides(self.workspace, config or {})
        if workspace not in self._clients:
            with azure_errors("set up the Azure ML client"):
                client = connect(workspace, self.credential)
            # config.json may have named it: say what the SDK is connected to.
            found = Workspace(
                client.subscription_id, client.resource_group_name, client.workspace_name
            )
            self._clients[workspace] = AzureML(client, found, self.progress)
        return self._clients[workspace]

    # -- deployments ---------------------------------------------------------------------------
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``model_uri`` as deployment ``name`` on ``endpoint`` (default: ``name``),
        creating the endpoint when needed; AlreadyExists if the deployment exists."""
        return self._deploy(name, model_uri, flavor, config, endpoint, mode="create")

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy a new model and/or settings to an existing deployment; the traffic split
        changes only when config ``traffic`` is given. NotFound if there is no such deployment."""
        return self._deploy(name, model_uri, flavor, config, endpoint, mode="update")

    def deploy(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Create the deployment, or update it when it exists; either way route traffic to it
        (all of it unless config ``traffic`` splits it). What ``runlab azureml deploy`` does."""
        return self._deploy(name, model_uri, flavor, config, endpoint, mode="deploy")

    def _deploy(
        self,
        name: str,
        model_uri: str | None,
        flavor: str | None,
        config: dict[str, Any] | None,
        endpoint: str | None,
        mode: str,
    ) -> dict[str, Any]:
        from runlab.deployments.deployable import deployable_model

        settings = read_settings(config)
        endpoint = check_resource_name("endpoint", endpoint or name)
        check_resource_name("deployment", name)
        if mode != "update" and not model_uri:
            raise InvalidParameter("Deploying to Azure ML needs a model URI (-m).")
        if mode == "update" and not model_uri and flavor is not None:
            raise InvalidParameter("A flavor only applies together with a model URI (-m).")
        fetching = (
            deployable_model(model_uri, flavor, FLAVORS) if model_uri else contextlib.nullcontext()
        )
        with fetching as model:
            azure = self._azure(config)
            azure.check_workspace()
            existing_endpoint = azure.find_endpoint(endpoint)
            deployments = azure.deployments(endpoint) if existing_endpoint is not None else []
            current = next((d for d in deployments if d.name == name), None)
            if mode == "create" and current is not None:
                raise AlreadyExists(
                    f"Endpoint {endpoint!r} already has a deployment {name!r}; update it "
                    "(runlab deployments update) or choose another name."
                )
            if mode == "update" and current is None:
                raise NotFound(
                    f"Endpoint {endpoint!r} has no deployment {name!r} in "
                    f"{azure.workspace.describe()}."
                )
            traffic = plan_traffic(
                dict(getattr(existing_endpoint, "traffic", None) or {}),
                {d.name for d in deployments},
                name,
                settings.traffic,
                route_by_default=mode != "update",
            )
            # Everything is checked: from here on, resources get created.
            notes: list[str] = []
            if model is not None:
                model_name = settings.model_name or model_asset_name(model.uri, name)
                registered = azure.register_model(
                    model_document(model_name, str(model.path), model.uri, settings)
                )
                model_ref = f"azureml:{registered.name}:{registered.version}"
                notes.append(f"Model {model_ref} stays registered in the workspace.")
            else:
                assert current is not None  # an update without a model URI needs one
                model_ref = _as_reference(current.model)
            created_endpoint = False
            try:
                if existing_endpoint is None:
                    existing_endpoint = azure.put_endpoint(
                        endpoint_document(endpoint, settings), settings
                    )
                    created_endpoint = True
                document = deployment_document(name, endpoint, model_ref, settings, current)
                deployed = azure.put_deployment(document, settings)
            except RunlabError as err:
                # A refusal leaves nothing half-made; a timeout leaves Azure at work, which
                # deleting the endpoint would cut short.
                if created_endpoint and not isinstance(err, Unavailable):
                    notes.insert(0, _remove_endpoint(azure, endpoint, settings))
                raise _with_notes(err, notes) from err
            if traffic is not None:
                try:
                    existing_endpoint = azure.set_traffic(existing_endpoint, traffic, settings)
                except RunlabError as err:
                    note = (
                        f"Deployment {name!r} is deployed but the endpoint's traffic split is "
                        "unchanged; set it with runlab deployments update-endpoint."
                    )
                    raise _with_notes(err, [note]) from err
            return describe_deployment(deployed, existing_endpoint)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Delete deployment ``name`` of ``endpoint`` (default: ``name``); no error if it is gone.

        The endpoint's last deployment takes the endpoint along. A deployment that still gets
        traffic while others exist is refused: route the traffic elsewhere first.
        """
        settings = read_settings(config)
        endpoint = endpoint or name
        azure = self._azure(config)
        found = azure.find_endpoint(endpoint)
        if found is None:
            return
        deployments = azure.deployments(endpoint)
        if name not in {d.name for d in deployments}:
            return
        if len(deployments) == 1:
            azure.delete_endpoint(endpoint, settings)
            return
        share = share_of(found, name)
        if share:
            raise InvalidParameter(
                f"Deployment {name!r} still gets {share}% of endpoint {endpoint!r}'s traffic; "
                "route it to the other deployments first (runlab deployments update-endpoint "
                f"-t azureml --endpoint {endpoint} -C traffic='{{...}}')."
            )
        azure.delete_deployment(endpoint, name, settings)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The deployments of ``endpoint``, or of every endpoint of the workspace."""
        azure = self._azure()
        if endpoint is not None:
            found = azure.find_endpoint(endpoint)
            if found is None:
                raise NotFound(f"No endpoint {endpoint!r} in {azure.workspace.describe()}.")
            endpoints = [found]
        else:
            endpoints = azure.endpoints()
        return [
            describe_deployment(deployment, found)
            for found in endpoints
            for deployment in azure.deployments(found.name)
        ]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """Deployment ``name`` of ``endpoint`` (default: ``name``); NotFound if there is none."""
        endpoint = endpoint or name
        azure = self._azure()
        found = azure.find_endpoint(endpoint)
        deployments = azure.deployments(endpoint) if found is not None else []
        match = next((d for d in deployments if d.name == name), None)
        if match is None:
            raise NotFound(
                f"No deployment {name!r} on endpoint {endpoint!r} in {azure.workspace.describe()}."
            )
        return describe_deployment(match, found)

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` on the endpoint (default: the deployment's name); with a deployment
        name the request goes to that deployment, whatever the traffic split."""
        from runlab.deployments.scoring import predictions_response

        endpoint = endpoint or deployment_name
        if not endpoint:
            raise InvalidParameter("predict needs a deployment name or an endpoint.")
        answer = self._azure().invoke(endpoint, deployment_name, azure_payload(inputs))
        return predictions_response(answer)

    # -- endpoints -----------------------------------------------------------------------------
    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create an empty managed online endpoint; AlreadyExists if there is one."""
        settings = read_settings(config)
        check_resource_name("endpoint", name)
        azure = self._azure(config)
        if azure.find_endpoint(name) is not None:
            raise AlreadyExists(
                f"Endpoint {name!r} already exists in {azure.workspace.describe()}."
            )
        return describe_endpoint(
            azure.put_endpoint(endpoint_document(name, settings), settings), []
        )

    def update_endpoint(self, endpoint: str, config: dict[str, Any] | None = None) -> None:
        """Change the endpoint's traffic split (config ``traffic``)."""
        settings = read_settings(config)
        if settings.traffic is None:
            raise InvalidParameter(
                "update_endpoint changes the traffic split: give config traffic, e.g. "
                '-C traffic=\'{"blue": 90, "green": 10}\'.'
            )
        azure = self._azure(config)
        found = azure.find_endpoint(endpoint)
        if found is None:
            raise NotFound(f"No endpoint {endpoint!r} in {azure.workspace.describe()}.")
        names = {d.name for d in azure.deployments(endpoint)}
        unknown = sorted(set(settings.traffic) - names)
        if unknown:
            raise InvalidParameter(
                f"Config traffic names {', '.join(unknown)}, which endpoint {endpoint!r} does not "
                f"have (its deployments: {', '.join(sorted(names)) or 'none'})."
            )
        split = {name: 0 for name in names} | settings.traffic
        azure.set_traffic(found, split, settings)

    def delete_endpoint(self, endpoint: str, config: dict[str, Any] | None = None) -> None:
        """Delete the endpoint and all its deployments; no error if it is gone."""
        settings = read_settings(config)
        azure = self._azure(config)
        if azure.find_endpoint(endpoint) is not None:
            azure.delete_endpoint(endpoint, settings)

    def list_endpoints(self) -> list[dict[str, Any]]:
        """Every online endpoint of the workspace, with its deployments' names."""
        azure = self._azure()
        return [describe_endpoint(e, azure.deployments(e.name)) for e in azure.endpoints()]

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        """One endpoint, with its deployments' names; NotFound if there is none."""
        azure = self._azure()
        found = azure.find_endpoint(endpoint)
        if found is None:
            raise NotFound(f"No endpoint {endpoint!r} in {azure.workspace.describe()}.")
        return describe_endpoint(found, azure.deployments(endpoint))


def _as_reference(model_id: Any) -> str:
    from runlab.deployments.azureml_operations import model_reference

    ref = model_reference(model_id)
    if not ref["model_name"] or not ref["model_version"]:
        raise InvalidParameter(
            f"The deployment's current model {model_id!r} is not a registered model version; "
            "give a model URI (-m) to deploy."
        )
    return f"azureml:{ref['model']}"


def _remove_endpoint(azure: AzureML, endpoint: str, settings: AzureSettings) -> str:
    """Delete the endpoint a failed deployment was created for (nothing is left half-made);
    what happened, for the error message."""
    try:
        azure.delete_endpoint(endpoint, settings)
    except RunlabError as cleanup:
        return f"The endpoint {endpoint!r} created for it could not be deleted: {cleanup.message}"
    return f"The endpoint {endpoint!r} created for it was deleted again."


def _with_notes(error: RunlabError, notes: list[str]) -> RunlabError:
    """``error`` with ``notes`` added to its message (same class and error code)."""
    if not notes:
        return error
    return type(error)(" ".join([error.message, *notes]), error.error_code)


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve the model on this machine until interrupted, with runlab's scoring server.

    Azure ML serves an MLflow model with its own inference server, which needs Docker to run
    locally; runlab runs ``runlab models serve`` on the model instead (MLflow's scoring
    protocol on ``/invocations``). Config keys: ``port`` (default 5000), ``host`` (default
    127.0.0.1), ``trust_model`` (true to load formats that run code, see ``--trust-model``).
    """
    config = dict(config or {})
    unknown = sorted(set(config) - {"port", "host", "trust_model"})
    if unknown:
        raise InvalidParameter(
            "run_local for azureml takes the config keys port, host and trust_model, not "
            f"{', '.join(unknown)}."
        )
    if flavor not in (None, *FLAVORS):
        raise InvalidParameter(f"azureml serves the python_function flavor, not {flavor!r}.")
    port = config.get("port", 5000)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidParameter(f"Config port must be a TCP port number, got {port!r}.")
    host = config.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise InvalidParameter(f"Config host must be a host name or address, got {host!r}.")
    command = [sys.executable, "-m", "runlab.cli", "models", "serve", "-m", model_uri]
    command += ["--port", str(port), "--host", host]
    if config.get("trust_model") is True:
        command.append("--trust-model")
    code = subprocess.call(command)
    if code != 0:
        raise RunlabError(
            f"runlab models serve stopped with exit code {code} (its output says why)."
        )


def target_help() -> str:
    """What the azureml target URI and config keys mean."""
    keys = "\n".join(f"  {key}: {meaning}" for key, meaning in CONFIG_KEYS.items())
    return (
        "Deploys MLflow-format models to Azure Machine Learning managed online endpoints "
        "(pip install 'runlab[azureml]').\n\n"
        "Target URI: azureml, or azureml:/<subscription_id>/<resource_group>/<workspace>. "
        "Without the three parts they come from AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and "
        "AZUREML_WORKSPACE_NAME, else from the workspace's config.json. Credentials: "
        "DefaultAzureCredential (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, "
        "managed identity, ...).\n\n"
        "A deployment's endpoint is --endpoint, by default the deployment's name; the endpoint "
        "is created when missing, and its last deployment's deletion deletes it.\n\n"
        f"Config keys (-C key=value):\n{keys}"
    )
