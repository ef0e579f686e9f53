"""The permission matrix: every route x every kind of caller -> the expected 200/401/403.

Run against a real ``runlab server --auth`` process, over HTTP, with HTTP Basic passwords and
access tokens made through the auth store. Callers (:data:`support.permission_matrix.COLUMNS`):
an administrator; users with MANAGE, EDIT, READ and NO_PERMISSIONS on the resources a request
names; a user acting on another user's resources (no permission of their own: the server's
default, READ, decides; on account routes, another user's account); an anonymous caller; a
wrong password; an expired access token.

Every route the server serves must have a request in the matrix, so a new route without one
fails here until someone writes down who may call it. Refused anonymous callers, and refused
credentials, must get the same answer for resources that do not exist as for ones that do.
"""

from __future__ import annotations

import itertools
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route as StarletteRoute

from runlab.artifacts import LocalArtifactRepository
from runlab.server.app import build_app
from runlab.server.settings import ServerSettings
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.auth_server import ADMIN, ADMIN_PASSWORD, auth_server
from support.auth_world import FAST_HASHER
from support.permission_matrix import (
    COLUMNS,
    GRANTS,
    OWNER,
    PASSWORD,
    SPECS,
    Call,
    Column,
    Grant,
    Route,
    Scene,
    Stores,
    password_of,
    run_matrix,
    spec_key,
)
from support.servers import ServerProcess

USERS = (*GRANTS, "bystander", OWNER)
#: Wrong passwords per user name before the next one is used: the server refuses a user name
#: for a while after ten failures (the limit is not what this test checks).
FAILURES_PER_NAME = 5


@dataclass
class Matrix:
    server: ServerProcess
    stores: Stores
    #: An app built here as the server builds its own (same stores, auth on, artifact proxy):
    #: its routes are the matrix's rows, checked against the server's OpenAPI document.
    app: Any
    expired_token: str


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    folder = tmp_path_factory.mktemp("matrix")
    server = auth_server(folder).start()
    try:
        # The test works on the server's own database, as `runlab auth` would.
        url = f"sqlite:///{folder / 'server.db'}"
        destination = folder / "artifacts"
        stores = Stores(
            SqlTrackingStore(url, "mlflow-artifacts:/"),
            SqlRegistryStore(url),
            SqlAuthStore(url, password_hasher=FAST_HASHER),
            destination,
        )
        for username in USERS:
            stores.auth.create_user(username, PASSWORD)
        admin = httpx.Client(base_url=server.url, auth=(ADMIN, ADMIN_PASSWORD), timeout=30)
        stores.grant = _grant_through(admin)
        _token, expired = stores.auth.create_token("reader", "soon", int(time.time() * 1000) + 800)
        app = build_app(
            stores.tracking,
            stores.registry,
            LocalArtifactRepository(str(destination)),
            ServerSettings(auth_enabled=True, artifacts_destination=str(destination)),
            auth_store=stores.auth,
        )
        time.sleep(1.0)  # the token has expired (it was never used while valid)
        yield Matrix(server, stores, app, expired)
        admin.close()
        stores.auth.close()
        stores.tracking.close()
        stores.registry.close()
    finally:
        server.stop()


class HttpSender:
    """Sends calls to the server as the matrix's callers.

    Calls come from many addresses in turn (every 127.x.y.z reaches the server): the server
    limits failed sign-ins per address, and the matrix makes a thousand on purpose. Each
    address has one client, kept open; no cookie outlives its call.
    """

    ADDRESSES = 250

    def __init__(self, server: ServerProcess, stores: Stores, expired_token: str) -> None:
        self.stores = stores
        self.expired_token = expired_token
        context = ssl.create_default_context()  # one for all: making one takes ~20 ms
        self.clients = [
            httpx.Client(
                base_url=server.url,
                transport=httpx.HTTPTransport(local_address=f"127.1.0.{n + 1}", verify=context),
                verify=context,
                timeout=30,
            )
            for n in range(self.ADDRESSES)
        ]
        self.turns = itertools.cycle(self.clients)
        self.failures = itertools.count()
        self.victim = ""

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def _wrong_password_for(self) -> str:
        """An existing user to send a wrong password for (a new one every few failures)."""
        if next(self.failures) % FAILURES_PER_NAME == 0:
            self.victim = f"victim-{time.monotonic_ns()}"
            self.stores.auth.create_user(self.victim, PASSWORD)
        return self.victim

    def __call__(self, column: Column, call: Call, *, ghost_user: bool = False) -> httpx.Response:
        headers = dict(call.headers)
        auth: tuple[str, str] | None = None
        if column.credentials == "good":
            assert column.user is not None
            auth = (column.user, password_of(column.user))
        elif column.credentials == "bad password":
            # ghost_user: a user name that does not exist (answered exactly the same).
            name = f"nobody-{time.monotonic_ns()}" if ghost_user else self._wrong_password_for()
            auth = (name, "wrong-password")
        elif column.credentials == "expired token":
            headers["Authorization"] = f"Bearer {self.expired_token}"
        client = next(self.turns)
        try:
            return client.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.content,
                data=call.form,
                headers=headers,
                auth=auth,
            )
        finally:
            client.cookies.clear()  # every call stands alone (no web session)


def _grant_through(admin: httpx.Client) -> Grant:
    """Grants made through the server's API, which makes it forget what it remembered."""

    def grant(kind: str, resource: str, username: str, permission: str) -> None:
        if kind == "experiment":
            path, key = "experiments/permissions/create", "experiment_id"
        else:
            path, key = "registered-models/permissions/create", "name"
        body = {key: resource, "username": username, "permission": permission}
        response = admin.post(f"/api/2.0/mlflow/{path}", json=body)
        assert response.status_code == 200, response.text

    return grant


def _routes(app: Any) -> list[Route]:
    return [
        Route(route.path, method)
        for route in app.routes
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def test_the_matrix_covers_every_route_the_server_serves(matrix: Matrix) -> None:
    served = {spec_key(r.path, r.method) for r in _routes(matrix.app)}
    missing = sorted(served - SPECS.keys())
    assert not missing, f"routes without a request in the permission matrix: {missing}"
    stale = sorted(SPECS.keys() - served)
    assert not stale, f"requests in the permission matrix for routes not served: {stale}"
    # The app built here has the server's routes: every API route the server lists is in it.
    with httpx.Client(base_url=matrix.server.url, auth=(ADMIN, ADMIN_PASSWORD)) as client:
        listed = client.get("/openapi.json").json()["paths"]
    known = {
        (route.path_format, method.lower())
        for route in matrix.app.routes
        if isinstance(route, StarletteRoute)
        for method in route.methods or ()
    }
    unknown = sorted(
        (path, method)
        for path, methods in listed.items()
        for method in methods
        if (path, method) not in known
    )
    assert not unknown, f"the server serves routes the matrix does not know: {unknown}"


def test_permission_matrix(matrix: Matrix) -> None:
    send = HttpSender(matrix.server, matrix.stores, matrix.expired_token)
    try:
        outcomes = list(
            run_matrix(_routes(matrix.app), send, lambda: Scene(matrix.stores), COLUMNS)
        )
    finally:
        send.close()
    wrong = [o for o in outcomes if o.status not in o.allowed or o.detail]
    assert not wrong, f"{len(wrong)} of {len(outcomes)} calls:\n" + "\n".join(map(str, wrong))
