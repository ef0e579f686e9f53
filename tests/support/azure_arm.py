"""A local stand-in for the Azure services the ``azure-ai-ml`` SDK calls, recording every request.

Azure has no emulator for Azure Resource Manager (ARM), so this is a small HTTP server that
answers the few ARM operations a deployment involves (online endpoints and deployments, model
containers and versions, the default datastore and its SAS token, endpoint keys) and the Blob
Storage operations of a model upload, from in-memory state. Every request is recorded
(method, host, path, query, JSON body) for tests to assert on.

How the SDK reaches it without patching the SDK: through the SDK's own settings for clouds other
than Azure's public one. ``ARM_CLOUD_METADATA_URL`` points at this server's copy of ARM's
``/metadata/endpoints`` and ``AZUREML_CURRENT_CLOUD`` picks the one cloud listed there, whose
ARM host and storage suffix are under the reserved ``.invalid`` domain (never resolved: a missed
setting fails instead of reaching a real host). The SDK refuses bearer tokens over plain HTTP and
builds Blob Storage URLs as ``https://<account>.blob.<suffix>``, so the server sits behind an
HTTPS-intercepting proxy (:mod:`support.azure_arm_proxy`) that ``HTTPS_PROXY`` and
``REQUESTS_CA_BUNDLE`` make the SDK's HTTP transport use and trust.
:meth:`AzureArmServer.environment` gives the variables; :func:`azure_environment` sets them, and
makes ``DefaultAzureCredential`` find a token through an ``az`` stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from support.azure_arm_proxy import PROVIDER, Answer, InterceptingProxy, RecordedRequest

DOMAIN = "runlab.invalid"
ARM_HOST = f"management.{DOMAIN}"
STORAGE_ACCOUNT = "runlabstore"
STORAGE_HOST = f"{STORAGE_ACCOUNT}.blob.{DOMAIN}"
CONTAINER = "azureml-blobstore-test"
SAS_TOKEN = "sv=2024-01-01&sig=runlab-test"
ENDPOINT_KEY = "runlab-test-endpoint-key"
LOCATION = "eastus"
CLOUD_NAME = "RunlabLocalAzure"
SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "runlab-rg"
WORKSPACE = "runlab-ws"


#: Warnings the Azure ML SDK raises on import and use, for ``pytest.mark.filterwarnings``: its
#: schemas use marshmallow 3 features that marshmallow 4 changes, and marshmallow says so.
AZURE_SDK_WARNINGS = ("ignore::marshmallow.warnings.Marshmallow4Warning",)


@dataclass
class ArmState:
    """The resources the server holds, by lower-cased ARM path (without the query)."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    blob_metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    # Operations answered with an ARM error instead: (method, path regex) -> (status, code, message)
    failures: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    # Collections ("deployments", "onlineEndpoints") whose new resources stay "Creating".
    slow: set[str] = field(default_factory=set)


class FixedTokenCredential:
    """An Azure credential that returns one fixed token: the SDK asks it, never Entra ID."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("runlab-test-token", int(time.time()) + 3600)


class AzureArmServer:
    """The ARM and Blob Storage stand-in (see the module docstring); a context manager."""

    def __init__(self, folder: Path, subscription: str, resource_group: str, workspace: str):
        self.subscription = subscription
        self.resource_group = resource_group
        self.workspace = workspace
        self.state = ArmState()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        names = [ARM_HOST, f"*.blob.{DOMAIN}", f"*.inference.{DOMAIN}"]
        self.proxy = InterceptingProxy(folder, names, DOMAIN, self.handle)
        self.ca_path = self.proxy.ca_path
        self.port = self.proxy.port
        self._seed()

    # -- set-up --------------------------------------------------------------------------------
    @property
    def workspace_path(self) -> str:
        """The ARM path of the workspace (``/subscriptions/…/workspaces/<name>``)."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/"
            f"{PROVIDER}/workspaces/{self.workspace}"
        )

    def _seed(self) -> None:
        self.state.resources[self.workspace_path.lower()] = {
            "id": self.workspace_path,
            "name": self.workspace,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": LOCATION,
            "kind": "Default",
            "properties": {"workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.workspace))},
        }
        store = f"{self.workspace_path}/datastores/workspaceblobstore"
        self.state.resources[store.lower()] = {
            "id": store,
            "name": "workspaceblobstore",
            "type": f"{PROVIDER.split('/', 1)[1]}/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": CONTAINER,
                "endpoint": DOMAIN,
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
            },
        }

    def start(self) -> AzureArmServer:
        """Serve in a background thread."""
        self.proxy.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.proxy.stop()

    def __enter__(self) -> AzureArmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """Environment variables that point the SDK at this server: its cloud (from the
        server's ARM metadata endpoint, as for a sovereign cloud) and its HTTPS proxy."""
        proxy = f"http://127.0.0.1:{self.port}"
        return {
            "ARM_CLOUD_METADATA_URL": f"https://{ARM_HOST}/metadata/endpoints?api-version=2022-09-01",
            "AZUREML_CURRENT_CLOUD": CLOUD_NAME,
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
            "CURL_CA_BUNDLE": str(self.ca_path),
        }

    def cloud_metadata(self) -> list[dict[str, Any]]:
        """What ARM's ``/metadata/endpoints`` answers: this one made-up cloud."""
        return [
            {
                "name": CLOUD_NAME,
                "portal": f"https://portal.{DOMAIN}/",
                "resourceManager": f"https://{ARM_HOST}/",
                "authentication": {
                    "loginEndpoint": f"https://login.{DOMAIN}/",
                    "audiences": [f"https://{ARM_HOST}/"],
                },
                "suffixes": {"storage": DOMAIN},
            }
        ]

    def finish_slow(self, timeout: float = 10.0) -> None:
        """Let every resource still "Creating" succeed, and wait until the SDK's poller has
        seen it (so no poller thread outlives the test)."""
        with self._lock:
            self.state.slow.clear()
            waiting = []
            for key, resource in self.state.resources.items():
                if resource.get("properties", {}).get("provisioningState") == "Creating":
                    resource["properties"]["provisioningState"] = "Succeeded"
                    waiting.append(key)
            seen = len(self.requests)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            with self._lock:
                later = {r.path.lower() for r in self.requests[seen:] if r.method == "GET"}
            waiting = [key for key in waiting if key not in later]
            time.sleep(0.05)
        assert not waiting, f"the SDK never looked at {waiting} again"

    def fail(self, method: str, path_pattern: str, status: int, code: str, message: str) -> None:
        """Answer requests matching ``method`` and the ``path_pattern`` regex with an error."""
        self.state.failures[(method, path_pattern)] = (status, code, message)

    # -- queries for tests ---------------------------------------------------------------------
    def calls(self, method: str | None = None, contains: str = "") -> list[RecordedRequest]:
        """Recorded requests, optionally of one method and with ``contains`` in the path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and contains in r.path
            ]

    def resource(self, relative: str) -> dict[str, Any] | None:
        """A stored resource by its path under the workspace (``onlineEndpoints/ep``)."""
        return self.state.resources.get(f"{self.workspace_path}/{relative}".lower())

    def children(self, relative: str) -> list[dict[str, Any]]:
        """Stored resources directly under ``relative`` (a collection path)."""
        return self._children(f"{self.workspace_path}/{relative}")

    def _children(self, collection: str) -> list[dict[str, Any]]:
        prefix = collection.lower().rstrip("/") + "/"
        return [
            value
            for key, value in sorted(self.state.resources.items())
            if key.startswith(prefix) and "/" not in key[len(prefix) :]
        ]

    # -- request handling ----------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """The answer to one request: status, headers, body."""
        with self._lock:
            self.requests.append(request)
            for (method, pattern), (status, code, message) in self.state.failures.items():
                if request.method == method and re.search(pattern, request.path):
                    return _error(status, code, message)
            if request.host == ARM_HOST:
                return self._arm(request)
            if request.host == STORAGE_HOST:
                return self._blob(request)
            if request.host.endswith(f".inference.{DOMAIN}"):
                return self._score(request)
            return _error(404, "UnknownHost", f"no service at {request.host}")

    def _arm(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        path = request.path.rstrip("/")
        if path == "/metadata/endpoints" and request.method == "GET":
            return _json(200, self.cloud_metadata())
        key = path.lower()
        if request.method == "GET":
            if key in self.state.resources:
                return _with_retry_after(_json(200, self.state.resources[key]))
            if key.endswith("/datastores/default") or "isdefault" in str(request.query).lower():
                return _json(
                    200,
                    self.state.resources[
                        f"{self.workspace_path}/datastores/workspaceblobstore".lower()
                    ],
                )
            if _is_collection(path):
                return _json(200, {"value": self._children(path)})
            return _not_found(path)
        if request.method == "PUT":
            return self._put(path, request.json())
        if request.method == "DELETE":
            if key not in self.state.resources:
                return 204, {}, b""
            for stored in list(self.state.resources):
                if stored == key or stored.startswith(key + "/"):
                    del self.state.resources[stored]
            return 200, {}, b""
        if request.method == "POST":
            action = path.rsplit("/", 1)[1].lower()
            parent = key.rsplit("/", 1)[0]
            if action == "listsecrets":
                return _json(200, {"secretsType": "Sas", "sasToken": SAS_TOKEN})
            if action == "listkeys":
                if parent not in self.state.resources:
                    return _not_found(path)
                return _json(200, {"primaryKey": ENDPOINT_KEY, "secondaryKey": ENDPOINT_KEY})
        return _error(405, "MethodNotAllowed", f"{request.method} {path} is not answered here")

    def _put(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/")
        name = parts[-1]
        resource = dict(body)
        resource["id"] = path
        resource["name"] = name
        properties = dict(resource.get("properties") or {})
        properties["provisioningState"] = (
            "Creating" if parts[-2] in self.state.slow else "Succeeded"
        )
        if parts[-2] == "onlineEndpoints":
            properties["scoringUri"] = f"https://{name}.inference.{DOMAIN}/score"
            traffic = properties.setdefault("traffic", {}) or {}
            # As Azure does: traffic goes to existing deployments and adds up to 0 or 100.
            existing = {d["name"] for d in self._children(f"{path}/deployments")}
            if set(traffic) - existing or sum(traffic.values()) not in (0, 100):
                return _error(400, "BadArgument", f"Invalid traffic {traffic} for {existing}")
        if parts[-2] == "deployments" and parts[-4] == "onlineEndpoints":
            endpoint = "/".join(parts[:-2]).lower()
            if endpoint not in self.state.resources:
                return _not_found("/".join(parts[:-2]))
            # Defaults Azure fills in for a managed deployment that gives none.
            properties.setdefault("scaleSettings", {"scaleType": "Default"})
        if parts[-2] == "versions":
            container = "/".join(parts[:-2])
            # Azure keeps a container per model, whose nextVersion the SDK asks for.
            following = str(int(name) + 1) if name.isdigit() else None
            self.state.resources.setdefault(
                container.lower(), {"id": container, "name": parts[-3], "properties": {}}
            )["properties"].update({"latestVersion": name, "nextVersion": following})
        if properties.get("modelType") == "mlflow_model":
            # Azure reads the flavors from the uploaded MLmodel file; answer the same way.
            properties["flavors"] = self._flavors(str(properties.get("modelUri", "")))
        resource["properties"] = properties
        created = path.lower() not in self.state.resources
        self.state.resources[path.lower()] = resource
        return _with_retry_after(_json(201 if created else 200, resource))

    def _flavors(self, model_uri: str) -> dict[str, Any]:
        import yaml

        folder = model_uri.split("/paths/", 1)[-1].rstrip("/")
        text = self.state.blobs.get(f"/{CONTAINER}/{folder}/MLmodel")
        if text is None:
            return {}
        flavors = yaml.safe_load(text).get("flavors") or {}
        return {
            name: {"data": {k: str(v) for k, v in (spec or {}).items() if not isinstance(v, dict)}}
            for name, spec in flavors.items()
        }

    def _blob(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        path = unquote(request.path)
        comp = request.query.get("comp", [""])[0]
        restype = request.query.get("restype", [""])[0]
        if request.method == "GET" and restype == "container" and comp == "list":
            prefix = f"/{CONTAINER}/" + request.query.get("prefix", [""])[0]
            names = [n[len(CONTAINER) + 2 :] for n in self.state.blobs if n.startswith(prefix)]
            return _blob_list(names)
        if request.method == "PUT" and comp == "metadata":
            if path not in self.state.blobs:
                return _blob_error(404, "BlobNotFound")
            self.state.blob_metadata[path] = {
                k[len("x-ms-meta-") :]: v
                for k, v in request.headers.items()
                if k.lower().startswith("x-ms-meta-")
            }
            return 200, _blob_headers(), b""
        if request.method == "PUT" and not comp:
            self.state.blobs[path] = request.body
            self.state.blob_metadata[path] = {
                k[len("x-ms-meta-") :]: v
                for k, v in request.headers.items()
                if k.lower().startswith("x-ms-meta-")
            }
            return 201, _blob_headers(), b""
        if request.method in ("HEAD", "GET") and not comp:
            if path not in self.state.blobs:
                return _blob_error(404, "BlobNotFound")
            headers = _blob_headers()
            headers["Content-Length"] = str(len(self.state.blobs[path]))
            headers["x-ms-blob-type"] = "BlockBlob"
            for k, v in self.state.blob_metadata.get(path, {}).items():
                headers[f"x-ms-meta-{k}"] = v
            return 200, headers, b"" if request.method == "HEAD" else self.state.blobs[path]
        return _blob_error(405, "UnsupportedHttpVerb")

    def _score(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        endpoint = request.host.split(".", 1)[0]
        if self.resource(f"onlineEndpoints/{endpoint}") is None:
            return _error(404, "EndpointNotFound", endpoint)
        if request.headers.get("authorization") != f"Bearer {ENDPOINT_KEY}":
            return _error(401, "Unauthorized", "wrong key")
        payload = request.json()
        rows = payload.get("input_data", {})
        count = len(rows.get("data", [])) if isinstance(rows, dict) else len(rows)
        return _json(200, [float(i) for i in range(count)])


def _with_retry_after(answer: Answer) -> Answer:
    """``answer``, telling the SDK's poller to look again in 1 s while it is still "Creating"
    (else it waits its default 5 s)."""
    status, headers, body = answer
    if json.loads(body).get("properties", {}).get("provisioningState") == "Creating":
        headers = {**headers, "Retry-After": "1"}
    return status, headers, body


def _is_collection(path: str) -> bool:
    return path.rsplit("/", 1)[1] in {"onlineEndpoints", "deployments", "models", "versions"}


def _json(status: int, value: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": code, "message": message}})


def _not_found(path: str) -> tuple[int, dict[str, str], bytes]:
    return _error(404, "ResourceNotFound", f"The resource {path} was not found.")


def _blob_headers() -> dict[str, str]:
    return {
        "ETag": f'"0x{uuid.uuid4().hex[:16].upper()}"',
        "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
        "x-ms-version": "2025-01-05",
        "x-ms-request-server-encrypted": "true",
    }


def _blob_error(status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code></Error>'.encode()
    headers = _blob_headers()
    headers["x-ms-error-code"] = code
    headers["Content-Type"] = "application/xml"
    return status, headers, body


def _blob_list(names: list[str]) -> tuple[int, dict[str, str], bytes]:
    items = "".join(
        f"<Blob><Name>{n}</Name><Properties><BlobType>BlockBlob</BlobType></Properties></Blob>"
        for n in names
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults>'
        f"<Blobs>{items}</Blobs><NextMarker /></EnumerationResults>"
    ).encode()
    headers = _blob_headers()
    headers["Content-Type"] = "application/xml"
    return 200, headers, body


AZ_LOGGED_IN = """#!/bin/sh
# A stand-in for the Azure CLI: DefaultAzureCredential runs `az account get-access-token`.
echo "$@" >> "$(dirname "$0")/az-calls.log"
echo '{"accessToken": "runlab-cli-token", "expires_on": 4102444800, "tokenType": "Bearer"}'
"""
AZ_LOGGED_OUT = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/az-calls.log"
echo "ERROR: Please run 'az login' to setup account." >&2
exit 1
"""


def install_fake_az(folder: Path, logged_in: bool = True) -> Path:
    """Write an ``az`` stand-in into ``folder`` (put it first on PATH); returns its call log."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "az"
    script.write_text(AZ_LOGGED_IN if logged_in else AZ_LOGGED_OUT)
    script.chmod(0o755)
    return folder / "az-calls.log"


@contextlib.contextmanager
def azure_environment(
    folder: Path, monkeypatch: Any, logged_in: bool = True
) -> Iterator[AzureArmServer]:
    """A running :class:`AzureArmServer` and an environment that sends the SDK to it.

    Credentials go through the SDK's real chain, ``DefaultAzureCredential``, narrowed by
    ``AZURE_TOKEN_CREDENTIALS`` to the Azure CLI credential, which runs the ``az`` stand-in:
    no managed-identity probe leaves the machine.
    """
    server = AzureArmServer(folder / "arm", SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)
    bin_dir = folder / "bin"
    install_fake_az(bin_dir, logged_in)
    with server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
            monkeypatch.delenv(name, raising=False)
        for name in ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("AZUREML_ARM_WORKSPACE_NAME", raising=False)
        yield server
