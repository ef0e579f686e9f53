"""``runlab.evaluate`` against MLflow 3.17.2's own ``mlflow.models.evaluate`` on the same models and
data, both through one ``runlab server``.

MLflow logs each scikit-learn model (as a logged model, MLflow 3's way) and evaluates it; runlab
evaluates the very same logged model by its ``models:/m-…`` URI. The metric names must be the same
and the values agree to 1e-9; the artifact names MLflow logs must be among runlab's. MLflow's
client then reads the logged model back and finds runlab's evaluation metrics on it, with the
dataset's name and digest.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import runlab
from runlab.models.trust import TRUSTED_SOURCES_ENV
from support.servers import ProxiedRunlabServer
from support.side_by_side import Server, mlflow_client

pytestmark = pytest.mark.slow  # a runlab server process
sklearn_linear = pytest.importorskip("sklearn.linear_model")
pytest.importorskip("matplotlib")


@pytest.fixture
def client(
    runlab_server: ProxiedRunlabServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[MlflowClient]:
    """MLflow's client of the runlab server, runlab's fluent API pointed at it too; MLflow's
    pickled models trusted by runlab, as an operator would trust this server's models."""
    server = Server("runlab", runlab_server.url, tmp_path)
    with mlflow_client(server, monkeypatch) as mlflow_side:
        monkeypatch.setenv(TRUSTED_SOURCES_ENV, "models:/,runs:/")
        runlab.set_tracking_uri(runlab_server.url)
        try:
            yield mlflow_side
        finally:
            runlab.flush()
            runlab.set_tracking_uri(None)


def _features() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])


def _cases() -> dict[str, tuple[Any, pd.DataFrame, str]]:
    frame = _features()
    binary = frame.assign(label=((frame.a + frame.b) > 0).astype(int))
    multiclass = frame.assign(label=np.digitize(frame.a, [-0.5, 0.5]))
    noise = np.random.default_rng(1).normal(size=len(frame)) * 0.1
    regression = frame.assign(label=frame.a * 2 + 1 + noise)
    x = frame[["a", "b", "c"]]
    return {
        "binary": (sklearn_linear.LogisticRegression().fit(x, binary.label), binary, "classifier"),
        "multiclass": (
            sklearn_linear.LogisticRegression().fit(x, multiclass.label),
            multiclass,
            "classifier",
        ),
        "regressor": (
            sklearn_linear.LinearRegression().fit(x, regression.label),
            regression,
            "regressor",
        ),
    }


def _with_mlflow(estimator: Any, frame: pd.DataFrame, model_type: str) -> tuple[str, Any]:
    import mlflow
    import mlflow.sklearn

    # MLflow's own warnings on this path (schema hints, shap missing) are not under test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(estimator, name="model")
            result = mlflow.models.evaluate(
                info.model_uri, frame, targets="label", model_type=model_type
            )
    return str(info.model_id), result


@pytest.mark.parametrize("case", ["binary", "multiclass", "regressor"])
def test_same_metrics_as_mlflow(case: str, client: MlflowClient) -> None:
    estimator, frame, model_type = _cases()[case]
    model_id, theirs = _with_mlflow(estimator, frame, model_type)

    dataset = runlab.data.from_pandas(frame, targets="label", name="holdout")
    with runlab.start_run() as run:
        ours = runlab.evaluate(f"models:/{model_id}", dataset, model_type=model_type)

    assert set(ours.metrics) == set(theirs.metrics)
    for name, value in theirs.metrics.items():
        assert math.isclose(ours.metrics[name], float(value), rel_tol=1e-9, abs_tol=1e-9), name
    assert set(theirs.artifacts) <= set(ours.artifacts)

    # MLflow's client sees runlab's metrics on the logged model, by dataset.
    logged = client.get_logged_model(model_id)
    by_us = {m.key: m for m in logged.metrics if m.run_id == run.info.run_id}
    assert set(by_us) == set(ours.metrics)
    assert {(m.dataset_name, m.dataset_digest) for m in by_us.values()} == {
        ("holdout", dataset.digest)
    }
    assert client.get_run(run.info.run_id).data.tags["runlab.evaluation.model"] == (
        f"models:/{model_id}"
    )
