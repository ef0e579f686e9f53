"""Which Azure Machine Learning workspace the ``azureml`` target works in, and the SDK client.

A workspace is named by a subscription id, a resource group and a workspace name. Each comes
from the first of these that gives it:

1. the caller (``--subscription-id``, ``--resource-group``, ``--workspace``, or the
   ``subscription_id``, ``resource_group`` and ``workspace`` config keys);
2. the target URI: ``azureml:/<subscription_id>/<resource_group>/<workspace>``, or any URI
   holding an ARM workspace path (``…/subscriptions/<id>/resourceGroups/<rg>/providers/
   Microsoft.MachineLearningServices/workspaces/<name>``, as in an Azure ML tracking URI);
3. the environment: ``AZURE_SUBSCRIPTION_ID``, ``AZURE_RESOURCE_GROUP``,
   ``AZUREML_WORKSPACE_NAME``, then the ``AZUREML_ARM_*`` variables Azure ML sets on its own
   compute.

When none of the three is given anywhere, the SDK's ``MLClient.from_config`` looks for the
workspace's ``config.json`` (downloaded from the Azure portal) in the working directory and its
parents. Credentials come from the SDK's usual chain, ``DefaultAzureCredential`` (environment
variables, workload or managed identity, ``az login``, …); which Azure cloud, from the SDK's own
settings (``AZUREML_CURRENT_CLOUD``, ``ARM_CLOUD_METADATA_URL``).

The SDK (``azure-ai-ml``, ``azure-identity``) is imported inside functions only, so that
``import runlab.deployments`` stays light; a missing SDK says ``pip install 'runlab[azureml]'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "ENV_RESOURCE_GROUP",
    "ENV_SUBSCRIPTION",
    "ENV_WORKSPACE",
    "Workspace",
    "connect",
    "parse_target_uri",
    "require_sdk",
    "resolve_workspace",
]

#: Environment variables read for each part, in order.
ENV_SUBSCRIPTION = ("AZURE_SUBSCRIPTION_ID", "AZUREML_ARM_SUBSCRIPTION")
ENV_RESOURCE_GROUP = ("AZURE_RESOURCE_GROUP", "AZUREML_ARM_RESOURCEGROUP")
ENV_WORKSPACE = ("AZUREML_WORKSPACE_NAME", "AZUREML_ARM_WORKSPACE_NAME")

_INSTALL_HINT = "pip install 'runlab[azureml]'"
_ARM_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/?#]+)",
    re.IGNORECASE,
)
# Azure's own naming rules, checked here so that a typo fails before any request.
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
_WORKSPACE = re.compile(r"^[a-zA-Z0-9][\w-]{2,32}$")


@dataclass(frozen=True)
class Workspace:
    """An Azure ML workspace's coordinates; a part is None while nobody has given it."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None

    @property
    def complete(self) -> bool:
        """True when all three parts are known."""
        return None not in (self.subscription_id, self.resource_group, self.workspace_name)

    @property
    def empty(self) -> bool:
        """True when no part is known."""
        return (self.subscription_id, self.resource_group, self.workspace_name) == (None,) * 3

    def merged(self, fallback: Workspace) -> Workspace:
        """Each part from ``self``, else from ``fallback``."""
        return Workspace(
            self.subscription_id or fallback.subscription_id,
            self.resource_group or fallback.resource_group,
            self.workspace_name or fallback.workspace_name,
        )

    def checked(self) -> Workspace:
        """``self`` once each known part follows Azure's naming rules."""
        rules = (
            ("subscription id", self.subscription_id, _SUBSCRIPTION, "a GUID"),
            (
                "resource group",
                self.resource_group,
                _RESOURCE_GROUP,
                "1-90 letters, digits, '-', '_', '.', '(' or ')'",
            ),
            (
                "workspace name",
                self.workspace_name,
                _WORKSPACE,
                "3-33 letters, digits, '-' or '_', starting with a letter or digit",
            ),
        )
        for what, value, rule, expected in rules:
            if value is not None and not rule.match(value):
                raise InvalidParameter(f"Azure {what} {value!r} is not valid: expected {expected}.")
        if self.resource_group is not None and self.resource_group.endswith("."):
            raise InvalidParameter(
                f"Azure resource group {self.resource_group!r} is not valid: it ends with '.'."
            )
        return self

    def describe(self) -> str:
        """``<workspace> (resource group <rg>, subscription <id>)`` for messages."""
        return (
            f"workspace {self.workspace_name} (resource group {self.resource_group}, "
            f"subscription {self.subscription_id})"
        )


def parse_target_uri(target_uri: str) -> Workspace:
    """The workspace parts a target URI names (none for a bare ``azureml``)."""
    name, sep, rest = target_uri.partition(":")
    if name.strip() != "azureml":
        raise InvalidParameter(f"{target_uri!r} is not an azureml target URI.")
    rest = rest.strip()
    if not sep or rest in ("", "/", "//"):
        return Workspace()
    arm = _ARM_PATH.search(rest)
    if arm is not None:
        return Workspace(arm["sub"], arm["rg"], arm["ws"]).checked()
    parts = rest.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise InvalidParameter(
            f"Target URI {target_uri!r} should be azureml or "
            "azureml:/<subscription_id>/<resource_group>/<workspace>."
        )
    return Workspace(*parts).checked()


def _from_environment(environ: Mapping[str, str]) -> Workspace:
    def first(names: tuple[str, ...]) -> str | None:
        return next((environ[n].strip() for n in names if environ.get(n, "").strip()), None)

    return Workspace(first(ENV_SUBSCRIPTION), first(ENV_RESOURCE_GROUP), first(ENV_WORKSPACE))


def resolve_workspace(
    target_uri: str,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    workspace: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """The workspace from the caller's values, the target URI and the environment, in that
    order (see the module docstring); parts nobody gave stay None."""
    given = Workspace(subscription_id or None, resource_group or None, workspace or None)
    merged = given.merged(parse_target_uri(target_uri))
    return merged.merged(_from_environment(os.environ if environ is None else environ)).checked()


def require_sdk() -> Any:
    """The ``azure.ai.ml`` module; InvalidParameter with the install hint when it is missing."""
    try:
        import azure.ai.ml as sdk
    except ImportError as err:
        raise InvalidParameter(
            f"The azureml deployment target needs the Azure ML SDK ({err.name or 'azure-ai-ml'} "
            f"is not installed): {_INSTALL_HINT}."
        ) from None
    return sdk


def default_credential() -> Any:
    """The SDK's usual credential chain (``DefaultAzureCredential``)."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise InvalidParameter(
            f"The azureml deployment target needs azure-identity for credentials: {_INSTALL_HINT}."
        ) from None
    try:
        return DefaultAzureCredential()
    except ValueError as err:  # e.g. AZURE_TOKEN_CREDENTIALS names no credential
        raise InvalidParameter(f"Azure credentials are misconfigured: {err}") from None


def connect(workspace: Workspace, credential: Any = None) -> Any:
    """An ``MLClient`` for ``workspace`` (see the module docstring for where parts come from).

    The SDK's progress bars and telemetry are off: runlab reports its own progress, and sends
    nothing to Azure but the calls a deployment needs.
    """
    sdk = require_sdk()
    credential = credential if credential is not None else default_credential()
    options: dict[str, Any] = {"show_progress": False, "enable_telemetry": False}
    if workspace.complete:
        return sdk.MLClient(
            credential,
            workspace.subscription_id,
            workspace.resource_group,
            workspace.workspace_name,
            **options,
        )
    if workspace.empty:
        try:
            return sdk.MLClient.from_config(credential, **options)
        except Exception as err:  # the SDK raises its own ValidationException, or OSError
            if not _names_config_file(err):
                raise
    hints = (
        ("subscription id", workspace.subscription_id, "--subscription-id", ENV_SUBSCRIPTION[0]),
        ("resource group", workspace.resource_group, "--resource-group", ENV_RESOURCE_GROUP[0]),
        ("workspace name", workspace.workspace_name, "--workspace", ENV_WORKSPACE[0]),
    )
    missing = [
        f"the {what} ({option} or ${env})" for what, value, option, env in hints if not value
    ]
    raise InvalidParameter(
        "No Azure ML workspace is named: give "
        + ", ".join(missing)
        + ", a target URI azureml:/<subscription_id>/<resource_group>/<workspace>, or the "
        "workspace's config.json in this folder or a parent."
    )


def _names_config_file(err: Exception) -> bool:
    # from_config's "no config file" failure, as opposed to anything else going wrong.
    text = str(err).lower()
    return "config" in text and ("not find" in text or "no such file" in text or "found" in text)


def with_overrides(workspace: Workspace, config: Mapping[str, Any]) -> Workspace:
    """``workspace`` with the parts the ``subscription_id``, ``resource_group`` and
    ``workspace`` config keys give (each a non-empty string)."""
    values: dict[str, str] = {}
    for key, field in (
        ("subscription_id", "subscription_id"),
        ("resource_group", "resource_group"),
        ("workspace", "workspace_name"),
    ):
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameter(f"Config {key} must be a non-empty string, got {value!r}.")
        values[field] = value.strip()
    return replace(workspace, **values).checked() if values else workspace
