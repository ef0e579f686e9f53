"""The server app of an auth world, in this process, called as any of its users (tests only).

:class:`SignedInAs` stands in for the authentication middleware: the ``X-Test-User`` header
names the user. It is for checking the decision point and what handlers do with the principal;
tests of credentials themselves run a real server (``runlab server --auth``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal
from starlette.types import ASGIApp, Receive, Scope, Send

from runlab.artifacts import LocalArtifactRepository
from runlab.server.app import build_app
from runlab.server.auth import AuthenticatedUser, Principal
from runlab.server.settings import ServerSettings
from runlab.store.sql.auth import SqlAuthStore
from support.asgi_api import Api
from support.auth_world import World


def full_app(world: World, **settings: Any) -> Any:
    """The app with every optional part: registry, artifact proxy."""
    destination = world.folder / "destination"
    return build_app(
        world.tracking,
        world.registry,
        LocalArtifactRepository(str(destination)),
        ServerSettings(artifacts_destination=destination.as_uri(), **settings),
        auth_store=world.auth,
    )


class SignedInAs:
    """Stands in for the authentication middleware: the ``X-Test-User`` header names the user
    (looked up in the auth store for whether they are an administrator); none is anonymous."""

    def __init__(self, app: ASGIApp, auth: SqlAuthStore) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            name = headers.get(b"x-test-user")
            if name is not None:
                user = self.auth.get_user(name.decode())
                scope["user"] = AuthenticatedUser(Principal(user.username, user.is_admin))
        await self.app(scope, receive, send)


class Client:
    """Calls the app as a user (None: anonymously)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **({"X-Test-User": user} if user else {})}
        return self.api.request(method, path, headers=headers, **kwargs)

    def mlflow(
        self, user: str | None, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """An MLflow endpoint, called the way MLflow's client does (query for GET)."""
        url = f"/api/2.0/mlflow/{path}"
        if method == "GET":
            return self.call(user, "GET", url, params=body or {})
        return self.call(user, method, url, json=body or {})


def serve(app: Any) -> Iterator[Client]:
    """A client of ``app`` for the duration of the generator (use with ``yield from``)."""
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        try:
            yield Client(Api(portal, client))
        finally:
            portal.call(client.aclose)
