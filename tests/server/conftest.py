"""The real app in-process, driven through httpx over ASGI (no network, no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from runlab.server.app import build_app
from runlab.server.settings import ServerSettings
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api


def make_api(
    store: SqlTrackingStore, settings: ServerSettings | None = None, **app_kwargs: Any
) -> Iterator[Api]:
    app = build_app(store, settings=settings or ServerSettings(), **app_kwargs)
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        try:
            yield Api(portal, client)
        finally:
            portal.call(client.aclose)


@pytest.fixture
def sqlite_store(sqlite_url: str, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(sqlite_url, (tmp_path / "artifacts").as_uri())
    yield store
    store.close()


@pytest.fixture
def api(sqlite_store: SqlTrackingStore) -> Iterator[Api]:
    """The app over a fresh SQLite store, with default settings."""
    yield from make_api(sqlite_store)


@pytest.fixture
def registry(sqlite_url: str) -> Iterator[SqlRegistryStore]:
    """The registry store on the same database as the tracking store."""
    store = SqlRegistryStore(sqlite_url)
    yield store
    close = getattr(store, "close", None)
    if close is not None:
        close()
