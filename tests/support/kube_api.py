"""A small Kubernetes API server for tests: the few calls the kubernetes and kserve targets make.

There is no cluster here, so this HTTP server on a loopback port answers, in the API's own
JSON, what a real API server answers for Deployments (apps/v1), Services (v1) and KServe
InferenceServices (serving.kserve.io/v1beta1) in any namespace: create (409 when the name is
taken), get (404 when missing), list with a label selector, replace (409 when the
resourceVersion is stale; 422 when a Service's clusterIP changes or a custom object's
resourceVersion is missing), delete, ``?dryRun=All`` (checked, not stored), bearer-token
authentication (401), and the service proxy (``services/<name>:<port>/proxy/<path>``), which
it forwards to a backend URL the test names. It records every request (method, path, query,
body) so tests can assert exactly what the client sent, and can fail the next request of a
kind with a status the test chooses.

``kubeconfig(path)`` writes a kubeconfig whose current context points at this server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

TOKEN = "runlab-test-token"

# (group/version, plural) -> kind, for the kinds this server serves.
_KINDS = {
    ("apps/v1", "deployments"): "Deployment",
    ("v1", "services"): "Service",
    ("serving.kserve.io/v1beta1", "inferenceservices"): "InferenceService",
}
_CUSTOM = {"InferenceService"}
_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy/(.*)$")
_CORE = re.compile(r"^/api/(v1)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?$")
_GROUP = re.compile(r"^/apis/([^/]+/[^/]+)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?$")


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class KubeApi:
    """The server's state: stored objects, recorded requests, and what tests arrange."""

    url: str = ""
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    #: (namespace, service name) -> the base URL its proxy forwards to.
    backends: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (namespace, name) -> the status an InferenceService reports (as KServe would set it).
    inference_status: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    kserve_installed: bool = True
    failures: list[tuple[str, str, int, str]] = field(default_factory=list)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(100))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, kind: str, status: int, message: str) -> None:
        """Answer the next ``method`` request on objects of ``kind`` with ``status``."""
        self.failures.append((method, kind, status, message))

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests received, optionally of one method."""
        return [(r.method, r.path) for r in self.requests if method in (None, r.method)]

    def stored(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object, or None."""
        return self.objects.get((kind, namespace, name))

    def kubeconfig(self, path: Path, namespace: str | None = "default") -> Path:
        """Write a kubeconfig whose current context is this server; its path."""
        context: dict[str, Any] = {"cluster": "test", "user": "tester"}
        if namespace is not None:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": context}],
            "current-context": "test",
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    # -- answering ---------------------------------------------------------------------------
    def answer(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        """The status, body and content type for one request."""
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(Request(method, split.path, query, body, headers))
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        proxy = _PROXY.match(split.path)
        if proxy:
            return self._proxy(method, proxy, headers, raw)
        route = _CORE.match(split.path) or _GROUP.match(split.path)
        if route is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        group_version, namespace, plural, name = route.groups()
        kind = _KINDS.get((group_version, plural))
        if kind is None or (kind in _CUSTOM and not self.kserve_installed):
            return _status(404, "NotFound", "the server could not find the requested resource")
        with self._lock:
            for failure in self.failures:
                if failure[0] == method and failure[1] == kind:
                    self.failures.remove(failure)
                    return _status(failure[2], "Failure", failure[3])
            dry_run = query.get("dryRun") == ["All"]
            return self._crud(method, kind, namespace, name, query, body, dry_run)

    def _crud(
        self,
        method: str,
        kind: str,
        namespace: str,
        name: str | None,
        query: dict[str, list[str]],
        body: Any,
        dry_run: bool,
    ) -> tuple[int, bytes, str]:
        if name is None and method == "GET":
            return self._list(kind, namespace, query)
        if name is None and method == "POST":
            return self._create(kind, namespace, body, dry_run)
        if name is None:
            return _status(405, "MethodNotAllowed", f"{method} on a collection")
        key = (kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            return _status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        if method == "GET":
            return _json(200, self._with_status(current))
        if method == "DELETE":
            if not dry_run:
                del self.objects[key]
            return _json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if method == "PUT":
            return self._replace(key, current, body, dry_run)
        return _status(405, "MethodNotAllowed", method)

    def _list(self, kind: str, namespace: str, query: dict[str, list[str]]) -> Any:
        wanted = dict(
            pair.split("=", 1) for pair in query.get("labelSelector", [""])[0].split(",") if pair
        )
        items = [
            self._with_status(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind
            and ns == namespace
            and all(obj["metadata"].get("labels", {}).get(k2) == v for k2, v in wanted.items())
        ]
        return _json(200, {"kind": f"{kind}List", "apiVersion": "v1", "items": items})

    def _create(self, kind: str, namespace: str, body: Any, dry_run: bool) -> Any:
        if not isinstance(body, dict) or body.get("kind") != kind:
            return _status(400, "BadRequest", f"the body is not a {kind}")
        meta = body.get("metadata") or {}
        name = meta.get("name")
        if not name:
            return _status(422, "Invalid", "metadata.name: Required value")
        if meta.get("namespace", namespace) != namespace:
            return _status(400, "BadRequest", "the namespace of the object does not match")
        if (kind, namespace, name) in self.objects:
            return _status(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
        stored = json.loads(json.dumps(body))
        stored["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(next(self._versions)),
            creationTimestamp="2026-12-06T12:00:00Z",
        )
        if kind == "Service":
            stored["spec"]["clusterIP"] = "10.96.0.42"
            stored["spec"]["clusterIPs"] = ["10.96.0.42"]
        if not dry_run:
            self.objects[(kind, namespace, name)] = stored
        return _json(201, self._with_status(stored))

    def _replace(self, key: tuple[str, str, str], current: Any, body: Any, dry_run: bool) -> Any:
        kind = key[0]
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version is None and kind in _CUSTOM:
            return _status(422, "Invalid", "metadata.resourceVersion: must be specified")
        if version is not None and version != current["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "the object has been modified")
        if kind == "Service" and body["spec"].get("clusterIP") != current["spec"]["clusterIP"]:
            return _status(422, "Invalid", "spec.clusterIP: Invalid value: field is immutable")
        stored = json.loads(json.dumps(body))
        for kept in ("uid", "creationTimestamp", "namespace"):
            stored["metadata"][kept] = current["metadata"][kept]
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        if not dry_run:
            self.objects[key] = stored
        return _json(200, self._with_status(stored))

    def _with_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as read back, with the status a controller would have set."""
        shown = json.loads(json.dumps(obj))
        meta = shown["metadata"]
        if shown["kind"] == "Deployment":
            replicas = (shown.get("spec") or {}).get("replicas", 1)
            shown["status"] = {"readyReplicas": replicas, "availableReplicas": replicas}
        elif shown["kind"] == "InferenceService":
            status = self.inference_status.get((meta["namespace"], meta["name"]))
            if status is not None:
                shown["status"] = status
        return shown

    def _proxy(
        self, method: str, match: re.Match[str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        namespace, target, path = match.group(1), unquote(match.group(2)), match.group(3)
        service = target.split(":", 1)[0]
        backend = self.backends.get((namespace, service))
        if backend is None or (("Service", namespace, service) not in self.objects):
            return _status(503, "ServiceUnavailable", f'no endpoints available for "{service}"')
        response = httpx.request(
            method,
            f"{backend}/{path}",
            content=raw,
            headers={"content-type": headers.get("content-type", "application/json")},
            timeout=60,
        )
        kind = response.headers.get("content-type", "application/json")
        return response.status_code, response.content, kind


def _json(code: int, value: Any) -> tuple[int, bytes, str]:
    return code, json.dumps(value).encode(), "application/json"


def _status(code: int, reason: str, message: str) -> tuple[int, bytes, str]:
    return _json(
        code,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
    )


@contextlib.contextmanager
def kube_api() -> Iterator[KubeApi]:
    """A running :class:`KubeApi` on a free loopback port, stopped at the end of the block."""
    api = KubeApi()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            code, body, kind = api.answer(self.command, self.path, headers, raw)
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="kube-api", daemon=True
    )
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
