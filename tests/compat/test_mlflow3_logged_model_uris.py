"""Models MLflow 3's client logs to ``runlab server`` load with runlab by every URI that names them.

MLflow 3 keeps a logged model's files in the model's own artifact location, registers it with the
source ``models:/<model_id>``, and still lets ``runs:/<run_id>/<name>`` name it. The real MLflow
client (3.17.2, in this process) logs through a ``runlab server`` process (artifacts proxied,
registry on); runlab's client then loads each model by ``models:/<model_id>``,
``runs:/<run_id>/model`` and ``models:/<registered name>/1`` and must predict what the model does.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import pytest

import runlab
from runlab.errors import ArtifactNotFound, ModelNotFound
from runlab.models.trust import TRUSTED_SOURCES_ENV, UntrustedModelError
from runlab.tracking.model_uris import resolve_model_uri
from support.cli_server import runlab_cli_server
from support.mlflow_models import log_mlflow_multiplier
from support.servers import running
from support.tracking_state import reset_tracking_state

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("mlflow.pyfunc")
pytest.importorskip("mlflow.sklearn")
pd = pytest.importorskip("pandas")
tree = pytest.importorskip("sklearn.tree")

pytestmark = pytest.mark.slow  # starts a runlab server process


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``runlab server`` process for the module."""
    with running(runlab_cli_server(tmp_path_factory.mktemp("mlflow3-models"))) as server:
        yield server.url


@pytest.fixture(autouse=True)
def both_clients(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point MLflow's and runlab's clients at the server; no runs left over afterwards."""
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "RUNLAB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    reset_tracking_state()
    runlab.set_tracking_uri(server_url)
    mlflow.set_tracking_uri(server_url)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        reset_tracking_state()
        mlflow.set_tracking_uri(cast(str, None))  # None unsets it (MLflow accepts that)


def _features() -> Any:
    rng = np.random.default_rng(1)
    return pd.DataFrame(rng.random((20, 3)), columns=["a", "b", "c"])


def _every_uri(run_id: str, model_id: str, registered: str) -> tuple[str, ...]:
    return (f"models:/{model_id}", f"runs:/{run_id}/model", f"models:/{registered}/1")


def _assert_loads_by_every_uri(run_id: str, model_id: str, registered: str, expected: Any) -> None:
    features = _features()
    for uri in _every_uri(run_id, model_id, registered):
        predicted = runlab.pyfunc.load_model(uri).predict(features)
        assert np.allclose(np.asarray(predicted, dtype=float), expected), uri


def test_mlflow_sklearn_model_loads_in_runlab_by_every_uri() -> None:
    features = _features()
    model = tree.DecisionTreeClassifier(max_depth=3, random_state=0)
    model.fit(features, (features["a"] > 0.5).astype(int))
    registered = f"mlflow3-tree-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment(f"mlflow3-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own notes while it saves and registers
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=registered,
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            input_example=features.head(2),
            pip_requirements=[],
        )
    assert info.model_id and info.model_uri == f"models:/{info.model_id}"
    # The files are the logged model's, not the run's: runs:/ must look past the run's folder.
    assert runlab.MlflowClient().list_artifacts(run.info.run_id) == []
    _assert_loads_by_every_uri(run.info.run_id, info.model_id, registered, model.predict(features))
    assert runlab.sklearn.load_model(f"runs:/{run.info.run_id}/model").get_depth() <= 3


def test_mlflow_python_model_loads_in_runlab_by_every_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = f"mlflow3-doubler-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run() as run:
        info = log_mlflow_multiplier(2, registered)
    # MLflow's custom model is a cloudpickle: refused by every URI until its source is trusted,
    # here as an operator would trust the registry and the runs of this server.
    monkeypatch.delenv(TRUSTED_SOURCES_ENV, raising=False)
    for uri in _every_uri(run.info.run_id, info.model_id, registered):
        with pytest.raises(UntrustedModelError, match="cloudpickle"):
            runlab.pyfunc.load_model(uri)
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, "models:/,runs:/")
    _assert_loads_by_every_uri(
        run.info.run_id, info.model_id, registered, _features().to_numpy() * 2
    )
    # The registry holds what MLflow 3 registers: the logged model as the version's source.
    version = runlab.MlflowClient().get_model_version(registered, 1)
    assert version.source == f"models:/{info.model_id}"


def test_bad_uris_name_what_was_missing() -> None:
    missing = "m-" + "0" * 32
    with pytest.raises(ModelNotFound, match=missing):
        runlab.pyfunc.load_model(f"models:/{missing}")
    with mlflow.start_run() as run:
        info = log_mlflow_multiplier(1)
    run_id = run.info.run_id
    # The run's artifacts and its logged models were both looked at, and the error says so.
    with pytest.raises(ArtifactNotFound, match="artifacts have nothing at 'other'") as caught:
        runlab.pyfunc.load_model(f"runs:/{run_id}/other")
    assert "no model named 'other'" in caught.value.message
    # A path inside the logged model is found there.
    location = resolve_model_uri(f"runs:/{run_id}/model/MLmodel", runlab.MlflowClient())
    assert location.endswith(f"/models/{info.model_id}/artifacts/MLmodel")


def test_a_run_without_logged_models_costs_no_check() -> None:
    with runlab.start_run() as run:
        pass
    root = runlab.MlflowClient().get_run(run.info.run_id).info.artifact_uri
    # No logged model came from the run, so the run's artifacts are not listed and no logged
    # model is searched: the URI resolves from get_run alone (loading then reports a miss).
    location = resolve_model_uri(f"runs:/{run.info.run_id}/model", runlab.MlflowClient())
    assert location == f"{root}/model"


def test_registering_a_runs_uri_of_an_mlflow_logged_model() -> None:
    with mlflow.start_run() as run:
        info = log_mlflow_multiplier(1)
    name = f"reg-{uuid.uuid4().hex[:8]}"
    version = runlab.register_model(f"runs:/{run.info.run_id}/model", name)
    # As MLflow 3 registers it: the logged model is the source, linked to the run.
    assert (version.source, version.run_id, version.model_id) == (
        f"models:/{info.model_id}",
        run.info.run_id,
        info.model_id,
    )
    loaded = runlab.pyfunc.load_model(f"models:/{name}/{version.version}", trusted=True)
    assert loaded is not None
