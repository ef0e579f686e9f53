"""scikit-learn autologging of parameter searches: best params and score, cv_results.csv, the
best estimator as a model, and child runs for the best candidates."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.tree import DecisionTreeClassifier

import runlab
import runlab.pyfunc
import runlab.sklearn
from runlab.entities import Run


def binary_data(rows: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=rows) > 0).astype(int)
    return X, y


def parent_and_children() -> tuple[Run, list[Run]]:
    parent = runlab.last_active_run()
    assert parent is not None
    children = runlab.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    return parent, children


def test_grid_search(tracking: str) -> None:
    X, y = binary_data()
    grid = {"C": [0.01, 0.1, 1.0, 10.0]}
    runlab.sklearn.autolog(max_tuning_runs=3)
    search = GridSearchCV(LogisticRegression(), grid, cv=2).fit(X, y)
    parent, children = parent_and_children()
    client = runlab.MlflowClient()

    # The search's own params (not its estimator's), and the best candidate's as best_<param>.
    assert parent.data.params == {
        **{k: str(v) for k, v in search.get_params(deep=False).items()},
        "best_C": str(search.best_params_["C"]),
    }
    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.metrics["training_score"] == pytest.approx(search.score(X, y))
    assert "training_accuracy_score" in parent.data.metrics

    text = runlab.artifacts.load_text(f"runs:/{parent.info.run_id}/cv_results.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [float(r["mean_test_score"]) for r in rows] == pytest.approx(
        list(search.cv_results_["mean_test_score"])
    )
    assert [r["param_C"] for r in rows] == ["0.01", "0.1", "1.0", "10.0"]

    model = runlab.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    best = runlab.pyfunc.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    np.testing.assert_array_equal(model.predict(X), search.predict(X))
    np.testing.assert_array_equal(best.predict(X), search.best_estimator_.predict(X))
    best_c = runlab.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator").C
    assert best_c == search.best_params_["C"]

    # Child runs: the 3 best candidates, with the estimator's params as each set them.
    results = search.cv_results_
    best_three = sorted(range(4), key=lambda i: (results["rank_test_score"][i], i))[:3]
    assert len(children) == 3
    by_c = {c.data.params["C"]: client.get_run(c.info.run_id) for c in children}
    assert set(by_c) == {str(grid["C"][i]) for i in best_three}
    for index in best_three:
        child = by_c[str(grid["C"][index])]
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.autologging"] == "sklearn"
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        assert child.data.params["solver"] == "lbfgs"
        assert child.data.metrics["mean_test_score"] == pytest.approx(
            results["mean_test_score"][index]
        )
        assert child.data.metrics["rank_test_score"] == results["rank_test_score"][index]
        assert set(child.data.metrics) == {
            "mean_fit_time",
            "std_fit_time",
            "mean_score_time",
            "std_score_time",
            "mean_test_score",
            "std_test_score",
            "rank_test_score",
        }


def test_randomized_search_every_candidate_and_several_scorers(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    runlab.sklearn.autolog(max_tuning_runs=None, log_models=False)
    search = RandomizedSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 5]},
        n_iter=3,
        cv=2,
        random_state=0,
        scoring={"acc": "accuracy", "f1": "f1"},
        refit="acc",
        return_train_score=True,
    ).fit(X, y)
    parent, children = parent_and_children()
    assert len(children) == 3  # max_tuning_runs=None: all of them
    assert {f"best_{k}" for k in search.best_params_} <= set(parent.data.params)
    metrics = runlab.MlflowClient().get_run(children[0].info.run_id).data.metrics
    assert {"mean_test_acc", "rank_test_f1", "mean_train_acc"} <= set(metrics)
    assert "model" not in {f.path for f in runlab.MlflowClient().list_artifacts(parent.info.run_id)}


def test_search_without_refit_has_no_best_estimator(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    runlab.sklearn.autolog(max_tuning_runs=1)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, refit=False).fit(X, y)
    parent, children = parent_and_children()
    assert parent.info.status == "FINISHED"
    assert len(children) == 1
    assert children[0].data.params["C"] in {"0.1", "1.0"}
    assert "best_C" in parent.data.params
    paths = {f.path for f in runlab.MlflowClient().list_artifacts(parent.info.run_id)}
    assert "cv_results.csv" in paths and "best_estimator" not in paths and "model" not in paths
    assert not any(key.startswith("training_") for key in parent.data.metrics)
