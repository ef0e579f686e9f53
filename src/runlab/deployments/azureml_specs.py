"""What the ``azureml`` target asks Azure for: its config keys, and the specs it builds from them.

runlab describes each Azure ML resource as the YAML document ``az ml`` takes (``model.yml``,
``endpoint.yml``, ``deployment.yml``) and turns it into the SDK's entity with the SDK's own
loader (``load_model``, ``load_online_endpoint``, ``load_online_deployment``), so every spec
passes the SDK's schema validation before anything is sent, and ``--write-specs`` writes exactly
what a deployment would send. The model is an ``mlflow_model``: Azure ML serves it from its
``MLmodel`` file with its own scoring script and environment ("no-code deployment").

Config keys (``-C key=value``; values are JSON when they parse):

``instance_type``, ``instance_count``, ``traffic``, ``model_name``, ``auth_mode``,
``description``, ``tags``, ``environment_variables``, ``timeout``, and the workspace keys
``subscription_id``, ``resource_group``, ``workspace`` (see :data:`CONFIG_KEYS`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_INSTANCE_TYPE",
    "FLAVORS",
    "AzureSettings",
    "check_resource_name",
    "deployment_document",
    "endpoint_document",
    "load_entity",
    "model_asset_name",
    "model_document",
    "plan_traffic",
    "read_settings",
    "write_specs",
]

#: The flavors Azure ML serves an MLflow model as (its scoring script loads the pyfunc).
FLAVORS = ("python_function",)
#: The VM size Azure recommends as the smallest for general-purpose managed online endpoints.
DEFAULT_INSTANCE_TYPE = "Standard_DS3_v2"
#: How long to wait for one Azure operation (a deployment takes several minutes), in seconds.
DEFAULT_TIMEOUT = 1800.0
#: Where each spec's JSON schema lives (editors use it to check the YAML).
SCHEMAS = {
    "model": "https://azuremlschemas.azureedge.net/latest/model.schema.json",
    "endpoint": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
    "deployment": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
}
#: Tag on the registered Azure model naming the runlab model URI it came from.
SOURCE_TAG = "runlab.model_uri"

CONFIG_KEYS: dict[str, str] = {
    "instance_type": f"VM size of each instance (default {DEFAULT_INSTANCE_TYPE}; an update "
    "keeps the deployment's)",
    "instance_count": "number of instances, at least 1 (default 1; an update keeps the "
    "deployment's)",
    "traffic": 'JSON object of deployment name to percent, summing to 100, e.g. {"blue": 90, '
    '"green": 10} (default: 100 to the deployment being created; an update keeps the split)',
    "model_name": "name of the registered Azure ML model (default: the registered runlab "
    "model's name, else the deployment's)",
    "auth_mode": "how clients authenticate to a new endpoint: key (default) or aml_token",
    "description": "description of the deployment and of a new endpoint",
    "tags": "JSON object of string tags for the deployment and a new endpoint",
    "environment_variables": "JSON object of environment variables for the serving containers",
    "timeout": f"seconds to wait for each Azure operation (default {DEFAULT_TIMEOUT:.0f})",
    "subscription_id": "Azure subscription id (else the target URI or $AZURE_SUBSCRIPTION_ID)",
    "resource_group": "resource group (else the target URI or $AZURE_RESOURCE_GROUP)",
    "workspace": "Azure ML workspace name (else the target URI or $AZUREML_WORKSPACE_NAME)",
}
_AUTH_MODES = ("key", "aml_token")
# Azure's rules: endpoint and deployment names are 3-32 characters, a letter first, then
# letters, digits and '-', not ending in '-'; asset (model) names up to 255 characters.
_RESOURCE_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class AzureSettings:
    """The config keys, checked. None means "not given": a default for a new resource, the
    current value for an update."""

    instance_type: str | None = None
    instance_count: int | None = None
    traffic: dict[str, int] | None = None
    model_name: str | None = None
    auth_mode: str = "key"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"Config {key} must be a non-empty string, got {value!r}.")
    return value.strip()


def _string_map(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, (str, int, float, bool))
        for k, v in value.items()
    ):
        raise InvalidParameter(
            f"Config {key} must be a JSON object of names to strings, e.g. "
            f'{key}=\'{{"team": "ml"}}\', got {value!r}.'
        )
    return {k: str(v) for k, v in value.items()}


def _traffic(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidParameter(
            f'Config traffic must be a JSON object such as {{"blue": 90, "green": 10}}, got '
            f"{value!r}."
        )
    split: dict[str, int] = {}
    for name, percent in value.items():
        check_resource_name("deployment", name)
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise InvalidParameter(
                f"Config traffic gives deployment {name!r} {percent!r}; each share is a whole "
                "percent from 0 to 100."
            )
        split[name] = percent
    if sum(split.values()) != 100:
        raise InvalidParameter(
            f"Config traffic {split} adds up to {sum(split.values())}; the shares must add up "
            "to 100."
        )
    return split


def read_settings(config: Mapping[str, Any] | None) -> AzureSettings:
    """The checked settings of a ``config`` dict; InvalidParameter names a wrong key or value."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidParameter(
            f"Unknown azureml config key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join(CONFIG_KEYS)} (runlab deployments help -t azureml says what each means)."
        )
    values: dict[str, Any] = {}
    if "instance_type" in config:
        values["instance_type"] = _string("instance_type", config["instance_type"])
    if "instance_count" in config:
        count = config["instance_count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidParameter(
                f"Config instance_count must be a whole number >= 1, got {count!r}."
            )
        values["instance_count"] = count
    if "traffic" in config:
        values["traffic"] = _traffic(config["traffic"])
    if "model_name" in config:
        name = _string("model_name", config["model_name"])
        if not _ASSET_NAME.match(name):
            raise InvalidParameter(
                f"Config model_name {name!r} is not an Azure ML model name: up to 255 letters, "
                "digits, '-', '_' or '.', starting with a letter or digit."
            )
        values["model_name"] = name
    if "auth_mode" in config:
        mode = _string("auth_mode", config["auth_mode"]).lower()
        if mode not in _AUTH_MODES:
            raise InvalidParameter(f"Config auth_mode must be key or aml_token, got {mode!r}.")
        values["auth_mode"] = mode
    if "description" in config:
        values["description"] = _string("description", config["description"])
    for key in ("tags", "environment_variables"):
        if key in config:
            values[key] = _string_map(key, config[key])
    if "timeout" in config:
        timeout = config["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidParameter(
                f"Config timeout must be a number of seconds > 0, got {timeout!r}."
            )
        values["timeout"] = float(timeout)
    return AzureSettings(**values)


def check_resource_name(kind: str, name: Any) -> str:
    """``name`` if it is a valid Azure ML ``kind`` (endpoint or deployment) name."""
    if not isinstance(name, str) or not 3 <= len(name) <= 32 or not _RESOURCE_NAME.match(name):
        raise InvalidParameter(
            f"{name!r} is not a valid Azure ML {kind} name: 3 to 32 characters, a letter first, "
            "then letters, digits or '-', not ending in '-'."
        )
    return name


def model_asset_name(model_uri: str, fallback: str) -> str:
    """The Azure ML model name for ``model_uri``: a registered runlab model's name (made to fit
    Azure's rules), else ``fallback``."""
    from runlab.model_uris import is_model_uri, parse_model_uri

    if is_model_uri(model_uri):
        parsed = parse_model_uri(model_uri)
        name = getattr(parsed, "name", None)
        if name:
            fitted = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-._")[:255]
            if fitted and _ASSET_NAME.match(fitted):
                return fitted
    return fallback


def _common(settings: AzureSettings) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if settings.description:
        document["description"] = settings.description
    if settings.tags:
        document["tags"] = dict(settings.tags)
    return document


def model_document(name: str, path: str, model_uri: str, settings: AzureSettings) -> dict[str, Any]:
    """The ``model.yml`` of the model folder at ``path``, registered as an MLflow model."""
    document: dict[str, Any] = {
        "$schema": SCHEMAS["model"],
        "name": name,
        "type": "mlflow_model",
        "path": path,
        "description": settings.description or f"Deployed by runlab from {model_uri}",
    }
    document["tags"] = {**settings.tags, SOURCE_TAG: model_uri}
    return document


def endpoint_document(name: str, settings: AzureSettings) -> dict[str, Any]:
    """The ``endpoint.yml`` of a managed online endpoint (traffic is set once it has
    deployments)."""
    return {
        "$schema": SCHEMAS["endpoint"],
        "name": name,
        "auth_mode": settings.auth_mode,
    } | _common(settings)


def deployment_document(
    name: str,
    endpoint: str,
    model: str | dict[str, Any],
    settings: AzureSettings,
    current: Any = None,
) -> dict[str, Any]:
    """The ``deployment.yml`` of a managed online deployment of ``model`` (an
    ``azureml:<name>:<version>`` reference or an inline model document).

    Settings not given keep the ``current`` deployment's values (an SDK entity), else default.
    """
    instance_type = settings.instance_type or getattr(current, "instance_type", None)
    instance_count = settings.instance_count or getattr(current, "instance_count", None)
    document: dict[str, Any] = {
        "$schema": SCHEMAS["deployment"],
        "name": name,
        "endpoint_name": endpoint,
        "model": model,
        "instance_type": instance_type or DEFAULT_INSTANCE_TYPE,
        "instance_count": instance_count or 1,
    }
    variables = settings.environment_variables or dict(
        getattr(current, "environment_variables", None) or {}
    )
    if variables:
        document["environment_variables"] = variables
    return document | _common(settings)


def plan_traffic(
    current: Mapping[str, int],
    deployments: set[str],
    new: str,
    requested: Mapping[str, int] | None,
    route_by_default: bool,
) -> dict[str, int] | None:
    """The endpoint's traffic after deploying ``new`` among ``deployments``, or None to keep it.

    ``requested`` (config ``traffic``) may name only those deployments; a deployment it leaves
    out gets 0. Without it, ``route_by_default`` sends everything to ``new``.
    """
    if requested is None:
        if not route_by_default:
            return None
        requested = {new: 100}
    unknown = sorted(set(requested) - deployments - {new})
    if unknown:
        raise InvalidParameter(
            f"Config traffic names {', '.join(unknown)}, which the endpoint does not have (its "
            f"deployments: {', '.join(sorted(deployments | {new}))})."
        )
    split = {name: 0 for name, percent in current.items() if percent and name in deployments}
    split.update(requested)
    return split


def load_entity(kind: str, document: Mapping[str, Any], origin: str | Path = ".") -> Any:
    """The SDK entity of a spec ``document`` (kind ``model``, ``endpoint`` or ``deployment``),
    through the SDK's own YAML loader and schema; relative paths are read from ``origin``."""
    import yaml

    from runlab.deployments.azureml_errors import azure_errors
    from runlab.deployments.azureml_workspace import require_sdk

    sdk = require_sdk()
    loaders = {
        "model": sdk.load_model,
        "endpoint": sdk.load_online_endpoint,
        "deployment": sdk.load_online_deployment,
    }
    text = yaml.safe_dump(dict(document), sort_keys=False)
    with azure_errors(f"read the {kind} spec"):
        return loaders[kind](io.StringIO(text), relative_origin=str(origin))


def write_specs(
    folder: str | Path,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
    endpoint: str | None = None,
) -> list[Path]:
    """Write what a deployment would create, for ``az ml`` or review, and create nothing.

    ``folder`` gets ``model/`` (a copy of the model's files), ``endpoint.yml`` and
    ``deployment.yml`` (whose model is registered from ``model/`` when Azure creates it):
    ``az ml online-endpoint create -f endpoint.yml`` then ``az ml online-deployment create -f
    deployment.yml --all-traffic``. Returns the files written.
    """
    import shutil

    import yaml

    from runlab.deployments.deployable import deployable_model

    settings = read_settings(config)
    endpoint = check_resource_name("endpoint", endpoint or name)
    check_resource_name("deployment", name)
    out = Path(folder)
    if out.exists() and any(out.iterdir()):
        raise InvalidParameter(f"{out} is not empty; give a new or empty folder for the specs.")
    with deployable_model(model_uri, flavor, FLAVORS) as model:
        model_spec = model_document(
            settings.model_name or model_asset_name(model.uri, name), "model", model.uri, settings
        )
        model_spec.pop("$schema")
        documents = {
            "endpoint.yml": endpoint_document(endpoint, settings),
            "deployment.yml": deployment_document(name, endpoint, model_spec, settings),
        }
        # The SDK's loaders check each spec before anything is written.
        load_entity("endpoint", documents["endpoint.yml"], model.path.parent)
        load_entity(
            "deployment",
            {**documents["deployment.yml"], "model": {**model_spec, "path": str(model.path)}},
        )
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(model.path, out / "model")
    written = [out / "model"]
    for filename, document in documents.items():
        (out / filename).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        written.append(out / filename)
    return written
