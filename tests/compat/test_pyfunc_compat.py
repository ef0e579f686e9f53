"""Saved models cross between runlab and the real MLflow (3.17.2) in both directions.

scikit-learn and custom pyfunc models saved by runlab load with ``mlflow.pyfunc.load_model`` (and
``mlflow.sklearn.load_model``) and predict the same; models MLflow saves load with runlab's. The
last test crosses a tracking server too: runlab logs and registers a model on ``runlab server``,
and MLflow's client loads it back by ``models:/`` URI through the server's artifact proxy.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
from support.cli_server import runlab_cli_server
from support.servers import ServerProcess
from support.tracking_state import reset_tracking_state

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("mlflow.pyfunc")
pytest.importorskip("mlflow.sklearn")

pd = pytest.importorskip("pandas")
ensemble = pytest.importorskip("sklearn.ensemble")

# MLflow asks for type hints on predict (a UserWarning) when it loads a PythonModel without them.
pytestmark = pytest.mark.filterwarnings("ignore:.*type hints to the `predict` method:UserWarning")


class AddOffset(runlab.pyfunc.PythonModel):
    """A runlab custom model reading an artifact."""

    def load_context(self, context: Any) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input + self.offset


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((30, 3)), columns=["a", "b", "c"])
    return features, (features["a"] > 0.5).astype(int)


def _forest() -> Any:
    features, target = _data()
    return ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)


@pytest.mark.parametrize("serialization_format", ["skops", "cloudpickle"])
def test_runlab_sklearn_model_loads_in_mlflow(tmp_path: Path, serialization_format: str) -> None:
    features, _ = _data()
    forest = _forest()
    runlab.sklearn.save_model(
        forest,
        tmp_path / "m",
        serialization_format=serialization_format,
        input_example=features.head(2),
    )
    expected = forest.predict(features)
    assert np.array_equal(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features), expected)
    assert np.array_equal(
        mlflow.sklearn.load_model(str(tmp_path / "m")).predict(features), expected
    )
    # MLflow reads runlab's signature and input example.
    info = mlflow.models.Model.load(str(tmp_path / "m"))
    assert info.signature.inputs.input_names() == ["a", "b", "c"]
    assert list(info.load_input_example(str(tmp_path / "m")).columns) == ["a", "b", "c"]


@pytest.mark.parametrize("skops", [True, False])
def test_mlflow_sklearn_model_loads_in_runlab(tmp_path: Path, skops: bool) -> None:
    features, _ = _data()
    forest = _forest()
    options: dict[str, Any] = (
        {"skops_trusted_types": ["sklearn.tree._tree.Tree"]}
        if skops
        else {"serialization_format": "cloudpickle"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation notes while saving
        mlflow.sklearn.save_model(
            forest, str(tmp_path / "m"), input_example=features.head(2), **options
        )
    expected = forest.predict(features)
    # MLflow's cloudpickle runs code when loaded, so runlab loads it only when told to trust it.
    trusted = not skops
    model = runlab.pyfunc.load_model(tmp_path / "m", trusted=trusted)
    assert np.array_equal(model.predict(features), expected)
    native = runlab.sklearn.load_model(tmp_path / "m", trusted=trusted)
    assert np.array_equal(native.predict(features), expected)
    # The signature MLflow wrote is enforced by runlab: a wrong column type is refused.
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'a'"):
        model.predict(features.assign(a="x"))


def test_runlab_python_model_loads_in_mlflow(tmp_path: Path) -> None:
    (tmp_path / "offset.txt").write_text("1.5")
    runlab.pyfunc.save_model(
        tmp_path / "m",
        python_model=AddOffset(),
        artifacts={"offset": str(tmp_path / "offset.txt")},
        input_example=pd.DataFrame({"x": [1.0]}),
    )
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert loaded.predict(pd.DataFrame({"x": [1.0, 2.0]}))["x"].tolist() == [2.5, 3.5]


def test_mlflow_python_model_loads_in_runlab(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        # MLflow asks for type hints when such a class is defined; defining it here keeps the
        # warning out of collection.
        warnings.simplefilter("ignore")

        class MlflowDouble(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
                return model_input * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(
            str(tmp_path / "m"), python_model=MlflowDouble(), input_example=np.array([[1.0, 2.0]])
        )
    loaded = runlab.pyfunc.load_model(tmp_path / "m", trusted=True)  # a cloudpickle
    assert loaded.predict(np.array([[1.0, 3.0]])).tolist() == [[2.0, 6.0]]
    # MLflow's tensor signature is enforced: a column count mismatch is refused.
    with pytest.raises(runlab.models.SchemaEnforcementError):
        loaded.predict(np.array([[1.0, 2.0, 3.0]]))


@pytest.fixture
def runlab_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A ``runlab server`` process (artifacts proxied, registry on) that both clients use."""
    # No experiment or run chosen by an earlier test (MLflow's fluent API leaves
    # MLFLOW_EXPERIMENT_ID in the environment, and runlab honours it).
    for name in [n for n in os.environ if n.startswith(("MLFLOW_", "RUNLAB_"))]:
        monkeypatch.delenv(name)
    (tmp_path / "server").mkdir()
    server: ServerProcess = runlab_cli_server(tmp_path / "server")
    server.start()
    reset_tracking_state()
    runlab.set_tracking_uri(server.url)
    mlflow.set_tracking_uri(server.url)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        yield server.url
    finally:
        reset_tracking_state()
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]
        server.stop()


def test_runlab_logs_to_a_server_and_mlflow_loads_by_registry_uri(runlab_tracking: str) -> None:
    features, _ = _data()
    forest = _forest()
    with runlab.start_run():
        info = runlab.sklearn.log_model(
            forest, "model", registered_model_name="compat-forest", input_example=features.head(2)
        )
    assert info.registered_model_version == 1
    expected = forest.predict(features)
    from_mlflow = mlflow.pyfunc.load_model("models:/compat-forest/1")
    assert np.array_equal(from_mlflow.predict(features), expected)
    from_runlab = runlab.pyfunc.load_model("models:/compat-forest/1")
    assert np.array_equal(from_runlab.predict(features), expected)
    assert np.array_equal(runlab.pyfunc.load_model(info.model_uri).predict(features), expected)
