"""Every route declares its rule, and a real app applies them (401/403/200, no existence leak)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from runlab.entities.auth import MANAGE
from runlab.errors import InvalidParameter
from runlab.server.app import build_app
from runlab.server.auth.rules import (
    PUBLIC,
    Access,
    RouteWithoutRule,
    guarded,
    rule_of,
    rule_table,
)
from runlab.server.endpoint import Endpoint
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from support.auth_app import Client, SignedInAs, full_app, serve
from support.auth_world import MODEL, World

#: The only routes anyone may call without signing in (and the login page, once there is one).
PUBLIC_PATHS = {
    "/health",
    "/version",
    "/static/{name:path}",
    "/static/vendor/plotly-{version}.min.js",
}


# -- declarations ------------------------------------------------------------------------------------


def test_every_route_declares_a_rule_and_only_a_few_are_public(shared_world: World) -> None:
    for settings in ({}, {"auth_enabled": True}):
        app = full_app(shared_world, **settings)
        public = []
        for route in app.routes:
            declared = rule_of(route)
            assert declared is not None, route
            if declared.rule.access is Access.PUBLIC:
                public.append(route)
        paths = {r.path for r in public if getattr(r, "name", "") != "ui:login"}
        assert paths == PUBLIC_PATHS


def test_the_rule_table_covers_every_route_and_method(shared_world: World) -> None:
    app = full_app(shared_world)
    rows = rule_table(app.routes)
    served = {
        (route.path, method)
        for route in app.routes
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert {(r.path, r.method) for r in rows} == served
    by_route = {(r.path, r.method): r for r in rows}
    api = "/api/2.0/mlflow"
    assert by_route[(f"{api}/runs/log-batch", "POST")].permission == "EDIT"
    assert by_route[(f"{api}/runs/get", "GET")].permission == "READ"
    assert by_route[(f"{api}/experiments/delete", "POST")].permission == "MANAGE"
    assert by_route[(f"{api}/experiments/create", "POST")].permission == "signed-in"
    assert "creator gets MANAGE" in by_route[(f"{api}/experiments/create", "POST")].rule
    assert "may read" in by_route[(f"{api}/runs/search", "POST")].rule
    assert by_route[("/health", "GET")].permission == "anyone"
    assert by_route[("/openapi.json", "GET")].permission == "signed-in"
    proxy = "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}"
    assert [by_route[(proxy, m)].permission for m in ("GET", "PUT", "DELETE")] == [
        "READ",
        "EDIT",
        "MANAGE",
    ]


async def _undeclared(_request: Request) -> Response:
    return PlainTextResponse("open to all")


def test_build_app_refuses_a_route_without_a_rule(shared_world: World) -> None:
    stray = Route("/stray", _undeclared, methods=["GET"])
    with pytest.raises(RouteWithoutRule, match="GET /stray") as caught:
        build_app(shared_world.tracking, extra_routes=[stray])
    assert "guarded(route, rule)" in caught.value.args[0]
    # Declared, the same route is served.
    build_app(shared_world.tracking, extra_routes=[guarded(stray, PUBLIC)])


def test_an_endpoint_cannot_be_declared_without_a_rule() -> None:
    with pytest.raises(TypeError, match="rule"):
        Endpoint("GET", "x/get", lambda ctx, f: {}, "no rule")  # type: ignore[call-arg]


def test_permission_checks_need_a_permission_store(shared_world: World) -> None:
    settings = ServerSettings(auth_enabled=True)
    with pytest.raises(InvalidParameter, match="no auth store"):
        build_app(shared_world.tracking, settings=settings)
    bad_default = ServerSettings(auth_enabled=True, auth_default_permission="ALL")
    with pytest.raises(InvalidParameter, match="Invalid permission 'ALL'"):
        build_app(shared_world.tracking, settings=bad_default, auth_store=shared_world.auth)


# -- through a real app --------------------------------------------------------------------------------


@pytest.fixture
def server(world: World) -> Iterator[Client]:
    """The app with permission checks on, behind the stand-in authentication."""
    yield from serve(SignedInAs(full_app(world, auth_enabled=True), world.auth))


def _status(response: httpx.Response) -> int:
    return response.status_code


def test_anonymous_callers_get_401_except_on_public_routes(server: Client, world: World) -> None:
    assert _status(server.call(None, "GET", "/health")) == 200
    assert _status(server.call(None, "GET", "/version")) == 200
    assert _status(server.call(None, "GET", "/static/favicon.svg")) == 200
    for method, path in (
        ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={world.experiment_id}"),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=" + "f" * 32),
        ("POST", "/api/2.0/mlflow/experiments/search"),
        ("GET", "/api/3.0/mlflow/server-info"),
        ("GET", "/openapi.json"),
        ("GET", f"/api/2.0/mlflow-artifacts/artifacts/{world.experiment_id}/x.txt"),
        ("GET", f"/get-artifact?run_id={world.run_id}&path=x.txt"),
    ):
        response = server.call(None, method, path)
        assert _status(response) == 401, path
        assert response.json()["error_code"] == "UNAUTHENTICATED"
    # A page of the UI refuses just the same, as a way to the login page (which comes back).
    for path, login in (("/", "/login"), (f"/runs/{world.run_id}", "/login?next=%2Fruns%2F")):
        response = server.call(None, "GET", path)
        assert _status(response) == 303, path
        assert response.headers["location"].startswith(login), path


def test_an_anonymous_request_is_refused_before_its_body_is_read(server: Client) -> None:
    # Not even valid JSON: the 401 comes before the body is looked at.
    response = server.call(
        None,
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        content=b"{" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert _status(response) == 401


def test_reading_and_writing_a_run(server: Client, world: World) -> None:
    run = {"run_id": world.run_id}
    cases = (
        ("admin", 200, 200),
        ("manager", 200, 200),
        ("editor", 200, 200),
        ("reader", 200, 403),
        ("blocked", 403, 403),
        ("bystander", 200, 403),  # the default permission, READ
    )
    for step, (user, read, write) in enumerate(cases):
        point = {"key": "loss", "value": 0.5, "timestamp": 1, "step": step}
        batch = {**run, "metrics": [point]}
        assert _status(server.mlflow(user, "GET", "runs/get", run)) == read, user
        assert _status(server.mlflow(user, "POST", "runs/log-batch", batch)) == write, user
        history = {**run, "metric_key": "loss"}
        assert _status(server.mlflow(user, "GET", "metrics/get-history", history)) == read, user
    # Only the allowed writers' points were stored.
    stored = world.tracking.get_metric_history(world.run_id, "loss")
    assert sorted(int(s) for s in stored.steps) == [0, 1, 2]
    assert _status(server.mlflow("editor", "POST", "runs/delete", run)) == 403
    assert world.tracking.get_run(world.run_id).info.lifecycle_stage == "active"
    assert _status(server.mlflow("manager", "POST", "runs/delete", run)) == 200


def test_a_missing_run_and_a_forbidden_run_get_the_same_403(server: Client, world: World) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    forbidden = server.mlflow("blocked", "GET", "runs/get", {"run_id": world.run_id})
    absent = server.mlflow("blocked", "GET", "runs/get", {"run_id": missing})
    assert _status(forbidden) == _status(absent) == 403
    assert forbidden.json()["error_code"] == absent.json()["error_code"] == "PERMISSION_DENIED"
    assert forbidden.json()["message"].replace(world.run_id, missing) == absent.json()["message"]
    assert forbidden.headers.keys() == absent.headers.keys()
    # An administrator gets the handler's own answer.
    assert _status(server.mlflow("admin", "GET", "runs/get", {"run_id": missing})) == 404


def test_a_signed_in_caller_gets_400_for_a_request_that_names_nothing(server: Client) -> None:
    response = server.mlflow("reader", "GET", "runs/get", {})
    assert _status(response) == 400
    assert "run_id" in response.json()["message"]


def test_creating_an_experiment_makes_its_creator_a_manager(server: Client, world: World) -> None:
    created = server.mlflow("reader", "POST", "experiments/create", {"name": "mine"})
    assert _status(created) == 200
    experiment_id = created.json()["experiment_id"]
    assert world.auth.get_experiment_permission(experiment_id, "reader").permission == MANAGE
    assert (
        _status(server.mlflow("reader", "POST", "runs/create", {"experiment_id": experiment_id}))
        == 200
    )
    # Others have the default (READ) on it.
    write = {"experiment_id": experiment_id, "new_name": "theirs"}
    assert _status(server.mlflow("bystander", "POST", "experiments/update", write)) == 403
    delete = {"experiment_id": experiment_id}
    assert _status(server.mlflow("reader", "POST", "experiments/delete", delete)) == 200


def test_registered_model_permissions(server: Client, world: World) -> None:
    name = {"name": MODEL}
    assert _status(server.mlflow("reader", "GET", "registered-models/get", name)) == 200
    assert _status(server.mlflow("blocked", "GET", "registered-models/get", name)) == 403
    tag = {**name, "key": "k", "value": "v"}
    assert _status(server.mlflow("reader", "POST", "registered-models/set-tag", tag)) == 403
    assert _status(server.mlflow("editor", "POST", "registered-models/set-tag", tag)) == 200
    # A model name that is not taken is no secret: the handler's 404.
    missing = {"name": "no-such-model"}
    assert _status(server.mlflow("bystander", "GET", "registered-models/get", missing)) == 404
    # Renaming carries the permissions over; the creator of a model manages it.
    rename = {**name, "new_name": "clf2"}
    assert _status(server.mlflow("manager", "POST", "registered-models/rename", rename)) == 200
    assert world.auth.registered_model_permissions_of("blocked") == {"clf2": "NO_PERMISSIONS"}
    made = server.mlflow("bystander", "POST", "registered-models/create", {"name": "own"})
    assert _status(made) == 200
    assert world.auth.registered_model_permissions_of("bystander") == {"own": MANAGE}


def test_the_artifact_proxy_asks_the_experiment_that_owns_the_path(
    server: Client, world: World
) -> None:
    base = "/api/2.0/mlflow-artifacts/artifacts"
    file = f"{base}/{world.experiment_id}/{world.run_id}/artifacts/notes.txt"
    assert _status(server.call("reader", "PUT", file, content=b"hi")) == 403
    assert _status(server.call("editor", "PUT", file, content=b"hi")) == 200
    assert _status(server.call("reader", "GET", file)) == 200
    assert _status(server.call("blocked", "GET", file)) == 403
    assert _status(server.call("editor", "DELETE", file)) == 403
    listing = {"path": f"{world.experiment_id}/{world.run_id}/artifacts"}
    assert _status(server.call("reader", "GET", base, params=listing)) == 200
    # The destination's root belongs to no experiment: administrators only.
    assert _status(server.call("manager", "GET", base)) == 403
    assert _status(server.call("admin", "GET", base)) == 200
    assert _status(server.call("manager", "PUT", f"{base}/loose.txt", content=b"x")) == 403
    assert not (world.folder / "destination" / "loose.txt").exists()
    # The run's own download route agrees with the proxy.
    get = f"/get-artifact?run_id={world.run_id}&path=notes.txt"
    assert _status(server.call("reader", "GET", get)) == 200
    assert _status(server.call("blocked", "GET", get)) == 403
    upload = f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={world.run_id}&path=up.txt"
    assert _status(server.call("reader", "POST", upload, content=b"x")) == 403
    assert _status(server.call("editor", "POST", upload, content=b"x")) == 200


def test_web_pages_follow_the_same_rules(server: Client, world: World) -> None:
    page = f"/experiments/{world.experiment_id}"
    assert _status(server.call("reader", "GET", page)) == 200
    assert _status(server.call("blocked", "GET", page)) == 403
    assert _status(server.call("blocked", "GET", f"/runs/{world.run_id}")) == 403
    compare = f"/compare?runs={world.run_id}&runs={'f' * 32}"
    assert _status(server.call("reader", "GET", compare)) == 403  # one run is unknown
    assert _status(server.call("blocked", "GET", f"/models/{MODEL}")) == 403
    assert _status(server.call("reader", "GET", f"/models/{MODEL}")) == 200


def test_without_permission_checks_nothing_changes(world: World) -> None:
    """auth_enabled off (the default): anonymous requests are served as before."""
    for client in serve(full_app(world)):
        assert _status(client.mlflow(None, "GET", "runs/get", {"run_id": world.run_id})) == 200
        missing = {"run_id": "f" * 32}
        assert _status(client.mlflow(None, "GET", "runs/get", missing)) == 404
        assert _status(client.call(None, "GET", "/")) == 200


def test_build_without_auth_leaves_routes_unwrapped(world: World) -> None:
    """With permission checks off, the routes' handlers are the plain ones: no per-request
    cost, not even a check that finds nothing to do."""
    plain = full_app(world)
    checked = full_app(world, auth_enabled=True)
    plain_apps = {(r.path, tuple(sorted(r.methods or ()))): r.app for r in plain.routes}
    for route in checked.routes:
        key = (route.path, tuple(sorted(route.methods or ())))
        declared = rule_of(route)
        assert declared is not None
        if declared.rule.access is Access.PUBLIC or declared.fields_of is None:
            continue
        assert route.app is not plain_apps[key]
        assert getattr(route.app, "__qualname__", "").startswith("_guarded_app")
    assert all(
        not getattr(r.app, "__qualname__", "").startswith("_guarded_app") for r in plain.routes
    )
    # Endpoints pick their request handler once, when the app is built.
    endpoint_handlers = {
        app_: {r.endpoint.__name__ for r in app_.routes if rule_of(r).fields_of is None}
        for app_ in (plain, checked)
    }
    assert endpoint_handlers == {plain: {"serve"}, checked: {"serve_checked"}}


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'x.db'}", "mlflow-artifacts:/")
    yield store
    store.close()


def test_routes_without_a_registry_declare_rules_too(tracking: SqlTrackingStore) -> None:
    app = build_app(tracking)
    assert all(rule_of(route) is not None for route in app.routes)
    assert not any("registered-models" in route.path for route in app.routes)
