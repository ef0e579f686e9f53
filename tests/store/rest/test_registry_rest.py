"""RestRegistryStore against real servers: ``runlab server`` and ``mlflow server`` 3.17.2.

The core registry calls run against both servers (each a real process, one per module), so the
store's requests and decoding are checked against MLflow's own server as well as runlab's. The
history is runlab's: against MLflow it must fail with a clear error. Retry behaviour is checked
against tiny apps defined here that stand in for a struggling server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from runlab.entities import RunTag
from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    ModelNotFound,
    NotFound,
    RunlabError,
)
from runlab.store.rest.http import RestConfig
from runlab.store.rest.registry import RestRegistryStore
from runlab.store.rest.tracking import RestTrackingStore
from support.cli_server import runlab_cli_server
from support.servers import ServerProcess, mlflow_server, serve_in_thread

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry_rest")]


@pytest.fixture(scope="module", params=["runlab", "mlflow"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL of a running ``runlab server`` or ``mlflow server`` (SQLite behind both)."""
    tmp = tmp_path_factory.mktemp(f"registry-{request.param}")
    process: ServerProcess = (
        runlab_cli_server(tmp) if request.param == "runlab" else mlflow_server(tmp)
    )
    process.start()
    try:
        yield process.url
    finally:
        process.stop()


def _config(url: str) -> RestConfig:
    return RestConfig(url, max_retries=1, backoff_factor=0.01)


@pytest.fixture
def store(server: str) -> Iterator[RestRegistryStore]:
    rest = RestRegistryStore(_config(server))
    yield rest
    rest.close()


@pytest.fixture
def tracking(server: str) -> Iterator[RestTrackingStore]:
    rest = RestTrackingStore(_config(server))
    yield rest
    rest.close()


def is_runlab(url: str) -> bool:
    """True for runlab's server (it serves /openapi.json; MLflow's 3.17.2 answers 404 there)."""
    return httpx.get(f"{url}/openapi.json").status_code == 200


def _name() -> str:
    return f"model-{uuid.uuid4().hex[:10]}"


def _source(tracking: RestTrackingStore) -> tuple[str, str]:
    """A fresh run's id and a runs:/ source in it."""
    run_id = tracking.create_run("0", "tester", 1_000, [RunTag("k", "v")], None).info.run_id
    return run_id, f"runs:/{run_id}/model"


def _new_version(store: RestRegistryStore, tracking: RestTrackingStore, name: str) -> int:
    run_id, source = _source(tracking)
    return store.create_model_version(name, source, run_id=run_id).version


# -- registered models ---------------------------------------------------------------------------


def test_registered_model_lifecycle(store: RestRegistryStore) -> None:
    name = _name()
    created = store.create_registered_model(name, tags={"team": "a"}, description="first")
    assert (created.name, created.description, created.tags) == (name, "first", {"team": "a"})
    assert created.creation_timestamp > 0
    assert store.get_registered_model(name) == created
    with pytest.raises(AlreadyExists):
        store.create_registered_model(name)

    assert store.update_registered_model(name, "second").description == "second"
    store.set_registered_model_tag(name, "stage", "dev")
    store.delete_registered_model_tag(name, "team")
    assert store.get_registered_model(name).tags == {"stage": "dev"}

    renamed = store.rename_registered_model(name, name + "-b")
    assert renamed.name == name + "-b"
    with pytest.raises(ModelNotFound):
        store.get_registered_model(name)

    store.delete_registered_model(name + "-b")
    with pytest.raises(ModelNotFound) as caught:
        store.get_registered_model(name + "-b")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert isinstance(caught.value, NotFound)


def test_search_registered_models(store: RestRegistryStore) -> None:
    prefix = f"search-{uuid.uuid4().hex[:8]}"
    for suffix in ("c", "a", "b"):
        store.create_registered_model(f"{prefix}-{suffix}", tags={"group": prefix})
    first = store.search_registered_models(
        f"name LIKE '{prefix}-%'", max_results=2, order_by=["name DESC"]
    )
    assert [m.name for m in first] == [f"{prefix}-c", f"{prefix}-b"]
    assert first.token
    rest = store.search_registered_models(
        f"name LIKE '{prefix}-%'", max_results=2, order_by=["name DESC"], page_token=first.token
    )
    assert [m.name for m in rest] == [f"{prefix}-a"]
    assert rest.token is None
    by_tag = store.search_registered_models(f"tags.group = '{prefix}'")
    assert sorted(m.name for m in by_tag) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    with pytest.raises(InvalidParameter):
        store.search_registered_models("name ~ 'x'")


# -- versions, stages, aliases ---------------------------------------------------------------------


def test_versions(server: str, store: RestRegistryStore, tracking: RestTrackingStore) -> None:
    name = _name()
    store.create_registered_model(name)
    run_id, source = _source(tracking)
    version = store.create_model_version(
        name, source, run_id=run_id, tags={"framework": "sk"}, description="v1", user_id="ann"
    )
    assert (version.name, version.version, version.current_stage) == (name, 1, "None")
    assert (version.source, version.run_id, version.status) == (source, run_id, "READY")
    assert version.tags == {"framework": "sk"}
    assert store.get_model_version(name, 1) == version
    assert store.get_model_version(name, "1") == version

    assert _new_version(store, tracking, name) == 2
    assert store.update_model_version(name, 2, "second").description == "second"
    store.set_model_version_tag(name, 2, "a", "1")
    store.delete_model_version_tag(name, 1, "framework")
    assert store.get_model_version(name, 2).tags == {"a": "1"}
    assert store.get_model_version(name, 1).tags == {}

    found = store.search_model_versions(f"name='{name}'")
    assert [v.version for v in found] == [2, 1]
    assert store.get_model_version_download_uri(name, 1)

    store.delete_model_version(name, 2)
    with pytest.raises(ModelNotFound):
        store.get_model_version(name, 2)
    # Numbers are not reused after a delete.
    assert _new_version(store, tracking, name) == 3
    with pytest.raises(ModelNotFound):
        store.create_model_version(_name(), source, run_id=run_id)
    # Neither server looks a runs:/ source's run up: the tracking server may be another one.
    elsewhere = uuid.uuid4().hex
    version = store.create_model_version(name, f"runs:/{elsewhere}/model", run_id=elsewhere)
    assert (version.version, version.run_id) == (4, elsewhere)
    # Without its run_id, a runs:/ source is refused by both.
    with pytest.raises(InvalidParameter, match="Invalid model version source"):
        store.create_model_version(name, source)
    assert [v.version for v in store.search_model_versions(f"name='{name}'")] == [4, 3, 1]


def test_stages_and_latest_versions(store: RestRegistryStore, tracking: RestTrackingStore) -> None:
    name = _name()
    store.create_registered_model(name)
    for _ in range(3):
        _new_version(store, tracking, name)
    assert store.transition_model_version_stage(name, 1, "production").current_stage == (
        "Production"
    )
    store.transition_model_version_stage(name, 2, "Staging")
    latest = {v.current_stage: v.version for v in store.get_latest_versions(name)}
    assert latest == {"Production": 1, "Staging": 2, "None": 3}
    assert [v.version for v in store.get_latest_versions(name, ["staging"])] == [2]

    moved = store.transition_model_version_stage(
        name, 3, "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert store.get_model_version(name, 1).current_stage == "Archived"
    model = store.get_registered_model(name)
    assert {v.current_stage: v.version for v in model.latest_versions} == {
        "Archived": 1,
        "Staging": 2,
        "Production": 3,
    }

    # Refused before sending (MLflow's server would answer 500): InvalidParameter everywhere.
    with pytest.raises(InvalidParameter, match="archive_existing_versions"):
        store.transition_model_version_stage(name, 2, "Archived", archive_existing_versions=True)
    with pytest.raises(InvalidParameter):
        store.transition_model_version_stage(name, 2, "Deployed")
    assert store.get_model_version(name, 2).current_stage == "Staging"


def test_aliases(store: RestRegistryStore, tracking: RestTrackingStore) -> None:
    name = _name()
    store.create_registered_model(name)
    for _ in range(2):
        _new_version(store, tracking, name)
    store.set_registered_model_alias(name, "champion", 1)
    store.set_registered_model_alias(name, "challenger", "2")
    assert store.get_model_version_by_alias(name, "champion").version == 1
    assert store.get_registered_model(name).aliases == {"champion": 1, "challenger": 2}
    assert store.get_model_version(name, 2).aliases == ("challenger",)

    store.set_registered_model_alias(name, "champion", 2)
    assert sorted(store.get_model_version(name, 2).aliases) == ["challenger", "champion"]
    store.delete_registered_model_alias(name, "challenger")
    assert store.get_registered_model(name).aliases == {"champion": 2}
    with pytest.raises(InvalidParameter):
        store.get_model_version_by_alias(name, "challenger")
    with pytest.raises(InvalidParameter):
        store.set_registered_model_alias(name, "latest", 1)


# -- history ----------------------------------------------------------------------------------------


def test_history(server: str, store: RestRegistryStore, tracking: RestTrackingStore) -> None:
    name = _name()
    store.create_registered_model(name)
    _new_version(store, tracking, name)
    if not is_runlab(server):
        with pytest.raises(RunlabError) as caught:
            store.get_registry_history(name)
        assert caught.value.error_code == "NOT_IMPLEMENTED"
        assert "history" in caught.value.message
        return
    store.transition_model_version_stage(name, 1, "Staging", user_id="ann")
    store.set_registered_model_alias(name, "champ", 1, user_id="bob")
    store.delete_registered_model_alias(name, "champ")
    events = store.get_registry_history(name)
    assert [(e.kind, e.subject, e.from_value, e.to_value, e.user_id) for e in events] == [
        ("stage", "1", "None", "Staging", "ann"),
        ("alias", "champ", None, "1", "bob"),
        ("alias", "champ", "1", None, ""),
    ]
    assert store.get_registry_history(name, since=events[-1].timestamp + 1) == []
    assert store.get_registry_history(name, until=events[0].timestamp) == []


# -- several workers ------------------------------------------------------------------------------


def test_registry_with_several_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    # `runlab server --workers 2` builds each worker's app from the serialised configuration;
    # both must serve the registry from the shared database.
    process = runlab_cli_server(tmp_path_factory.mktemp("workers"))
    process.argv += ["--workers", "2"]
    process.start()
    try:
        registry = RestRegistryStore(_config(process.url))
        names = [_name() for _ in range(6)]
        for name in names:
            registry.create_registered_model(name)
        for name in names:
            assert registry.get_registered_model(name).name == name
        registry.close()
    finally:
        process.stop()


# -- retries (against stand-in servers) -------------------------------------------------------------


def test_creates_are_not_retried_but_reads_are() -> None:
    calls: dict[str, int] = {}

    async def unavailable(request: Request) -> Response:
        calls[request.url.path] = calls.get(request.url.path, 0) + 1
        return JSONResponse({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}, 503)

    app = Starlette(routes=[Route("/{path:path}", unavailable, methods=["GET", "POST", "DELETE"])])
    with serve_in_thread(app) as url:
        store = RestRegistryStore(RestConfig(url, max_retries=2, backoff_factor=0.001))
        try:
            for create in (
                lambda: store.create_registered_model("m"),
                lambda: store.create_model_version("m", "runs:/r/m", run_id="r"),
                lambda: store.transition_model_version_stage("m", 1, "Staging"),
                lambda: store.delete_model_version("m", 1),
                lambda: store.get_registered_model("m"),
            ):
                with pytest.raises(RunlabError):
                    create()
        finally:
            store.close()
    api = "/api/2.0/mlflow"
    assert calls[f"{api}/registered-models/create"] == 1
    assert calls[f"{api}/model-versions/create"] == 1
    assert calls[f"{api}/model-versions/transition-stage"] == 1
    assert calls[f"{api}/model-versions/delete"] == 1
    assert calls[f"{api}/registered-models/get"] == 3


def test_latest_versions_falls_back_to_get() -> None:
    seen: list[str] = []

    async def latest(request: Request) -> Response:
        seen.append(request.method)
        if request.method == "POST":
            return PlainTextResponse("Not Found", 404)
        assert request.query_params.getlist("stages") == ["Staging", "Production"]
        version = {"name": "m", "version": "4", "current_stage": "Staging", "status": "READY"}
        return JSONResponse({"model_versions": [version]})

    app = Starlette(
        routes=[
            Route(
                "/api/2.0/mlflow/registered-models/get-latest-versions",
                latest,
                methods=["GET", "POST"],
            )
        ]
    )
    with serve_in_thread(app) as url:
        store = RestRegistryStore(_config(url))
        try:
            versions = store.get_latest_versions("m", ["staging", "PRODUCTION"])
        finally:
            store.close()
    assert seen == ["POST", "GET"]
    assert [(v.version, v.current_stage) for v in versions] == [(4, "Staging")]


def test_a_server_without_the_registry_says_so() -> None:
    app = Starlette(routes=[])  # answers every path with a bare 404, as a tracking-only server
    with serve_in_thread(app) as url:
        store = RestRegistryStore(_config(url))
        try:
            with pytest.raises(NotFound) as caught:
                store.get_registered_model("m")
            with pytest.raises(RunlabError) as history:
                store.get_registry_history("m")
        finally:
            store.close()
    assert caught.value.error_code == "ENDPOINT_NOT_FOUND"
    assert not isinstance(caught.value, ModelNotFound)
    assert "registered-models/get" in caught.value.message
    assert "registry" in caught.value.message
    assert history.value.error_code == "NOT_IMPLEMENTED"
