"""MLflow's own client (``mlflow-skinny`` 3.17.2) driving the model registry of ``runlab server``.

The server is the real ``runlab server`` command (a process on a free port, SQLite behind it,
artifacts proxied to a folder), so the registry wiring of the server factory is what these
calls reach. Every registry call of ``MlflowClient`` a user makes is here, with the error codes
MLflow's client sees.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from support.cli_server import runlab_cli_server
from support.servers import ServerProcess

pytestmark = pytest.mark.slow

#: The stage API is deprecated in MLflow (since 2.9) but still served; its client warns on use.
_STAGE_API_DEPRECATED = "ignore:.*is deprecated since 2.9.0:FutureWarning"


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``runlab server`` process for this module (artifacts proxied, the default)."""
    server = runlab_cli_server(tmp_path_factory.mktemp("registry-compat"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def client(
    registry_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowClient]:
    """MLflow's client of the server, with no settings from the environment, few retries."""
    for variable in [v for v in os.environ if v.startswith("MLFLOW_")]:
        monkeypatch.delenv(variable)
    for variable, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
        "MLFLOW_TRACKING_URI": registry_server.url,
    }.items():
        monkeypatch.setenv(variable, value)
    mlflow.set_tracking_uri(registry_server.url)
    mlflow.set_registry_uri(registry_server.url)
    try:
        yield MlflowClient(registry_server.url, registry_server.url)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        for variable in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
            os.environ.pop(variable, None)
        # None unsets them (MLflow accepts that).
        mlflow.set_registry_uri(cast(str, None))
        mlflow.set_tracking_uri(cast(str, None))


def _name(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _run_with_model_files(tmp_path: Path, content: str = "weights") -> str:
    """A finished run with a ``model/`` folder of artifacts; returns its id.

    The folder has an ``MLmodel`` file, which is how ``mlflow.register_model`` tells a model
    folder of a run from a logged model's name.
    """
    folder = tmp_path / f"model-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "weights.txt").write_text(content)
    (folder / "MLmodel").write_text("flavors: {}\n")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return str(run.info.run_id)


def _model_with_versions(client: MlflowClient, tmp_path: Path, count: int) -> str:
    """A new registered model with ``count`` versions of one run's ``model`` folder."""
    name = _name()
    client.create_registered_model(name)
    run_id = _run_with_model_files(tmp_path)
    for _ in range(count):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    return name


def _code_of(call: Any) -> str:
    with pytest.raises(MlflowException) as caught:
        call()
    return str(caught.value.error_code)


# -- registered models ---------------------------------------------------------------------------


def test_registered_model_crud(client: MlflowClient) -> None:
    name = _name()
    created = client.create_registered_model(name, tags={"team": "vision"}, description="d1")
    assert created.name == name
    assert created.tags == {"team": "vision"}
    assert created.description == "d1"
    assert created.creation_timestamp > 0

    got = client.get_registered_model(name)
    assert (got.name, got.description, got.tags) == (name, "d1", {"team": "vision"})

    assert client.update_registered_model(name, description="d2").description == "d2"
    # MLflow's MlflowClient.rename_registered_model returns nothing; read the model back.
    client.rename_registered_model(name, name + "-new")
    assert client.get_registered_model(name + "-new").description == "d2"
    assert _code_of(lambda: client.get_registered_model(name)) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model(name + "-new")
    assert _code_of(lambda: client.get_registered_model(name + "-new")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_error_codes(client: MlflowClient, tmp_path: Path) -> None:
    name = _name()
    client.create_registered_model(name)
    assert _code_of(lambda: client.create_registered_model(name)) == "RESOURCE_ALREADY_EXISTS"
    assert _code_of(lambda: client.get_model_version(name, "7")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code_of(lambda: client.get_registered_model(_name())) == "RESOURCE_DOES_NOT_EXIST"
    run_id = _run_with_model_files(tmp_path)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    assert (
        _code_of(lambda: client.set_registered_model_alias(name, "latest", "1"))
        == "INVALID_PARAMETER_VALUE"
    )
    assert _code_of(lambda: client.get_model_version_by_alias(name, "nobody")) == (
        "INVALID_PARAMETER_VALUE"
    )
    # A source outside the run's artifact root is refused.
    assert (
        _code_of(lambda: client.create_model_version(name, "/etc", run_id))
        == "INVALID_PARAMETER_VALUE"
    )


def test_search_registered_models(client: MlflowClient) -> None:
    prefix = _name("search")
    for suffix in ("b", "c", "a"):
        client.create_registered_model(f"{prefix}-{suffix}", tags={"group": prefix})
    pattern = f"name LIKE '{prefix}-%'"
    first = client.search_registered_models(pattern, max_results=2, order_by=["name ASC"])
    assert [m.name for m in first] == [f"{prefix}-a", f"{prefix}-b"]
    assert first.token
    second = client.search_registered_models(
        pattern, max_results=2, order_by=["name ASC"], page_token=first.token
    )
    assert [m.name for m in second] == [f"{prefix}-c"]
    assert not second.token
    by_tag = client.search_registered_models(f"tags.group = '{prefix}'", order_by=["name DESC"])
    assert [m.name for m in by_tag] == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]
    assert client.search_registered_models(f"name = '{prefix}-a'")[0].tags == {"group": prefix}


def test_registered_model_tags(client: MlflowClient) -> None:
    name = _name()
    client.create_registered_model(name)
    client.set_registered_model_tag(name, "k", "v")
    client.set_registered_model_tag(name, "k2", "v2")
    client.delete_registered_model_tag(name, "k")
    assert client.get_registered_model(name).tags == {"k2": "v2"}


# -- versions ------------------------------------------------------------------------------------------


def test_model_versions_from_a_run(client: MlflowClient, tmp_path: Path) -> None:
    name = _name()
    client.create_registered_model(name)
    run_id = _run_with_model_files(tmp_path, "first weights")
    source = f"runs:/{run_id}/model"
    version = client.create_model_version(
        name, source, run_id, tags={"framework": "none"}, description="first"
    )
    assert version.version == "1"
    assert version.name == name
    assert version.run_id == run_id
    assert version.status == "READY"
    assert version.current_stage == "None"
    assert version.tags == {"framework": "none"}
    assert version.description == "first"

    got = client.get_model_version(name, "1")
    assert (got.version, got.source, got.run_id) == ("1", version.source, run_id)
    assert client.update_model_version(name, "1", description="better").description == "better"

    second = client.create_model_version(name, source, run_id)
    assert second.version == "2"
    found = client.search_model_versions(f"name='{name}'")
    assert sorted(v.version for v in found) == ["1", "2"]

    client.set_model_version_tag(name, "2", "k", "v")
    client.delete_model_version_tag(name, "1", "framework")
    assert client.get_model_version(name, "2").tags == {"k": "v"}
    assert client.get_model_version(name, "1").tags == {}

    # The download URI leads to the run's files (through the artifact proxy).
    uri = client.get_model_version_download_uri(name, "1")
    assert uri
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path / "dl"))
    assert (Path(local) / "weights.txt").read_text() == "first weights"

    client.delete_model_version(name, "2")
    assert _code_of(lambda: client.get_model_version(name, "2")) == "RESOURCE_DOES_NOT_EXIST"
    assert client.create_model_version(name, source, run_id).version == "3"


def test_register_model(client: MlflowClient, tmp_path: Path) -> None:
    name = _name()
    run_id = _run_with_model_files(tmp_path)
    first = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert (first.name, first.version, first.run_id) == (name, "1", run_id)
    # The client registers the run folder's underlying location (through the proxy).
    assert first.source.startswith("mlflow-artifacts:/") and first.source.endswith("/model")
    again = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert again.version == "2"
    assert client.get_registered_model(name).name == name


@pytest.mark.filterwarnings(_STAGE_API_DEPRECATED)
def test_stages(client: MlflowClient, tmp_path: Path) -> None:
    name = _model_with_versions(client, tmp_path, 3)
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "staging")
    latest = client.get_latest_versions(name)
    assert {v.current_stage: v.version for v in latest} == {
        "Production": "1",
        "Staging": "2",
        "None": "3",
    }
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["1"]

    moved = client.transition_model_version_stage(
        name, "3", "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert client.get_model_version(name, "2").current_stage == "Staging"
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["3"]
    assert (
        _code_of(
            lambda: client.transition_model_version_stage(
                name, "2", "Archived", archive_existing_versions=True
            )
        )
        == "INVALID_PARAMETER_VALUE"
    )


def test_aliases(client: MlflowClient, tmp_path: Path) -> None:
    name = _model_with_versions(client, tmp_path, 2)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "2"}
    assert client.get_model_version(name, "2").aliases == ["challenger"]

    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    local = mlflow.artifacts.download_artifacts(
        f"models:/{name}@champion", dst_path=str(tmp_path / "by-alias")
    )
    assert (Path(local) / "weights.txt").read_text() == "weights"


class _Double(PythonModel):
    """A tiny model: doubles its input."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """Twice the input."""
        return model_input * 2


def test_log_model_with_registered_model_name_and_load_by_uri(client: MlflowClient) -> None:
    # MLflow 3's log_model registers a `models:/m-<id>` source with its model_id.
    name = _name()
    mlflow.set_experiment(_name("registry-exp"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="doubler",
            python_model=_Double(),
            pip_requirements=[],
            registered_model_name=name,
        )
    assert str(info.registered_model_version) == "1"
    version = client.get_model_version(name, "1")
    # (MLflow's client does not read model_id back from a ModelVersion; the source names it.)
    assert version.source == f"models:/{info.model_id}"
    # The version is linked to the run that logged the model, as on MLflow's server.
    assert version.run_id == run.info.run_id
    client.set_registered_model_alias(name, "prod", "1")
    frame = pd.DataFrame({"x": [1.0, 2.5]})
    for uri in (f"models:/{name}/1", f"models:/{name}@prod", f"models:/{name}/latest"):
        loaded = mlflow.pyfunc.load_model(uri)
        pd.testing.assert_frame_equal(loaded.predict(frame), frame * 2)
