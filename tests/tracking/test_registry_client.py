"""The model registry through the Client and the fluent API, on a local SQLite store and against
``runlab server`` running as a real process: every client method, register_model from a run with
a logged artifact, resolution of every models:/ form, history, and the errors users meet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import runlab
from runlab.artifacts.repository_factory import get_artifact_repository
from runlab.entities.registry import ALIAS_EVENT, STAGE_EVENT
from runlab.errors import AlreadyExists, InvalidParameter, ModelNotFound, RunlabError
from runlab.tracking import Client
from runlab.tracking.model_uris import resolve_model_uri
from runlab.tracking.system_tags import MLFLOW_USER, default_run_tags
from support.cli_server import runlab_cli_server
from support.servers import running

MLMODEL_TEXT = "flavors:\n  python_function: {}\n"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``runlab server`` for the module's server tests (each test uses its own names)."""
    with running(runlab_cli_server(tmp_path_factory.mktemp("registry-server"))) as proc:
        yield proc.url


@pytest.fixture(params=["local", "server"])
def tracking_uri(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The tracking (and registry) URI of each backend, set as the current one."""
    uri = sqlite_url if request.param == "local" else request.getfixturevalue("server_url")
    runlab.set_tracking_uri(uri)
    return uri


@pytest.fixture
def client(tracking_uri: str) -> Client:
    """A client of the backend under test."""
    return Client(tracking_uri)


@pytest.fixture
def name() -> str:
    """A registered-model name no other test uses (the server is shared), with a space in it."""
    return f"clf {uuid.uuid4().hex[:10]}"


def logged_run(tmp_path: Path, path: str = "model") -> str:
    """A finished run (through the fluent API) with an MLmodel file under ``path``; its id."""
    folder = tmp_path / f"files-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL_TEXT)
    with runlab.start_run() as run:
        runlab.log_artifacts(str(folder), path)
    return run.info.run_id


def register_versions(name: str, tmp_path: Path, count: int) -> str:
    """``count`` versions of ``name`` registered from one run's ``model`` folder; the run id."""
    run_id = logged_run(tmp_path)
    for _ in range(count):
        runlab.register_model(f"runs:/{run_id}/model", name)
    return run_id


def read_file(location: str, file_name: str, tracking_uri: str, tmp_path: Path) -> str:
    """Download ``file_name`` from an artifact location and return its text."""
    repo = get_artifact_repository(location, tracking_uri=tracking_uri)
    dst = tmp_path / f"download-{uuid.uuid4().hex[:6]}"
    dst.mkdir()
    try:
        return Path(repo.download_artifacts(file_name, str(dst))).read_text()
    finally:
        close = getattr(repo, "close", None)
        if close is not None:  # a proxy repository holds connections
            close()


# -- registered models --------------------------------------------------------------------------
def test_registered_model_lifecycle(client: Client, name: str) -> None:
    created = client.create_registered_model(name, tags={"team": "risk", "n": 3}, description="d")
    assert created.name == name
    assert created.tags == {"team": "risk", "n": "3"}
    assert created.description == "d"
    assert client.get_registered_model(name).tags == {"team": "risk", "n": "3"}
    with pytest.raises(AlreadyExists):
        client.create_registered_model(name)

    assert client.update_registered_model(name, description="fraud scores").description == (
        "fraud scores"
    )
    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "n")
    assert client.get_registered_model(name).tags == {"team": "risk", "owner": "ana"}

    client.delete_registered_model(name)
    with pytest.raises(ModelNotFound):
        client.get_registered_model(name)


def test_rename_carries_versions_and_aliases(client: Client, name: str, tmp_path: Path) -> None:
    run_id = logged_run(tmp_path)
    runlab.register_model(f"runs:/{run_id}/model", name)
    client.set_registered_model_alias(name, "champion", 1)
    renamed = client.rename_registered_model(name, name + " v2")
    assert renamed.name == name + " v2"
    with pytest.raises(ModelNotFound):
        client.get_registered_model(name)
    version = client.get_model_version(name + " v2", 1)
    assert version.name == name + " v2"
    assert version.run_id == run_id
    assert client.get_model_version_by_alias(name + " v2", "champion").version == 1


def test_unknown_models_and_versions_are_not_found(client: Client, name: str) -> None:
    for call in (
        lambda: client.get_registered_model(name),
        lambda: client.get_model_version(name, 1),
        lambda: client.update_registered_model(name, "x"),
        lambda: client.delete_registered_model(name),
        lambda: client.get_latest_versions(name),
    ):
        with pytest.raises(ModelNotFound):
            call()
    client.create_registered_model(name)
    with pytest.raises(ModelNotFound):
        client.get_model_version(name, 7)


def test_search_registered_models_filters_orders_and_pages(client: Client, name: str) -> None:
    for suffix, team in (("a", "risk"), ("b", "vision"), ("c", "risk")):
        client.create_registered_model(f"{name}-{suffix}", tags={"team": team})
    prefix = f"name LIKE '{name}-%'"
    found = client.search_registered_models(prefix, order_by=["name DESC"])
    assert [m.name for m in found] == [f"{name}-c", f"{name}-b", f"{name}-a"]
    risk = client.search_registered_models(f"{prefix} AND tags.team = 'risk'")
    assert [m.name for m in risk] == [f"{name}-a", f"{name}-c"]

    first = client.search_registered_models(prefix, max_results=2)
    assert len(first) == 2 and first.token
    rest = client.search_registered_models(prefix, max_results=2, page_token=first.token)
    assert [m.name for m in [*first, *rest]] == [f"{name}-a", f"{name}-b", f"{name}-c"]
    assert rest.token is None

    # The fluent search follows the pages itself.
    assert len(runlab.search_registered_models(filter_string=prefix)) == 3
    assert len(runlab.search_registered_models(max_results=2, filter_string=prefix)) == 2
    with pytest.raises(InvalidParameter):
        client.search_registered_models("name = unquoted")


# -- versions --------------------------------------------------------------------------------------
def test_register_model_from_a_run_with_a_logged_artifact(
    client: Client, name: str, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = logged_run(tmp_path)
    first = runlab.register_model(f"runs:/{run_id}/model", name, tags={"data": "2026-11"})
    assert (first.name, first.version, first.run_id) == (name, 1, run_id)
    assert first.status == "READY"
    assert first.tags == {"data": "2026-11"}
    assert first.current_stage == "None"
    # The registered model was created on the way; the second registration adds version 2.
    second = runlab.register_model(f"runs:/{run_id}/model", name)
    assert second.version == 2

    location = client.get_model_version_download_uri(name, 1)
    assert location.rstrip("/").endswith("model")
    assert read_file(location, "MLmodel", tracking_uri, tmp_path) == MLMODEL_TEXT
    assert resolve_model_uri(f"models:/{name}/1", client) == location


def test_model_version_methods(client: Client, name: str, tmp_path: Path) -> None:
    run_id = logged_run(tmp_path)
    client.create_registered_model(name)
    version = client.create_model_version(
        name,
        f"runs:/{run_id}/model",
        run_id=run_id,
        tags={"k": "v"},
        run_link="http://ci/1",
        description="first",
    )
    assert version.version == 1
    assert version.source == f"runs:/{run_id}/model"
    assert version.description == "first"
    # A runs:/ source is followed to the run's artifacts.
    assert resolve_model_uri(f"models:/{name}/1", client) == (
        client.get_run(run_id).info.artifact_uri + "/model"
    )
    # Versions may be given as ints or as the strings MLflow code passes.
    assert client.get_model_version(name, "1") == client.get_model_version(name, 1)
    assert client.update_model_version(name, 1, description="better").description == "better"

    client.set_model_version_tag(name, 1, "k", "w")
    client.set_model_version_tag(name, "1", "n", 5)
    client.delete_model_version_tag(name, 1, "k")
    assert client.get_model_version(name, 1).tags == {"n": "5"}
    with pytest.raises(InvalidParameter, match="exactly one of version and stage"):
        client.set_model_version_tag(name, key="k", value="v")
    with pytest.raises(InvalidParameter, match="must be an integer"):
        client.get_model_version(name, "one")

    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.delete_model_version(name, 3)
    with pytest.raises(ModelNotFound):
        client.get_model_version(name, 3)
    # A deleted version's number is never handed out again.
    assert client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version == 4
    assert client.get_model_version_stages(name, 1) == ["None", "Staging", "Production", "Archived"]


def test_search_model_versions(client: Client, name: str, tmp_path: Path) -> None:
    run_a, run_b = logged_run(tmp_path), logged_run(tmp_path)
    for run_id in (run_a, run_b, run_a):
        runlab.register_model(f"runs:/{run_id}/model", name)
    client.set_model_version_tag(name, 2, "flag", "yes")

    found = client.search_model_versions(f"name = '{name}'")
    assert [mv.version for mv in found] == [3, 2, 1]
    by_run = client.search_model_versions(f"name = '{name}' AND run_id = '{run_a}'")
    assert sorted(mv.version for mv in by_run) == [1, 3]
    tagged = client.search_model_versions(f"name = '{name}' AND tags.flag = 'yes'")
    assert [mv.version for mv in tagged] == [2]
    oldest_first = client.search_model_versions(
        f"name = '{name}'", order_by=["version_number ASC"], max_results=2
    )
    assert [mv.version for mv in oldest_first] == [1, 2]
    assert oldest_first.token
    tail = client.search_model_versions(
        f"name = '{name}'", order_by=["version_number ASC"], page_token=oldest_first.token
    )
    assert [mv.version for mv in tail] == [3]

    assert len(runlab.search_model_versions(filter_string=f"name = '{name}'")) == 3
    assert len(runlab.search_model_versions(max_results=1, filter_string=f"name = '{name}'")) == 1


def test_sources_outside_the_run_are_refused(client: Client, name: str, tmp_path: Path) -> None:
    run_id = logged_run(tmp_path)
    other_run = logged_run(tmp_path)
    client.create_registered_model(name)
    root = client.get_run(run_id).info.artifact_uri
    for source in (
        "/etc",
        "file:///etc/passwd",
        f"runs:/{other_run}/model",
        f"runs:/{run_id}/../{other_run}/model",
        f"{root}/../../{other_run}/artifacts/model",
        f"{root}/%2e%2e/x",
    ):
        with pytest.raises(InvalidParameter):
            client.create_model_version(name, source, run_id=run_id)
    with pytest.raises(InvalidParameter, match="needs a source"):
        client.create_model_version(name, "", run_id=run_id)
    with pytest.raises(InvalidParameter):
        runlab.register_model(f"runs:/{run_id}/../{other_run}/model", name)
    assert client.search_model_versions(f"name = '{name}'") == []


# -- stages, aliases, history ------------------------------------------------------------------------
def test_stages_and_latest_versions(client: Client, name: str, tmp_path: Path) -> None:
    register_versions(name, tmp_path, 3)
    assert client.transition_model_version_stage(name, 1, "production").current_stage == (
        "Production"
    )
    client.transition_model_version_stage(name, "2", "Staging")
    latest = {mv.current_stage: mv.version for mv in client.get_latest_versions(name)}
    assert latest == {"None": 3, "Staging": 2, "Production": 1}
    assert [mv.version for mv in client.get_latest_versions(name, ["Production"])] == [1]
    assert [mv.version for mv in client.get_latest_versions(name, "Staging")] == [2]

    moved = client.transition_model_version_stage(
        name, 3, "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version(name, 1).current_stage == "Archived"
    assert client.get_model_version(name, 2).current_stage == "Staging"
    client.set_model_version_tag(name, key="deployed", value="yes", stage="Production")
    assert client.get_model_version(name, 3).tags == {"deployed": "yes"}

    with pytest.raises(InvalidParameter, match="stage"):
        client.transition_model_version_stage(name, 2, "Prod")
    with pytest.raises(RunlabError):
        client.transition_model_version_stage(name, 2, "Archived", archive_existing_versions=True)
    with pytest.raises(ModelNotFound):
        client.transition_model_version_stage(name, 9, "Staging")


def test_aliases(client: Client, name: str, tmp_path: Path) -> None:
    register_versions(name, tmp_path, 2)
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_alias(name, "challenger", "2")
    assert client.get_model_version_by_alias(name, "champion").version == 1
    assert client.get_registered_model(name).aliases == {"champion": 1, "challenger": 2}
    assert client.get_model_version(name, 2).aliases == ("challenger",)

    client.set_registered_model_alias(name, "champion", 2)  # a move, not a second alias
    assert client.get_model_version_by_alias(name, "champion").version == 2
    assert set(client.get_model_version(name, 2).aliases) == {"champion", "challenger"}
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": 2}
    with pytest.raises(InvalidParameter):
        client.get_model_version_by_alias(name, "challenger")

    for reserved in ("latest", "LATEST", "v1", "V12"):
        with pytest.raises(InvalidParameter, match="reserved"):
            client.set_registered_model_alias(name, reserved, 1)
    with pytest.raises(InvalidParameter):
        client.set_registered_model_alias(name, "bad alias", 1)
    with pytest.raises(ModelNotFound):
        client.set_registered_model_alias(name, "x", 9)

    # Deleting a version takes its aliases with it.
    client.delete_model_version(name, 2)
    assert client.get_registered_model(name).aliases == {}


def test_history_records_every_stage_and_alias_change(
    client: Client, name: str, tracking_uri: str, tmp_path: Path
) -> None:
    register_versions(name, tmp_path, 2)
    client.transition_model_version_stage(name, 1, "Production")
    client.set_registered_model_alias(name, "champion", 1)
    client.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True)
    client.set_registered_model_alias(name, "champion", 2)
    client.delete_registered_model_alias(name, "champion")

    events = client.get_registry_history(name)
    changes = [(e.kind, e.subject, e.from_value, e.to_value) for e in events]
    assert changes[:2] == [
        (STAGE_EVENT, "1", "None", "Production"),
        (ALIAS_EVENT, "champion", None, "1"),
    ]
    assert set(changes[2:4]) == {
        (STAGE_EVENT, "2", "None", "Production"),
        (STAGE_EVENT, "1", "Production", "Archived"),
    }
    assert changes[4:] == [
        (ALIAS_EVENT, "champion", "1", "2"),
        (ALIAS_EVENT, "champion", "2", None),
    ]
    # Who made each change: the client sends its user along, locally and to a server.
    user = default_run_tags()[MLFLOW_USER]
    assert all(e.name == name and e.user_id == user for e in events)
    times = [e.timestamp for e in events]
    assert times == sorted(times)

    # since/until: milliseconds or datetimes, since inclusive and until exclusive.
    assert client.get_registry_history(name, until=times[0]) == []
    assert client.get_registry_history(name, since=times[-1] + 1) == []
    assert client.get_registry_history(name, since=times[0]) == events
    later = dt.datetime.fromtimestamp((times[-1] + 1) / 1000, tz=dt.timezone.utc)
    assert client.get_registry_history(name, until=later) == events

    # The history outlives a rename.
    client.rename_registered_model(name, name + " renamed")
    assert len(client.get_registry_history(name + " renamed")) == len(events)


# -- model URIs ------------------------------------------------------------------------------------
def test_every_models_uri_form_resolves(
    client: Client, name: str, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = register_versions(name, tmp_path, 3)
    client.transition_model_version_stage(name, 1, "Production")
    client.transition_model_version_stage(name, 2, "Staging")
    client.set_registered_model_alias(name, "champion", 2)
    where = {v: client.get_model_version_download_uri(name, v) for v in (1, 2, 3)}
    run_root = client.get_run(run_id).info.artifact_uri

    assert resolve_model_uri(f"models:/{name}/3", client) == where[3]
    assert resolve_model_uri(f"models:/{name}/Production", client) == where[1]
    assert resolve_model_uri(f"models:/{name}/production", client) == where[1]
    assert resolve_model_uri(f"models:/{name}/STAGING", client) == where[2]
    assert resolve_model_uri(f"models:/{name}/latest", client) == where[3]
    assert resolve_model_uri(f"models:/{name}@champion", client) == where[2]
    assert resolve_model_uri(f"runs:/{run_id}/model", client) == f"{run_root}/model"
    assert resolve_model_uri(f"runs:/{run_id}", client) == run_root
    # A path after the version names a file inside it.
    inside = resolve_model_uri(f"models:/{name}@champion/MLmodel", client)
    assert inside == where[2].rstrip("/") + "/MLmodel"
    assert read_file(
        resolve_model_uri(f"models:/{name}/1", client), "MLmodel", tracking_uri, tmp_path
    )
    # Locations are not model URIs: they pass through.
    assert resolve_model_uri("s3://bucket/model", client) == "s3://bucket/model"

    with pytest.raises(ModelNotFound, match="no version in stage Archived"):
        resolve_model_uri(f"models:/{name}/Archived", client)
    with pytest.raises(ModelNotFound):
        resolve_model_uri(f"models:/{name} missing/1", client)
    with pytest.raises(ModelNotFound):
        resolve_model_uri(f"models:/{name}/9", client)
    with pytest.raises(InvalidParameter):
        resolve_model_uri(f"models:/{name}@nobody", client)
    with pytest.raises(InvalidParameter, match="Malformed"):
        resolve_model_uri(f"models:/{name}/Prod", client)
    with pytest.raises(InvalidParameter):
        resolve_model_uri(f"runs:/{run_id}/../x", client)


def test_latest_of_a_model_without_versions_is_not_found(client: Client, name: str) -> None:
    client.create_registered_model(name)
    with pytest.raises(ModelNotFound, match="has no version in any stage"):
        resolve_model_uri(f"models:/{name}/latest", client)


def test_copy_model_version_and_register_from_a_models_uri(
    client: Client, name: str, tmp_path: Path
) -> None:
    run_id = logged_run(tmp_path)
    runlab.register_model(f"runs:/{run_id}/model", name, tags={"data": "nov"})
    client.update_model_version(name, 1, description="the good one")
    client.set_registered_model_alias(name, "champion", 1)
    client.transition_model_version_stage(name, 1, "Production")
    original = client.get_model_version(name, 1)

    copy = client.copy_model_version(f"models:/{name}@champion", name + " prod")
    assert (copy.name, copy.version, copy.current_stage) == (name + " prod", 1, "None")
    assert (copy.source, copy.run_id) == (original.source, original.run_id)
    assert (copy.tags, copy.description) == ({"data": "nov"}, "the good one")
    # Into an existing model it adds a version; register_model does the same, with extra tags.
    assert client.copy_model_version(f"models:/{name}/Production", name + " prod").version == 2
    again = runlab.register_model(f"models:/{name}/1", name + " prod", tags={"copy": "yes"})
    assert (again.version, again.tags) == (3, {"data": "nov", "copy": "yes"})

    for bad in (f"models:/{name}/1/MLmodel", "models:/m-" + "0" * 32, f"runs:/{run_id}/model"):
        with pytest.raises(InvalidParameter):
            client.copy_model_version(bad, name + " prod")
    with pytest.raises(InvalidParameter, match="Malformed"):
        runlab.register_model(f"runs:/{run_id}/model/../..", name)


@pytest.mark.parametrize("tracking_uri", ["local"], indirect=True)
def test_register_and_resolve_a_logged_model(
    client: Client, name: str, tracking_uri: str, tmp_path: Path
) -> None:
    with runlab.start_run() as run:
        pass
    logged = client.store.create_logged_model(
        run.info.experiment_id, name="net", source_run_id=run.info.run_id
    )
    version = runlab.register_model(f"models:/{logged.model_id}", name)
    assert version.model_id == logged.model_id
    assert version.source == f"models:/{logged.model_id}"
    assert resolve_model_uri(f"models:/{logged.model_id}", client) == logged.artifact_location
    assert resolve_model_uri(f"models:/{name}/1", client) == logged.artifact_location
    assert resolve_model_uri(f"models:/{name}/1/MLmodel", client) == (
        logged.artifact_location.rstrip("/") + "/MLmodel"
    )
    with pytest.raises(ModelNotFound):
        resolve_model_uri("models:/m-" + "0" * 32, client)


# -- registry URI ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tracking_uri", ["local"], indirect=True)
def test_registry_uri_defaults_to_the_tracking_uri(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runlab.get_registry_uri() == tracking_uri
    assert Client(tracking_uri).registry_uri == tracking_uri
    other = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", other)
    assert runlab.get_registry_uri() == other
    assert Client(tracking_uri).registry_uri == other
    third = f"sqlite:///{tmp_path / 'third.db'}"
    monkeypatch.setenv("RUNLAB_REGISTRY_URI", third)
    assert runlab.get_registry_uri() == third
    runlab.set_registry_uri(tmp_path / "folder")
    try:
        assert runlab.get_registry_uri() == (tmp_path / "folder").resolve().as_uri()
        # An explicit argument beats everything.
        assert Client(tracking_uri, registry_uri=other).registry_uri == other
    finally:
        runlab.set_registry_uri(None)


@pytest.mark.parametrize("tracking_uri", ["local"], indirect=True)
def test_a_separate_registry_database(tracking_uri: str, tmp_path: Path) -> None:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    split = Client(tracking_uri, registry_uri=registry)
    split.create_registered_model("only-in-registry")
    assert [m.name for m in split.search_registered_models()] == ["only-in-registry"]
    assert Client(tracking_uri).search_registered_models() == []
    runlab.set_registry_uri(registry)
    try:
        assert [m.name for m in runlab.search_registered_models()] == ["only-in-registry"]
    finally:
        runlab.set_registry_uri(None)
    assert runlab.search_registered_models() == []
