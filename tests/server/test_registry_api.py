"""Model-registry endpoints in-process: every endpoint, MLflow's shapes, and every bad input.

The app runs over a real SQLite file with both stores (tracking and registry) on it, driven
through httpx over ASGI. Bad requests must answer 4xx with a message naming the field and leave
nothing half-written, so each refusal is followed by a look at what the store holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from runlab.server.app import MLFLOW_PREFIXES, build_app
from runlab.server.routes import registry as registry_routes
from runlab.server.routes.runlab_api import RUNLAB_PREFIXES
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api

HISTORY = "/api/2.0/runlab/registered-models/history"


@pytest.fixture
def api(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> Iterator[Api]:
    """The app with the registry mounted."""
    yield from make_api(sqlite_store, registry_store=registry)


def ok(response: httpx.Response) -> dict[str, Any]:
    """Assert a 200 with a JSON object body and return it."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call an MLflow endpoint that must succeed."""
    return ok(api.mlflow(method, path, body))


def new_run(store: SqlTrackingStore) -> tuple[str, str]:
    """A run in the Default experiment: its id and artifact root."""
    run = store.create_run("0", "tester", 1_000, [], None)
    return run.info.run_id, run.info.artifact_uri


def create_model(api: Api, name: str = "clf", **fields: Any) -> dict[str, Any]:
    model: dict[str, Any] = call(api, "POST", "registered-models/create", {"name": name, **fields})[
        "registered_model"
    ]
    return model


def create_version(
    api: Api, store: SqlTrackingStore, name: str = "clf", **fields: Any
) -> dict[str, Any]:
    """A new version of ``name`` from a fresh run's ``model`` folder."""
    run_id, _ = new_run(store)
    body = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id, **fields}
    version: dict[str, Any] = call(api, "POST", "model-versions/create", body)["model_version"]
    return version


def model_with_versions(api: Api, store: SqlTrackingStore, count: int, name: str = "clf") -> None:
    """A registered model ``name`` with ``count`` versions, each from a fresh run."""
    create_model(api, name)
    for _ in range(count):
        create_version(api, store, name)


def transition(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """A stage transition that must succeed; the moved version."""
    version: dict[str, Any] = call(api, "POST", "model-versions/transition-stage", body)[
        "model_version"
    ]
    return version


def versions_of(api: Api, name: str) -> list[str]:
    found = call(api, "GET", "model-versions/search", {"filter": f"name='{name}'"})
    return sorted(v["version"] for v in found.get("model_versions", ()))


# -- routes ------------------------------------------------------------------------------------------


def test_every_endpoint_is_served_under_both_prefixes_and_documented(api: Api) -> None:
    document = ok(api.get("/openapi.json"))
    for endpoint in registry_routes.ENDPOINTS:
        for prefix in MLFLOW_PREFIXES:
            path = f"{prefix}/{endpoint.path}"
            assert endpoint.method.lower() in document["paths"][path], path
    for endpoint in registry_routes.RUNLAB_ENDPOINTS:
        for prefix in RUNLAB_PREFIXES:
            assert endpoint.method.lower() in document["paths"][f"{prefix}/{endpoint.path}"]
    create = document["paths"]["/api/2.0/mlflow/registered-models/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
    alias_methods = set(document["paths"]["/api/2.0/mlflow/registered-models/alias"])
    assert alias_methods == {"get", "post", "delete"}
    latest = document["paths"]["/api/2.0/mlflow/registered-models/get-latest-versions"]
    assert set(latest) == {"get", "post"}
    # The ajax prefix answers like the api one.
    create_model(api, "ajax")
    got = ok(api.get("/ajax-api/2.0/mlflow/registered-models/get", params={"name": "ajax"}))
    assert got["registered_model"]["name"] == "ajax"


def test_every_route_of_the_app_with_a_registry_is_documented(api: Api, sqlite_url: str) -> None:
    from starlette.routing import Route

    document = ok(api.get("/openapi.json"))
    tracking = SqlTrackingStore(sqlite_url, "file:///nonexistent")
    try:
        app = build_app(tracking, registry_store=SqlRegistryStore(sqlite_url))
        for route in app.routes:
            # The web UI's pages and files (routes named "ui:…") are not API: not documented.
            if (
                isinstance(route, Route)
                and route.path != "/openapi.json"
                and not (route.name or "").startswith("ui:")
            ):
                methods = {m.lower() for m in route.methods or ()} - {"head"}
                assert methods <= set(document["paths"][route.path_format]), route.path_format
    finally:
        tracking.close()


def test_without_a_registry_store_the_endpoints_are_not_served(
    sqlite_store: SqlTrackingStore,
) -> None:
    for bare in make_api(sqlite_store):
        response = bare.mlflow("GET", "registered-models/get", {"name": "x"})
        assert response.status_code == 404
        assert bare.get(HISTORY, params={"name": "x"}).status_code == 404


def test_wrong_method_is_405(api: Api) -> None:
    assert api.mlflow("GET", "registered-models/create", {"name": "x"}).status_code == 405
    assert api.mlflow("PUT", "registered-models/alias", {"name": "x"}).status_code == 405


# -- registered models -------------------------------------------------------------------------------


def test_registered_model_create_get_shape(api: Api) -> None:
    model = create_model(
        api,
        "clf",
        description="a classifier",
        tags=[{"key": "team", "value": "vision"}, {"key": "empty"}],
    )
    assert model["name"] == "clf"
    assert model["description"] == "a classifier"
    assert sorted(model["tags"], key=lambda t: t["key"]) == [
        {"key": "empty", "value": ""},
        {"key": "team", "value": "vision"},
    ]
    model["tags"].sort(key=lambda t: t["key"])  # the store returns them by key
    assert isinstance(model["creation_timestamp"], int)
    assert model["last_updated_timestamp"] >= model["creation_timestamp"]
    # Nothing registered yet: no versions, no aliases (left out, as MLflow does).
    assert "latest_versions" not in model and "aliases" not in model
    assert call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"] == model

    message = error_of(
        api.mlflow("POST", "registered-models/create", {"name": "clf"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    assert "clf" in message
    error_of(
        api.mlflow("GET", "registered-models/get", {"name": "missing"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_rename_update_delete(api: Api, sqlite_store: SqlTrackingStore) -> None:
    create_model(api, "old")
    create_version(api, sqlite_store, "old")
    renamed = call(api, "POST", "registered-models/rename", {"name": "old", "new_name": "new"})
    assert renamed["registered_model"]["name"] == "new"
    # The versions follow the model.
    assert [v["name"] for v in renamed["registered_model"]["latest_versions"]] == ["new"]
    assert call(api, "GET", "model-versions/get", {"name": "new", "version": "1"})
    error_of(
        api.mlflow("GET", "registered-models/get", {"name": "old"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )

    updated = call(
        api, "PATCH", "registered-models/update", {"name": "new", "description": "better"}
    )
    assert updated["registered_model"]["description"] == "better"

    assert call(api, "DELETE", "registered-models/delete", {"name": "new"}) == {}
    error_of(
        api.mlflow("GET", "registered-models/get", {"name": "new"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert versions_of(api, "new") == []
    error_of(
        api.mlflow("DELETE", "registered-models/delete", {"name": "new"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_camel_case_fields_are_accepted(api: Api) -> None:
    create_model(api, "camel")
    renamed = call(api, "POST", "registered-models/rename", {"name": "camel", "newName": "kebab"})
    assert renamed["registered_model"]["name"] == "kebab"
    message = error_of(
        api.mlflow(
            "POST",
            "registered-models/rename",
            {"name": "kebab", "new_name": "a", "newName": "b"},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "new_name" in message


def test_registered_model_tags(api: Api) -> None:
    create_model(api, "tagged")
    assert (
        call(api, "POST", "registered-models/set-tag", {"name": "tagged", "key": "k", "value": "v"})
        == {}
    )
    call(api, "POST", "registered-models/set-tag", {"name": "tagged", "key": "k2", "value": "w"})
    call(api, "POST", "registered-models/set-tag", {"name": "tagged", "key": "k", "value": "v2"})
    model = call(api, "GET", "registered-models/get", {"name": "tagged"})["registered_model"]
    assert {t["key"]: t["value"] for t in model["tags"]} == {"k": "v2", "k2": "w"}
    assert call(api, "DELETE", "registered-models/delete-tag", {"name": "tagged", "key": "k"}) == {}
    model = call(api, "GET", "registered-models/get", {"name": "tagged"})["registered_model"]
    assert model["tags"] == [{"key": "k2", "value": "w"}]
    error_of(
        api.mlflow("POST", "registered-models/set-tag", {"name": "nope", "key": "k", "value": "v"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_search_registered_models_filter_order_and_pages(api: Api) -> None:
    for name in ("beta", "alpha", "gamma", "alpine"):
        create_model(api, name, tags=[{"key": "kind", "value": "a" if "al" in name else "b"}])
    found = call(api, "GET", "registered-models/search", {"filter": "name LIKE 'al%'"})
    assert [m["name"] for m in found["registered_models"]] == ["alpha", "alpine"]
    assert "next_page_token" not in found
    by_tag = call(api, "GET", "registered-models/search", {"filter": "tags.kind = 'b'"})
    assert [m["name"] for m in by_tag["registered_models"]] == ["beta", "gamma"]

    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        body: dict[str, Any] = {"max_results": 3, "order_by": ["name DESC"]}
        if token:
            body["page_token"] = token
        page = call(api, "GET", "registered-models/search", body)
        names += [m["name"] for m in page["registered_models"]]
        pages += 1
        token = page.get("next_page_token")
        if token is None:
            break
    assert names == ["gamma", "beta", "alpine", "alpha"]
    assert pages == 2
    # Nothing matches: an empty object, as MLflow's server answers.
    assert call(api, "GET", "registered-models/search", {"filter": "name = 'none'"}) == {}


# -- versions ------------------------------------------------------------------------------------------


def test_model_version_create_get_shape(api: Api, sqlite_store: SqlTrackingStore) -> None:
    create_model(api, "clf")
    run_id, _ = new_run(sqlite_store)
    created = call(
        api,
        "POST",
        "model-versions/create",
        {
            "name": "clf",
            "source": f"runs:/{run_id}/model",
            "run_id": run_id,
            "tags": [{"key": "framework", "value": "sklearn"}],
            "run_link": "http://example.org/run",
            "description": "first",
            "user_id": "ann",
        },
    )["model_version"]
    assert created["name"] == "clf"
    assert created["version"] == "1"  # a string on the wire, as in MLflow
    assert created["current_stage"] == "None"
    assert created["status"] == "READY"
    assert created["source"] == f"runs:/{run_id}/model"
    assert created["run_id"] == run_id
    assert created["run_link"] == "http://example.org/run"
    assert created["description"] == "first"
    assert created["user_id"] == "ann"
    assert created["tags"] == [{"key": "framework", "value": "sklearn"}]
    assert isinstance(created["creation_timestamp"], int)
    assert "aliases" not in created

    got = call(api, "GET", "model-versions/get", {"name": "clf", "version": "1"})
    assert got["model_version"] == created
    # A version number given as a JSON number is read as well.
    assert call(api, "GET", "model-versions/get", {"name": "clf", "version": 1}) == got

    model = call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"]
    assert [v["version"] for v in model["latest_versions"]] == ["1"]

    second = create_version(api, sqlite_store, "clf")
    assert second["version"] == "2"
    # As MLflow's server: an empty description and run link are sent, an empty user is not.
    assert (second["description"], second["run_link"]) == ("", "")
    assert "user_id" not in second


def test_update_delete_and_numbers_not_reused(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 3)
    updated = call(
        api, "PATCH", "model-versions/update", {"name": "clf", "version": "2", "description": "d"}
    )
    assert updated["model_version"]["description"] == "d"

    assert call(api, "DELETE", "model-versions/delete", {"name": "clf", "version": "3"}) == {}
    error_of(
        api.mlflow("GET", "model-versions/get", {"name": "clf", "version": "3"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert versions_of(api, "clf") == ["1", "2"]
    assert create_version(api, sqlite_store, "clf")["version"] == "4"
    error_of(
        api.mlflow("DELETE", "model-versions/delete", {"name": "clf", "version": "3"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_model_version_tags(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 1)
    key = {"name": "clf", "version": "1"}
    assert call(api, "POST", "model-versions/set-tag", {**key, "key": "a", "value": "1"}) == {}
    call(api, "POST", "model-versions/set-tag", {**key, "key": "b", "value": ""})
    got = call(api, "GET", "model-versions/get", key)["model_version"]
    assert {t["key"]: t["value"] for t in got["tags"]} == {"a": "1", "b": ""}
    assert call(api, "DELETE", "model-versions/delete-tag", {**key, "key": "a"}) == {}
    got = call(api, "GET", "model-versions/get", key)["model_version"]
    assert got["tags"] == [{"key": "b", "value": ""}]


def test_search_model_versions(api: Api, sqlite_store: SqlTrackingStore) -> None:
    create_model(api, "a")
    create_model(api, "b")
    for name in ("a", "a", "b"):
        create_version(api, sqlite_store, name)
    found = call(api, "GET", "model-versions/search", {"filter": "name='a'"})
    # Default order: name ASC, then version DESC.
    assert [(v["name"], v["version"]) for v in found["model_versions"]] == [("a", "2"), ("a", "1")]
    everything = call(api, "GET", "model-versions/search", {})
    assert [(v["name"], v["version"]) for v in everything["model_versions"]] == [
        ("a", "2"),
        ("a", "1"),
        ("b", "1"),
    ]
    page = call(
        api,
        "GET",
        "model-versions/search",
        {"max_results": 2, "order_by": ["version_number ASC", "name ASC"]},
    )
    assert [(v["name"], v["version"]) for v in page["model_versions"]] == [("a", "1"), ("b", "1")]
    rest = call(
        api,
        "GET",
        "model-versions/search",
        {
            "max_results": 2,
            "order_by": ["version_number ASC", "name ASC"],
            "page_token": page["next_page_token"],
        },
    )
    assert [(v["name"], v["version"]) for v in rest["model_versions"]] == [("a", "2")]
    assert "next_page_token" not in rest


def test_download_uri(api: Api, sqlite_store: SqlTrackingStore) -> None:
    create_model(api, "clf")
    version = create_version(api, sqlite_store, "clf")
    uri = call(api, "GET", "model-versions/get-download-uri", {"name": "clf", "version": "1"})
    assert uri["artifact_uri"]
    assert uri["artifact_uri"].endswith("/model")
    assert version["run_id"] in uri["artifact_uri"]


def test_source_outside_the_run_is_refused_and_nothing_written(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    create_model(api, "clf")
    run_id, root = new_run(sqlite_store)
    for source in ("/etc/passwd", f"{root}/../../other", "file:///tmp/model"):
        response = api.mlflow(
            "POST", "model-versions/create", {"name": "clf", "source": source, "run_id": run_id}
        )
        error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert versions_of(api, "clf") == []
    assert create_version(api, sqlite_store, "clf")["version"] == "1"


# -- stages --------------------------------------------------------------------------------------------


def test_transition_stage_and_latest_versions(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 4)
    moved = transition(api, {"name": "clf", "version": "1", "stage": "production"})  # any case
    assert moved["current_stage"] == "Production"
    transition(
        api,
        {"name": "clf", "version": "2", "stage": "Production", "archive_existing_versions": False},
    )
    transition(api, {"name": "clf", "version": "3", "stage": "Staging"})

    def stages() -> dict[str, str]:
        found = call(api, "GET", "model-versions/search", {"filter": "name='clf'"})
        return {v["version"]: v["current_stage"] for v in found["model_versions"]}

    assert stages() == {"1": "Production", "2": "Production", "3": "Staging", "4": "None"}

    latest = call(api, "POST", "registered-models/get-latest-versions", {"name": "clf"})
    assert sorted((v["current_stage"], v["version"]) for v in latest["model_versions"]) == [
        ("None", "4"),
        ("Production", "2"),
        ("Staging", "3"),
    ]
    only = call(
        api,
        "POST",
        "registered-models/get-latest-versions",
        {"name": "clf", "stages": ["production"]},
    )
    assert [v["version"] for v in only["model_versions"]] == ["2"]
    # The GET form takes repeated query keys.
    both = call(
        api, "GET", "registered-models/get-latest-versions", {"name": "clf", "stages": ["Staging"]}
    )
    assert [v["version"] for v in both["model_versions"]] == ["3"]
    none_archived = call(
        api,
        "POST",
        "registered-models/get-latest-versions",
        {"name": "clf", "stages": ["Archived"]},
    )
    assert none_archived == {}

    archived = transition(
        api,
        {"name": "clf", "version": "4", "stage": "Production", "archive_existing_versions": True},
    )
    assert archived["current_stage"] == "Production"
    assert stages() == {"1": "Archived", "2": "Archived", "3": "Staging", "4": "Production"}
    # camelCase, and a boolean spelled as text (as in a query string), work too.
    ok(
        api.request(
            "POST",
            "/api/2.0/mlflow/model-versions/transition-stage",
            json={
                "name": "clf",
                "version": "1",
                "stage": "Staging",
                "archiveExistingVersions": "true",
            },
        )
    )
    assert stages() == {"1": "Staging", "2": "Archived", "3": "Archived", "4": "Production"}


# -- aliases -------------------------------------------------------------------------------------------


def test_aliases(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 2)
    body = {"name": "clf", "alias": "champion", "version": "1"}
    assert call(api, "POST", "registered-models/alias", body) == {}
    call(api, "POST", "registered-models/alias", {"name": "clf", "alias": "next", "version": "2"})

    by_alias = call(api, "GET", "registered-models/alias", {"name": "clf", "alias": "champion"})
    assert by_alias["model_version"]["version"] == "1"
    assert by_alias["model_version"]["aliases"] == ["champion"]
    model = call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"]
    assert sorted(model["aliases"], key=lambda a: a["alias"]) == [
        {"alias": "champion", "version": "1"},
        {"alias": "next", "version": "2"},
    ]

    # Moving an alias.
    call(api, "POST", "registered-models/alias", {**body, "version": "2"})
    v2 = call(api, "GET", "model-versions/get", {"name": "clf", "version": "2"})["model_version"]
    assert sorted(v2["aliases"]) == ["champion", "next"]
    v1 = call(api, "GET", "model-versions/get", {"name": "clf", "version": "1"})["model_version"]
    assert "aliases" not in v1

    assert call(api, "DELETE", "registered-models/alias", {"name": "clf", "alias": "next"}) == {}
    message = error_of(
        api.mlflow("GET", "registered-models/alias", {"name": "clf", "alias": "next"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "next" in message
    # Deleting the version drops its aliases.
    call(api, "DELETE", "model-versions/delete", {"name": "clf", "version": "2"})
    model = call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"]
    assert "aliases" not in model


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "bad alias", "a/b", ""])
def test_bad_or_reserved_alias_is_refused(
    api: Api, sqlite_store: SqlTrackingStore, alias: str
) -> None:
    model_with_versions(api, sqlite_store, 1)
    message = error_of(
        api.mlflow(
            "POST", "registered-models/alias", {"name": "clf", "alias": alias, "version": 1}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "alias" in message
    model = call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"]
    assert "aliases" not in model


# -- history -------------------------------------------------------------------------------------------


def test_history_of_stages_and_aliases(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 2)
    transition(api, {"name": "clf", "version": "1", "stage": "Production", "user_id": "ann"})
    transition(
        api,
        {"name": "clf", "version": "2", "stage": "Production", "archive_existing_versions": True},
    )
    call(api, "POST", "registered-models/alias", {"name": "clf", "alias": "champ", "version": 1})
    call(api, "POST", "registered-models/alias", {"name": "clf", "alias": "champ", "version": 2})
    call(api, "DELETE", "registered-models/alias", {"name": "clf", "alias": "champ"})

    events = ok(api.get(HISTORY, params={"name": "clf"}))["events"]
    moves = [(e["kind"], e["subject"], e["from_value"], e["to_value"]) for e in events]
    assert moves[0] == ("stage", "1", "None", "Production")
    assert ("stage", "2", "None", "Production") in moves
    assert ("stage", "1", "Production", "Archived") in moves
    assert moves[-3:] == [
        ("alias", "champ", None, "1"),
        ("alias", "champ", "1", "2"),
        ("alias", "champ", "2", None),
    ]
    assert events[0]["user_id"] == "ann"
    assert events[0]["name"] == "clf"
    assert [e["event_id"] for e in events] == sorted(e["event_id"] for e in events)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)

    # since/until select a window (since <= t < until); the ajax prefix serves it too.
    after = ok(api.get(HISTORY, params={"name": "clf", "since": stamps[-1]}))["events"]
    assert after and all(e["timestamp"] >= stamps[-1] for e in after)
    assert ok(api.get(HISTORY, params={"name": "clf", "until": stamps[0]})) == {"events": []}
    ajax = ok(api.get("/ajax-api/2.0/runlab/registered-models/history", params={"name": "clf"}))
    assert ajax["events"] == events

    message = error_of(
        api.get(HISTORY, params={"name": "clf", "since": 10, "until": 5}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "since" in message
    message = error_of(
        api.get(HISTORY, params={"name": "clf", "since": "yesterday"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "since" in message
    assert "name" in error_of(api.get(HISTORY), 400, "INVALID_PARAMETER_VALUE")


class _AsUser:
    """ASGI middleware that marks every request as coming from an authenticated user, as an
    authentication layer in front of the app would (Starlette's ``scope["user"]`` convention)."""

    class _User:
        is_authenticated = True
        display_name = "auth-bob"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["user"] = self._User()
        await self.app(scope, receive, send)


def test_history_user_prefers_the_authenticated_user(
    sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    from anyio.from_thread import start_blocking_portal

    app = _AsUser(build_app(sqlite_store, registry_store=registry))
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        authed = Api(portal, client)
        try:
            model_with_versions(authed, sqlite_store, 1)
            transition(
                authed,
                {"name": "clf", "version": "1", "stage": "Staging", "user_id": "claims-to-be-eve"},
            )
            events = ok(authed.get(HISTORY, params={"name": "clf"}))["events"]
        finally:
            portal.call(client.aclose)
    assert [e["user_id"] for e in events] == ["auth-bob"]


# -- bad input: 4xx naming the field, nothing written --------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, dict[str, Any], str]] = [
    # (method, path, body, a word the message must contain)
    ("POST", "registered-models/create", {}, "name"),
    ("POST", "registered-models/create", {"name": 5}, "name"),
    ("POST", "registered-models/create", {"name": "n", "tags": "x"}, "tags"),
    ("POST", "registered-models/create", {"name": "n", "tags": [{"value": "v"}]}, "tags[0].key"),
    ("POST", "registered-models/create", {"name": "n", "description": ["d"]}, "description"),
    ("POST", "registered-models/create", {"name": "a/b"}, "name"),
    ("POST", "registered-models/create", {"name": "x" * 1000}, "name"),
    ("POST", "registered-models/rename", {"name": "clf"}, "new_name"),
    ("POST", "registered-models/rename", {"name": "clf", "new_name": "a:b"}, "name"),
    ("GET", "registered-models/search", {"page_token": "garbage"}, "page_token"),
    ("GET", "registered-models/search", {"order_by": ["creation_timestamp"]}, "order_by"),
    ("GET", "registered-models/search", {"filter": "name = unquoted"}, "filter"),
    ("GET", "model-versions/search", {"filter": "current_stage = 'None'"}, "current_stage"),
    ("POST", "registered-models/set-tag", {"name": "clf", "key": "a/../b", "value": "v"}, "key"),
    ("PATCH", "registered-models/update", {"description": "d"}, "name"),
    ("GET", "registered-models/search", {"max_results": 0}, "max_results"),
    ("GET", "registered-models/search", {"max_results": 1001}, "max_results"),
    ("GET", "registered-models/search", {"max_results": "many"}, "max_results"),
    ("POST", "registered-models/get-latest-versions", {"name": "clf", "stages": "Prod"}, "stages"),
    ("POST", "registered-models/get-latest-versions", {"name": "clf", "stages": ["Dev"]}, "stages"),
    ("POST", "registered-models/set-tag", {"name": "clf", "value": "v"}, "key"),
    ("DELETE", "registered-models/delete-tag", {"name": "clf"}, "key"),
    ("POST", "registered-models/alias", {"name": "clf", "alias": "a"}, "version"),
    ("POST", "registered-models/alias", {"name": "clf", "alias": "a", "version": "x"}, "version"),
    ("DELETE", "registered-models/alias", {"name": "clf"}, "alias"),
    ("GET", "registered-models/alias", {"name": "clf"}, "alias"),
    ("POST", "model-versions/create", {"name": "clf"}, "source"),
    ("POST", "model-versions/create", {"source": "runs:/x/m"}, "name"),
    ("POST", "model-versions/create", {"name": "clf", "source": 3}, "source"),
    ("GET", "model-versions/get", {"name": "clf"}, "version"),
    ("GET", "model-versions/get", {"name": "clf", "version": "one"}, "version"),
    ("GET", "model-versions/get", {"name": "clf", "version": "1.5"}, "version"),
    ("PATCH", "model-versions/update", {"name": "clf", "version": [1]}, "version"),
    ("POST", "model-versions/transition-stage", {"name": "clf", "version": "1"}, "stage"),
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "Deployed"},
        "stage",
    ),
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "Staging", "archive_existing_versions": "yes"},
        "archive_existing_versions",
    ),
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "Archived", "archive_existing_versions": True},
        "archive_existing_versions",
    ),
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "None", "archive_existing_versions": True},
        "archive_existing_versions",
    ),
    ("GET", "model-versions/search", {"max_results": 200_001}, "max_results"),
    ("GET", "model-versions/get-download-uri", {"name": "clf"}, "version"),
    ("POST", "model-versions/set-tag", {"name": "clf", "version": "1", "key": "k"}, "value"),
    ("POST", "model-versions/set-tag", {"name": "clf", "version": "1", "value": "v"}, "key"),
    ("DELETE", "model-versions/delete-tag", {"name": "clf", "version": "1"}, "key"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_REQUESTS)
def test_bad_request_is_a_400_naming_the_field_and_writes_nothing(
    api: Api,
    sqlite_store: SqlTrackingStore,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    create_model(api, "clf", tags=[{"key": "k", "value": "v"}])
    create_version(api, sqlite_store, "clf", tags=[{"key": "k", "value": "v"}])
    call(api, "POST", "registered-models/alias", {"name": "clf", "alias": "a", "version": "1"})
    before_model = call(api, "GET", "registered-models/get", {"name": "clf"})
    before_versions = call(api, "GET", "model-versions/search", {})
    before_history = ok(api.get(HISTORY, params={"name": "clf"}))

    message = error_of(api.mlflow(method, path, body), 400, "INVALID_PARAMETER_VALUE")
    assert field in message

    assert call(api, "GET", "registered-models/get", {"name": "clf"}) == before_model
    assert call(api, "GET", "model-versions/search", {}) == before_versions
    assert ok(api.get(HISTORY, params={"name": "clf"})) == before_history
    assert call(api, "GET", "registered-models/search", {})["registered_models"] == [
        before_model["registered_model"]
    ]


def test_create_model_version_with_a_bad_tag_writes_no_version(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    create_model(api, "clf")
    run_id, _ = new_run(sqlite_store)
    body = {
        "name": "clf",
        "source": f"runs:/{run_id}/model",
        "run_id": run_id,
        "tags": [{"key": "ok", "value": "v"}, {"key": "no-value"}],
    }
    message = error_of(
        api.mlflow("POST", "model-versions/create", body), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "tags[1].value" in message
    assert versions_of(api, "clf") == []
    # The number was not used up either.
    assert create_version(api, sqlite_store, "clf")["version"] == "1"


def test_not_found_paths(api: Api, sqlite_store: SqlTrackingStore) -> None:
    model_with_versions(api, sqlite_store, 1)
    run_id, _ = new_run(sqlite_store)
    missing = [
        ("POST", "registered-models/rename", {"name": "nope", "new_name": "x"}),
        ("PATCH", "registered-models/update", {"name": "nope", "description": "d"}),
        ("POST", "registered-models/get-latest-versions", {"name": "nope"}),
        ("POST", "registered-models/set-tag", {"name": "nope", "key": "k", "value": "v"}),
        ("GET", "model-versions/get", {"name": "clf", "version": "9"}),
        ("GET", "model-versions/get", {"name": "clf", "version": "0"}),
        ("PATCH", "model-versions/update", {"name": "clf", "version": "9", "description": "d"}),
        ("DELETE", "model-versions/delete", {"name": "clf", "version": "9"}),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "clf", "version": 9, "stage": "Staging"},
        ),
        ("GET", "model-versions/get-download-uri", {"name": "clf", "version": "9"}),
        (
            "POST",
            "model-versions/set-tag",
            {"name": "clf", "version": "9", "key": "k", "value": "v"},
        ),
        ("POST", "model-versions/create", {"name": "nope", "source": f"runs:/{run_id}/m"}),
        ("POST", "registered-models/alias", {"name": "clf", "alias": "a", "version": 9}),
        ("GET", "registered-models/alias", {"name": "nope", "alias": "a"}),
    ]
    for method, path, body in missing:
        error_of(api.mlflow(method, path, body), 404, "RESOURCE_DOES_NOT_EXIST")
    # Nothing was created on the way.
    assert call(api, "GET", "registered-models/search", {})["registered_models"][0]["name"] == "clf"
    assert len(call(api, "GET", "registered-models/search", {})["registered_models"]) == 1
    model = call(api, "GET", "registered-models/get", {"name": "clf"})["registered_model"]
    assert "aliases" not in model and "tags" not in model
    assert versions_of(api, "clf") == ["1"]
