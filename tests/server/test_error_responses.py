"""Unknown API paths and wrong methods answer in MLflow's JSON error shape; pages stay pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api


@pytest.fixture
def full_api(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> Iterator[Api]:
    """The app with the registry too (its alias path has three methods)."""
    yield from make_api(sqlite_store, registry_store=registry)


@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow/no-such-endpoint",
        "/ajax-api/2.0/mlflow/runs/get/extra",
        "/api/2.0/mlflow-artifacts/nothing",
        "/api/9.9/anything",
    ],
)
def test_unknown_api_path_is_endpoint_not_found(full_api: Api, path: str) -> None:
    reply = full_api.post(path, json={})
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": f"No endpoint at POST {path}; /openapi.json lists the endpoints this server "
        "serves.",
    }


def test_wrong_method_lists_every_method_of_the_path(full_api: Api) -> None:
    reply = full_api.request("PUT", "/api/2.0/mlflow/registered-models/alias", json={})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "DELETE, GET, HEAD, POST"
    assert reply.json() == {
        "error_code": "BAD_REQUEST",
        "message": "PUT is not allowed at /api/2.0/mlflow/registered-models/alias; use "
        "DELETE, GET, HEAD, POST.",
    }
    single = full_api.get("/api/2.0/mlflow/runs/create")
    assert single.status_code == 405 and single.headers["allow"] == "POST"
    both = full_api.request("DELETE", "/api/2.0/mlflow/experiments/search")
    assert both.headers["allow"] == "GET, HEAD, POST"


def test_pages_keep_their_own_answers(full_api: Api) -> None:
    page = full_api.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    wrong = full_api.post("/experiments")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith("text/plain")
    assert wrong.headers["allow"] == "GET, HEAD"
