"""A synchronous client for an ASGI app in the same process (tests only)."""

from __future__ import annotations

from typing import Any

import httpx
from anyio.from_thread import BlockingPortal


class Api:
    """A synchronous facade over an async httpx client bound to the ASGI app."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def mlflow(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """Call an MLflow endpoint the way MLflow's client does (query for GET, JSON otherwise)."""
        url = f"/api/2.0/mlflow/{path}"
        if method == "GET":
            return self.request("GET", url, params=body or {})
        return self.request(method, url, json=body or {})
