"""``runlab server --auth`` as a real process, and HTTP clients signed in as its users (tests only).

The server is started through its command line, as an administrator would: the first admin
comes from ``RUNLAB_ADMIN_USERNAME`` / ``RUNLAB_ADMIN_PASSWORD``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from support.servers import REPO_ROOT, ServerProcess, free_port

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"
API = "/api/2.0/mlflow"
RUNLAB_API = "/api/2.0/runlab"


def child_env(**extra: str) -> dict[str, str]:
    """A server's environment: no tracking settings of the test's, this checkout's runlab."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def auth_server(
    folder: Path, *args: str, admin: bool = True, env: dict[str, str] | None = None
) -> ServerProcess:
    """A (not yet started) ``runlab server --auth`` over ``folder/server.db``.

    ``admin`` sets the first administrator's variables (:data:`ADMIN`, :data:`ADMIN_PASSWORD`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "runlab.cli",
        "server",
        "--auth",
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]
    variables = dict(env or {})
    if admin:
        variables.setdefault("RUNLAB_ADMIN_USERNAME", ADMIN)
        variables.setdefault("RUNLAB_ADMIN_PASSWORD", ADMIN_PASSWORD)
    return ServerProcess(argv, port, folder / f"auth-server-{port}.log", env=child_env(**variables))


def client(
    server: ServerProcess,
    username: str | None = None,
    password: str | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An HTTP client of ``server`` signed in with a password, a token, or nothing."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    auth = (username, password) if username is not None and password is not None else None
    return httpx.Client(base_url=server.url, auth=auth, headers=all_headers, timeout=30)


def call(
    http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    """An API call the way MLflow's client makes it: query string for GET, JSON otherwise."""
    if method == "GET":
        return http.get(path, params=body or {})
    return http.request(method, path, json=body or {})


def without_date(headers: httpx.Headers, drop: Sequence[str] = ("date",)) -> dict[str, str]:
    """Response headers minus those that differ between two identical answers."""
    return {k: v for k, v in headers.items() if k.lower() not in drop}
