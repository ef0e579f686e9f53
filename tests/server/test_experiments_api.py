"""Experiment endpoints: MLflow's shapes and codes, and clear 4xx answers for bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.asgi_api import Api


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def test_create_get_search_roundtrip(api: Api) -> None:
    created = api.mlflow(
        "POST", "experiments/create", {"name": "a", "tags": [{"key": "k", "value": "v"}]}
    )
    assert created.status_code == 200 and created.json() == {"experiment_id": "1"}
    exp = api.mlflow("GET", "experiments/get", {"experiment_id": "1"}).json()["experiment"]
    assert exp["name"] == "a" and exp["tags"] == [{"key": "k", "value": "v"}]
    assert isinstance(exp["creation_time"], int) and exp["lifecycle_stage"] == "active"
    by_name = api.mlflow("GET", "experiments/get-by-name", {"experiment_name": "a"}).json()
    assert by_name["experiment"] == exp
    page = api.mlflow(
        "POST", "experiments/search", {"max_results": 1, "order_by": ["name DESC"]}
    ).json()
    assert [e["name"] for e in page["experiments"]] == ["a"] and "next_page_token" in page
    rest = api.mlflow(
        "POST",
        "experiments/search",
        {"max_results": 1, "order_by": ["name DESC"], "page_token": page["next_page_token"]},
    ).json()
    assert [e["name"] for e in rest["experiments"]] == ["Default"] and "next_page_token" not in rest
    # The ajax prefix serves the same API, and camelCase field names are accepted.
    ajax = api.request("GET", "/ajax-api/2.0/mlflow/experiments/get", params={"experimentId": "1"})
    assert ajax.json()["experiment"] == exp


def test_lifecycle(api: Api) -> None:
    api.mlflow("POST", "experiments/create", {"name": "b"})
    assert (
        api.mlflow("POST", "experiments/update", {"experiment_id": "1", "new_name": "c"}).json()
        == {}
    )
    api.mlflow(
        "POST", "experiments/set-experiment-tag", {"experiment_id": "1", "key": "t", "value": "1"}
    )
    api.mlflow("POST", "experiments/delete-experiment-tag", {"experiment_id": "1", "key": "t"})
    api.mlflow("POST", "experiments/delete", {"experiment_id": "1"})
    deleted = api.mlflow("POST", "experiments/search", {"view_type": "DELETED_ONLY"}).json()
    assert [e["name"] for e in deleted["experiments"]] == ["c"]
    api.mlflow("POST", "experiments/restore", {"experiment_id": "1"})
    assert (
        api.mlflow("GET", "experiments/get", {"experiment_id": "1"})
        .json()["experiment"]
        .get("tags")
        is None
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "mentions"),
    [
        ("experiments/create", {}, 400, "INVALID_PARAMETER_VALUE", "name"),
        ("experiments/create", {"name": 5}, 400, "INVALID_PARAMETER_VALUE", "name"),
        (
            "experiments/create",
            {"name": "x", "tags": "nope"},
            400,
            "INVALID_PARAMETER_VALUE",
            "tags",
        ),
        (
            "experiments/create",
            {"name": "x", "tags": [{"value": "v"}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "tags[0].key",
        ),
        ("experiments/create", {"name": "Default"}, 400, "RESOURCE_ALREADY_EXISTS", "Default"),
        ("experiments/create", {"name": "x", "nameX": 1, "name_": 2}, 200, None, None),
        (
            "experiments/search",
            {"max_results": "many"},
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results",
        ),
        ("experiments/search", {"filter": "name = "}, 400, "INVALID_PARAMETER_VALUE", "position"),
        ("experiments/search", {"view_type": "SOME"}, 400, "INVALID_PARAMETER_VALUE", "view_type"),
        ("experiments/search", {"page_token": "%%%"}, 400, "INVALID_PARAMETER_VALUE", "page_token"),
        ("experiments/delete", {"experiment_id": "42"}, 404, "RESOURCE_DOES_NOT_EXIST", "42"),
        ("experiments/update", {"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE", "new_name"),
    ],
)
def test_bad_input(
    api: Api, path: str, body: dict[str, Any], status: int, code: str | None, mentions: str | None
) -> None:
    response = api.mlflow("POST", path, body)
    if code is None:
        assert response.status_code == status
        return
    assert mentions is not None and mentions in error_of(response, status, code)


def test_both_spellings_of_a_field_are_refused(api: Api) -> None:
    response = api.mlflow("GET", "experiments/get", {"experiment_id": "0", "experimentId": "0"})
    assert "twice" in error_of(response, 400, "INVALID_PARAMETER_VALUE")


def test_transport_level_bad_input(api: Api) -> None:
    url = "/api/2.0/mlflow/experiments/create"
    wrong_type = api.post(url, content=b'{"name": "x"}', headers={"content-type": "text/plain"})
    assert "Content-Type" in error_of(wrong_type, 400, "INVALID_PARAMETER_VALUE")
    not_json = api.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert "JSON" in error_of(not_json, 400, "INVALID_PARAMETER_VALUE")
    array = api.post(url, content=b"[1]", headers={"content-type": "application/json"})
    assert "object" in error_of(array, 400, "INVALID_PARAMETER_VALUE")
    too_big = api.post(
        url, content=b" " * (17 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413
    assert api.mlflow("GET", "experiments/search").json()["experiments"][0]["name"] == "Default"
    assert (
        len(api.mlflow("GET", "experiments/search").json()["experiments"]) == 1
    )  # nothing written


def test_host_allow_list_and_cross_origin_writes(api: Api) -> None:
    rebinding = api.get(
        "/api/2.0/mlflow/experiments/get?experiment_id=0", headers={"host": "evil.example"}
    )
    assert rebinding.status_code == 403 and "Host" in rebinding.text
    with_port = api.get(
        "/api/2.0/mlflow/experiments/get?experiment_id=0", headers={"host": "localhost:5000"}
    )
    assert with_port.status_code == 200
    cross = api.post(
        "/api/2.0/mlflow/experiments/create",
        json={"name": "csrf"},
        headers={"origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    assert (
        api.mlflow("GET", "experiments/get-by-name", {"experiment_name": "csrf"}).status_code == 404
    )


def test_health_version_server_info(api: Api) -> None:
    assert api.get("/health").text == "OK"
    assert api.get("/version").status_code == 200
    info = api.get("/api/3.0/mlflow/server-info").json()
    assert info["store_type"] == "SqlStore"


def test_openapi_covers_every_route(api: Api) -> None:
    from starlette.routing import Route

    from runlab.server.app import build_app
    from runlab.store.sql.tracking import SqlTrackingStore

    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    create = document["paths"]["/api/2.0/mlflow/experiments/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
    get = document["paths"]["/api/2.0/mlflow/experiments/get"]["get"]
    assert {p["name"] for p in get["parameters"]} == {"experiment_id"}
    # Every route the app serves is documented (the app under test is built the same way).
    store = SqlTrackingStore("sqlite://", "file:///nonexistent")
    for route in build_app(store).routes:
        # The web UI's pages and files (routes named "ui:…") are not API: not documented.
        if (
            isinstance(route, Route)
            and route.path != "/openapi.json"
            and not (route.name or "").startswith("ui:")
        ):
            methods = {m.lower() for m in route.methods or ()} - {"head"}
            assert methods <= set(document["paths"][route.path_format]), route.path_format
