"""scikit-learn autologging's post-training metrics: model.score() and sklearn.metrics functions
on a model's predictions log into the run the model was trained in, under MLflow's names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import runlab
import runlab.sklearn


def split_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=90) > 0).astype(int)
    return {"X": X, "y": y}


def evaluate(model: Any, data: Any, labels: Any) -> Any:
    """A helper of the user's: the metric is named after the caller's variable, not ``data``."""
    return model.score(data, labels)


def test_score_and_metric_functions_log_into_the_ended_training_run(tracking: str) -> None:
    d = split_data()
    X_train, y_train = d["X"][:50], d["y"][:50]
    X_test, y_test = d["X"][50:70], d["y"][50:70]
    X_val, y_val = d["X"][70:], d["y"][70:]
    runlab.sklearn.autolog()
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    model = LogisticRegression().fit(X_train, y_train)
    run = runlab.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    run_id = run.info.run_id

    predictions = model.predict(X_test)
    first = accuracy_score(y_test, predictions)
    accuracy_score(y_test, predictions)
    f1 = f1_score(y_test, predictions)
    score = model.score(X_test, y_test)
    proba = model.predict_proba(X_val)
    auc = roc_auc_score(y_val, proba[:, 1])  # a view of the prediction counts too
    helper_score = evaluate(model, X_val, y_val)
    model.score(X_val[:5], y_val[:5])  # data with no name
    X_test = X_val  # another object under a name already used
    accuracy_score(y_val, model.predict(X_test))
    accuracy_score(y_val, model.predict(X_val) + 0)  # derived from a prediction: not followed

    runlab.sklearn.autolog(disable=True)  # the expected values below are not logged
    client = runlab.MlflowClient()
    metrics = client.get_run(run_id).data.metrics
    post = {k: v for k, v in metrics.items() if not k.startswith("training_")}
    assert post == pytest.approx(
        {
            "accuracy_score_X_test": first,
            "accuracy_score-2_X_test": first,
            "f1_score_X_test": f1,
            "LogisticRegression_score_X_test": score,
            "roc_auc_score_X_val": auc,
            "LogisticRegression_score-2_X_val": helper_score,
            "LogisticRegression_score-3_unknown_dataset": model.score(X_val[:5], y_val[:5]),
            "accuracy_score-3_X_test-2": accuracy_score(y_val, model.predict(X_val)),
        }
    )
    history = client.get_metric_history(run_id, "f1_score_X_test")
    assert [m.step for m in history] == [0]
    info = runlab.artifacts.load_dict(f"runs:/{run_id}/metric_info.json")
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=predictions)"
    assert info["LogisticRegression_score_X_test"] == "LogisticRegression.score(X=X_test, y=y_test)"
    assert set(info) == set(post)
    assert client.get_run(run_id).info.status == "FINISHED"

    # The data the model was evaluated on are the run's "eval" datasets, each object once.
    inputs = client.get_run(run_id).inputs.dataset_inputs
    contexts = sorted(
        (dict((t.key, t.value) for t in d.tags)["mlflow.data.context"], d.dataset.profile)
        for d in inputs
    )
    assert [context for context, _ in contexts] == ["eval", "eval", "eval", "train"]
    assert sorted(profile.split("]")[0] for _, profile in contexts[:3]) == [
        '{"features_shape": [20, 3',
        '{"features_shape": [20, 3',
        '{"features_shape": [5, 3',
    ]


def test_each_model_logs_into_its_own_run_and_untracked_models_log_nothing(
    sqlite_url: str,
) -> None:
    runlab.set_tracking_uri(sqlite_url)
    d = split_data()
    X, y = d["X"], d["y"]
    before = LinearRegression().fit(X, X[:, 1])  # trained before autologging: not followed
    runlab.sklearn.autolog()
    from sklearn.metrics import mean_squared_error

    with runlab.start_run() as user_run:
        regressor = LinearRegression().fit(X, X[:, 1])
    classifier = LogisticRegression().fit(X, y)
    classifier_run = runlab.last_active_run()
    assert classifier_run is not None

    mean_squared_error(X[:, 1], regressor.predict(X))
    mean_squared_error(X[:, 1], before.predict(X))
    classifier.score(X, y)
    client = runlab.MlflowClient()
    user_metrics = client.get_run(user_run.info.run_id).data.metrics
    classifier_metrics = client.get_run(classifier_run.info.run_id).data.metrics
    assert "mean_squared_error_X" in user_metrics
    assert "LogisticRegression_score_X" not in user_metrics
    assert "LogisticRegression_score_X" in classifier_metrics
    assert "mean_squared_error_X" not in classifier_metrics
    assert len(runlab.search_runs(output_format="list")) == 2


def test_post_training_metrics_can_be_turned_off(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    d = split_data()
    X, y = d["X"], d["y"]
    runlab.sklearn.autolog(log_post_training_metrics=False)
    from sklearn.metrics import accuracy_score

    model = LogisticRegression().fit(X, y)
    accuracy_score(y, model.predict(X))
    model.score(X, y)
    run = runlab.last_active_run()
    assert run is not None
    assert all(key.startswith("training_") for key in run.data.metrics)
    paths = {f.path for f in runlab.MlflowClient().list_artifacts(run.info.run_id)}
    assert "metric_info.json" not in paths
