"""MLflow's own ``mlflow.sklearn.autolog()`` (mlflow-skinny 3.17.2) and runlab's, fitting the same
estimators against one ``runlab server``, record the same keys.

Both sides train the same small models on the same data and evaluate them the same way; then
MLflow's client reads both runs back from the server and compares params, metrics (training and
post-training), the estimator tags, the artifacts and the dataset inputs, and for a grid search
the child runs. Values may differ where MLflow's are timings; the names must not. Models are left
out on both sides (MLflow 3 logs them as logged models, runlab under the run's artifacts: that
difference is the model format's, not autologging's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn.metrics
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

import runlab
import runlab.sklearn
from support.servers import ProxiedRunlabServer
from support.side_by_side import Server, mlflow_client

pytestmark = [
    pytest.mark.slow,
    # MLflow 3.17.2 computes training_log_loss with log_loss's old keyword, which scikit-learn 1.9
    # deprecates; without this MLflow's metric fails and the comparison would be of its warning.
    pytest.mark.filterwarnings("ignore:`y_pred` was renamed to `y_proba`:FutureWarning"),
]

ESTIMATOR_TAGS = ("mlflow.autologging", "estimator_name", "estimator_class")


@pytest.fixture
def client(
    runlab_server: ProxiedRunlabServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[MlflowClient]:
    """MLflow's client of the runlab server; runlab's fluent API pointed at it too."""
    server = Server("runlab", runlab_server.url, tmp_path)
    with mlflow_client(server, monkeypatch) as mlflow_side:
        runlab.set_tracking_uri(runlab_server.url)
        try:
            yield mlflow_side
        finally:
            runlab.sklearn.autolog(disable=True)
            runlab.flush()
            runlab.set_tracking_uri(None)


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=60) > 0).astype(int)
    return X[:40], y[:40], X[40:], y[40:]


def train_and_evaluate(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray
) -> None:
    """The user's script: the same calls, under the same variable names, for both."""
    model = LogisticRegression(C=0.5).fit(X_train, y_train)
    predictions = model.predict(X_test)
    sklearn.metrics.accuracy_score(y_test, predictions)
    sklearn.metrics.f1_score(y_test, predictions)
    model.score(X_test, y_test)


def with_mlflow(train: Any, *args: Any) -> str:
    import mlflow
    import mlflow.sklearn

    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        train(*args)
    finally:
        mlflow.sklearn.autolog(disable=True)
    run = mlflow.last_active_run()
    assert run is not None
    return run.info.run_id


def with_runlab(train: Any, *args: Any) -> str:
    runlab.sklearn.autolog(log_models=False)
    try:
        train(*args)
    finally:
        runlab.sklearn.autolog(disable=True)
    run = runlab.last_active_run()
    assert run is not None
    return run.info.run_id


def recorded(client: MlflowClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id)
    return {
        "params": set(run.data.params),
        "metrics": set(run.data.metrics),
        "tags": {k: run.data.tags.get(k) for k in ESTIMATOR_TAGS},
        "artifacts": {f.path for f in client.list_artifacts(run_id)},
        # Names, contexts and shapes (runlab's digests cover all rows; MLflow's the first 10,000).
        "datasets": sorted(
            (d.dataset.name, d.dataset.profile, sorted((t.key, t.value) for t in d.tags))
            for d in run.inputs.dataset_inputs
        ),
        "status": run.info.status,
    }


def test_a_classifier_and_its_evaluation_record_the_same_keys(client: MlflowClient) -> None:
    X_train, y_train, X_test, y_test = data()
    theirs = recorded(client, with_mlflow(train_and_evaluate, X_train, y_train, X_test, y_test))
    ours = recorded(client, with_runlab(train_and_evaluate, X_train, y_train, X_test, y_test))

    assert theirs["tags"]["mlflow.autologging"] == "sklearn"
    assert "training_roc_auc" in theirs["metrics"]
    assert "accuracy_score_X_test" in theirs["metrics"]
    assert "LogisticRegression_score_X_test" in theirs["metrics"]
    assert ours == theirs


def grid_search(X_train: np.ndarray, y_train: np.ndarray) -> None:
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=2).fit(X_train, y_train)


def children(client: MlflowClient, parent_id: str) -> list[tuple[set[str], set[str], Any]]:
    experiment_id = client.get_run(parent_id).info.experiment_id
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    return sorted(
        (
            (set(run.data.params), set(run.data.metrics), run.data.tags.get("estimator_name"))
            for run in found
        ),
        key=repr,
    )


def test_a_grid_search_records_the_same_keys_and_child_runs(client: MlflowClient) -> None:
    X_train, y_train, _, _ = data()
    their_id = with_mlflow(grid_search, X_train, y_train)
    our_id = with_runlab(grid_search, X_train, y_train)
    theirs, ours = recorded(client, their_id), recorded(client, our_id)
    assert {"best_C", "cv"} <= theirs["params"]
    assert {"best_cv_score", "training_score"} <= theirs["metrics"]
    assert "cv_results.csv" in theirs["artifacts"]
    assert ours == theirs
    their_children = children(client, their_id)
    assert len(their_children) == 3
    assert children(client, our_id) == their_children
