"""Searches and listings hold only what the caller may read, with correct paging, through the app.

The world of :mod:`support.auth_world`, plus experiments and registered models whose
permissions for the user ``bystander`` differ: three granted (READ, EDIT, MANAGE), two refused
(NO_PERMISSIONS), two without a permission of their own (the server's default decides). Each
experiment has a run and a logged model named after it; each model has two versions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from runlab.entities import RunTag
from runlab.entities.auth import EDIT, MANAGE, NO_PERMISSIONS, READ
from runlab.server.app import build_app
from runlab.server.settings import ServerSettings
from runlab.store.rest.http import RestConfig
from runlab.store.rest.tracking import RestTrackingStore
from support.auth_app import Client, SignedInAs, full_app, serve
from support.auth_world import MODEL, World

USER = "bystander"
GRANTED = {"granted-read": READ, "granted-edit": EDIT, "granted-manage": MANAGE}
REFUSED = ("refused-1", "refused-2")
OPEN = ("open-1", "open-2")


@dataclass
class Filtered:
    """The world, with the experiments and models of the module docstring."""

    world: World
    #: experiment name -> id, for every experiment (the world's "shared" and "Default" too).
    experiments: dict[str, str]
    #: run name -> id (each run is named after its experiment; the shared one is "r1").
    runs: dict[str, str]
    #: registered model names, the world's "clf" included.
    models: list[str]


@pytest.fixture
def filtered(world: World) -> Filtered:
    experiments = {"Default": "0", "shared": world.experiment_id}
    runs = {"r1": world.run_id}  # the shared experiment's run
    for name in (*GRANTED, *REFUSED, *OPEN):
        experiment_id = world.tracking.create_experiment(name)
        experiments[name] = experiment_id
        run = world.tracking.create_run(experiment_id, "someone", 0, [], name)
        runs[name] = run.info.run_id
        world.tracking.create_logged_model(experiment_id, name=name)
        world.registry.create_registered_model(name)
        for _ in range(2):
            world.registry.create_model_version(name, "s3://bucket/model")
        time.sleep(0.002)
    for name, permission in GRANTED.items():
        world.auth.create_experiment_permission(experiments[name], USER, permission)
        world.auth.create_registered_model_permission(name, USER, permission)
    for name in REFUSED:
        world.auth.create_experiment_permission(experiments[name], USER, NO_PERMISSIONS)
        world.auth.create_registered_model_permission(name, USER, NO_PERMISSIONS)
    return Filtered(world, experiments, runs, [MODEL, *GRANTED, *REFUSED, *OPEN])


def _readable_by_default(f: Filtered) -> set[str]:
    """What ``bystander`` may read with the default READ: all but the refused."""
    return set(f.experiments) - set(REFUSED)


@pytest.fixture
def server(filtered: Filtered) -> Iterator[Client]:
    """Permission checks on, default READ."""
    yield from serve(SignedInAs(full_app(filtered.world, auth_enabled=True), filtered.world.auth))


@pytest.fixture
def strict(filtered: Filtered) -> Iterator[Client]:
    """Permission checks on, default NO_PERMISSIONS: only explicit permissions let anyone in."""
    app = full_app(filtered.world, auth_enabled=True, auth_default_permission=NO_PERMISSIONS)
    yield from serve(SignedInAs(app, filtered.world.auth))


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _pages(
    call: Callable[[dict[str, Any]], httpx.Response], key: str, size: int = 2
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every item of a paged API search, and the size of each page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        body = _ok(call({"max_results": size, **({"page_token": token} if token else {})}))
        page = body.get(key, [])
        items.extend(page)
        sizes.append(len(page))
        token = body.get("next_page_token")
        if not token:
            return items, sizes


def _only_once(names: list[str], expected: set[str]) -> None:
    assert len(names) == len(set(names)), names
    assert set(names) == expected


# -- experiments -------------------------------------------------------------------------------------


def _experiment_names(
    client: Client, user: str | None, method: str = "POST", **body: Any
) -> list[str]:
    found = _ok(client.mlflow(user, method, "experiments/search", body or None))
    return [e["name"] for e in found.get("experiments", [])]


def test_experiments_search_leaves_out_what_the_caller_may_not_read(
    server: Client, strict: Client, filtered: Filtered
) -> None:
    readable = _readable_by_default(filtered)
    assert set(_experiment_names(server, USER)) == readable
    assert set(_experiment_names(server, USER, "GET")) == readable
    ajax = server.call(USER, "POST", "/ajax-api/2.0/mlflow/experiments/search", json={})
    assert {e["name"] for e in _ok(ajax)["experiments"]} == readable
    # With no default, only the explicit permissions that can read.
    assert set(_experiment_names(strict, USER)) == set(GRANTED)
    # The rest of the request still applies within what may be read.
    assert _experiment_names(strict, USER, filter="name LIKE '%edit'") == ["granted-edit"]
    assert _experiment_names(strict, USER, filter="name = 'refused-1'") == []
    # Administrators, and users with nothing refused, see everything.
    everything = set(filtered.experiments)
    assert set(_experiment_names(server, "admin")) == everything
    assert set(_experiment_names(strict, "admin")) == everything
    assert set(_experiment_names(server, "reader")) == everything
    assert set(_experiment_names(server, "blocked")) == everything - {"shared"}


@pytest.mark.parametrize("default", [READ, NO_PERMISSIONS])
def test_paging_experiments_returns_each_readable_one_once(
    filtered: Filtered, default: str
) -> None:
    app = full_app(filtered.world, auth_enabled=True, auth_default_permission=default)
    expected = _readable_by_default(filtered) if default == READ else set(GRANTED)
    for client in serve(SignedInAs(app, filtered.world.auth)):
        for order_by in ([], ["name ASC"]):
            items, sizes = _pages(
                lambda page, c=client, o=order_by: c.mlflow(
                    USER, "POST", "experiments/search", {**page, "order_by": o}
                ),
                "experiments",
            )
            _only_once([e["name"] for e in items], expected)
            assert all(size == 2 for size in sizes[:-1]), sizes


# -- runs and logged models ------------------------------------------------------------------------


def _run_names(client: Client, user: str, experiment_ids: list[str], **body: Any) -> list[str]:
    found = _ok(
        client.mlflow(user, "POST", "runs/search", {"experiment_ids": experiment_ids, **body})
    )
    return [r["info"]["run_name"] for r in found.get("runs", [])]


def test_runs_search_drops_the_experiments_the_caller_may_not_read(
    server: Client, strict: Client, filtered: Filtered
) -> None:
    every_id = list(filtered.experiments.values())
    with_runs = set(filtered.runs)
    assert set(_run_names(server, USER, every_id)) == with_runs - set(REFUSED)
    assert set(_run_names(strict, USER, every_id)) == set(GRANTED)
    assert set(_run_names(server, "admin", every_id)) == with_runs
    # Only unreadable experiments: an empty answer, the same as for ones that do not exist.
    refused_ids = [filtered.experiments[name] for name in REFUSED]
    assert _ok(server.mlflow(USER, "POST", "runs/search", {"experiment_ids": refused_ids})) == {}
    absent = _ok(server.mlflow(USER, "POST", "runs/search", {"experiment_ids": ["987654"]}))
    assert absent == {}
    # "07" names experiment 7 for the store, and so for the permission check too.
    padded = ["0" + filtered.experiments["refused-1"], "00" + filtered.experiments["open-1"]]
    assert _run_names(server, USER, padded) == ["open-1"]
    # An id that is not one is refused as without permission checks.
    bad = server.mlflow(USER, "POST", "runs/search", {"experiment_ids": ["x"]})
    assert bad.status_code == 400 and "Invalid experiment ID" in bad.json()["message"]


def test_paging_runs_returns_each_readable_one_once(server: Client, filtered: Filtered) -> None:
    every_id = list(filtered.experiments.values())
    items, sizes = _pages(
        lambda page: server.mlflow(
            USER, "POST", "runs/search", {**page, "experiment_ids": every_id}
        ),
        "runs",
    )
    _only_once([r["info"]["run_name"] for r in items], set(filtered.runs) - set(REFUSED))
    assert all(size == 2 for size in sizes[:-1]), sizes


def _logged_model_names(client: Client, user: str, experiment_ids: list[str]) -> list[str]:
    body = {"experiment_ids": experiment_ids}
    found = _ok(client.mlflow(user, "POST", "logged-models/search", body))
    return [m["info"]["name"] for m in found.get("models", [])]


def test_logged_models_search_drops_the_experiments_the_caller_may_not_read(
    server: Client, strict: Client, filtered: Filtered
) -> None:
    every_id = list(filtered.experiments.values())
    expected = {*GRANTED, *OPEN, "m1"}  # "m1" is the shared experiment's logged model
    assert set(_logged_model_names(server, USER, every_id)) == expected
    assert set(_logged_model_names(strict, USER, every_id)) == set(GRANTED)
    refused_ids = [filtered.experiments[name] for name in REFUSED]
    assert _logged_model_names(server, USER, refused_ids) == []
    items, sizes = _pages(
        lambda page: server.mlflow(
            USER, "POST", "logged-models/search", {**page, "experiment_ids": every_id}
        ),
        "models",
    )
    _only_once([m["info"]["name"] for m in items], expected)
    assert all(size == 2 for size in sizes[:-1]), sizes


# -- the model registry ------------------------------------------------------------------------------


def test_registered_models_and_versions_searches(
    server: Client, strict: Client, filtered: Filtered
) -> None:
    readable = set(filtered.models) - set(REFUSED)
    for client, expected in ((server, readable), (strict, set(GRANTED))):
        models, sizes = _pages(
            lambda page, c=client: c.mlflow(USER, "GET", "registered-models/search", page),
            "registered_models",
        )
        _only_once([m["name"] for m in models], expected)
        assert all(size == 2 for size in sizes[:-1]), sizes
        versions, sizes = _pages(
            lambda page, c=client: c.mlflow(USER, "GET", "model-versions/search", page),
            "model_versions",
        )
        pairs = [(v["name"], v["version"]) for v in versions]
        assert len(pairs) == len(set(pairs))
        # Every model of the fixture has two versions; the world's "clf" has none.
        assert {name for name, _ in pairs} == expected - {MODEL}
        assert len(pairs) == 2 * len(expected - {MODEL})
        assert all(size == 2 for size in sizes[:-1]), sizes
    refused = {"filter": "name = 'refused-1'"}
    assert _ok(server.mlflow(USER, "GET", "model-versions/search", refused)) == {}
    assert _ok(server.mlflow(USER, "GET", "registered-models/search", refused)) == {}
    everything = _ok(server.mlflow("admin", "GET", "registered-models/search"))
    assert {m["name"] for m in everything["registered_models"]} == set(filtered.models)


# -- the web UI ----------------------------------------------------------------------------------------


def _page(client: Client, user: str, path: str) -> str:
    response = client.call(user, "GET", path)
    assert response.status_code == 200, response.text
    return response.text


def test_the_ui_lists_only_what_the_caller_may_read(
    server: Client, strict: Client, filtered: Filtered
) -> None:
    for path in ("/", "/experiments"):
        html = _page(server, USER, path)
        assert all(f">{name}<" in html for name in (*GRANTED, *OPEN))
        assert not any(name in html for name in REFUSED)
        html = _page(strict, USER, path)
        assert all(f">{name}<" in html for name in GRANTED)
        assert not any(name in html for name in (*REFUSED, *OPEN))
        assert all(f">{name}<" in _page(strict, "admin", path) for name in REFUSED)
    html = _page(server, USER, "/models")
    assert all(f">{name}<" in html for name in (*GRANTED, *OPEN))
    assert not any(name in html for name in REFUSED)
    html = _page(strict, USER, "/models")
    assert not any(name in html for name in (*REFUSED, *OPEN))


def test_pages_do_not_name_runs_of_experiments_the_caller_may_not_read(
    server: Client, filtered: Filtered
) -> None:
    world = filtered.world
    hidden_run = filtered.runs["refused-1"]
    # A run the bystander may read names a parent in an experiment they may not read.
    child = filtered.runs["open-1"]
    world.tracking.set_tag(child, RunTag("mlflow.parentRunId", hidden_run))
    assert "refused-1" not in _page(server, USER, f"/runs/{child}")
    assert hidden_run in _page(server, USER, f"/runs/{child}")  # the tag's own value
    assert "refused-1" in _page(server, "admin", f"/runs/{child}")
    # A model the bystander may read has a version from a run they may not read.
    world.registry.create_model_version("open-2", f"runs:/{hidden_run}/model", run_id=hidden_run)
    assert "refused-1" not in _page(server, USER, "/models/open-2")
    assert "refused-1" in _page(server, "admin", "/models/open-2")


# -- without permission checks, and with a store that cannot filter --------------------------------------


def test_without_permission_checks_searches_are_unchanged(filtered: Filtered) -> None:
    for client in serve(full_app(filtered.world)):
        assert set(_experiment_names(client, None)) == set(filtered.experiments)
        found = _ok(client.mlflow(None, "GET", "registered-models/search"))
        assert {m["name"] for m in found["registered_models"]} == set(filtered.models)


def test_a_store_that_cannot_filter_is_not_searched_unfiltered(filtered: Filtered) -> None:
    """A server whose store cannot restrict a search answers an error, never everything."""
    # Never contacted: the search is refused before the store is called.
    remote = RestTrackingStore(RestConfig("http://127.0.0.1:9"))
    app = build_app(
        remote,
        settings=ServerSettings(auth_enabled=True),
        auth_store=filtered.world.auth,
    )
    for client in serve(SignedInAs(app, filtered.world.auth)):
        response = client.mlflow(USER, "POST", "experiments/search")
        assert response.status_code == 500
        assert "cannot keep a search to what the caller may read" in response.json()["message"]
    remote.close()
