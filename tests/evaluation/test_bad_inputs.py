"""Bad input to runlab.evaluate: a clear InvalidParameter, and nothing half-written.

The evaluation computes everything before it touches a run, so after each of these errors no run
exists (none was started) and a run the caller had active holds no metric, tag, artifact or
input from the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.models import MetricThreshold, make_metric

FEATURES = ["a", "b", "c"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(12, 3)), columns=FEATURES)
    frame["label"] = (frame.a > 0).astype(int)
    return frame


def _predict(df: pd.DataFrame) -> Any:
    return (df["a"] > 0).astype(int).to_numpy()


def _failing_metric(predictions: pd.Series, targets: pd.Series) -> float:
    raise ZeroDivisionError("no examples of the rare class")


CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "unknown model type": (
        lambda: runlab.evaluate(_predict, _frame(), targets="label", model_type="clustering"),
        r"model_type must be one of classifier, regressor, got 'clustering'",
    ),
    "language-model type": (
        lambda: runlab.evaluate(
            _predict, _frame(), targets="label", model_type="question-answering"
        ),
        r"language-model evaluation, which runlab does not support",
    ),
    "targets missing from data": (
        lambda: runlab.evaluate(_predict, _frame(), targets="y", model_type="classifier"),
        r"The targets column 'y' \(targets='y'\) is not in data; its columns are",
    ),
    "no targets": (
        lambda: runlab.evaluate(_predict, _frame(), model_type="classifier"),
        r"targets is required",
    ),
    "predictions column missing": (
        lambda: runlab.evaluate(
            data=_frame(), targets="label", predictions="pred", model_type="classifier"
        ),
        r"The predictions column 'pred' \(predictions='pred'\) is not in data",
    ),
    "neither model nor predictions": (
        lambda: runlab.evaluate(data=_frame(), targets="label", model_type="classifier"),
        r"Give a model to evaluate, or model=None with predictions=",
    ),
    "wrong number of predictions": (
        lambda: runlab.evaluate(
            lambda df: _predict(df)[:-2], _frame(), targets="label", model_type="classifier"
        ),
        r"returned 10 predictions for 12 rows of data; it must return exactly one per row",
    ),
    "model that raises": (
        lambda: runlab.evaluate(
            lambda df: df["missing"], _frame(), targets="label", model_type="classifier"
        ),
        r"failed to predict on the evaluation data: KeyError",
    ),
    "empty data": (
        lambda: runlab.evaluate(
            _predict, _frame().iloc[:0], targets="label", model_type="classifier"
        ),
        r"data has no rows",
    ),
    "regressor on string targets": (
        lambda: runlab.evaluate(
            lambda df: np.zeros(len(df)),
            _frame().assign(label=lambda f: np.where(f.a > 0, "up", "down")),
            targets="label",
            model_type="regressor",
        ),
        r"A regressor's targets must be numbers, but they hold '(up|down)'.*model_type='classifier'",
    ),
    "numpy targets of the wrong length": (
        lambda: runlab.evaluate(
            _predict, np.zeros((4, 2)), targets=np.zeros(3), model_type="regressor"
        ),
        r"targets must be a 1-D array with one entry per row of data \(4 rows\)",
    ),
    "unsupported data": (
        lambda: runlab.evaluate(_predict, {"a": [1]}, targets="a", model_type="regressor"),
        r"data must be a pandas DataFrame, a numpy array, or a dataset",
    ),
    "not a model": (
        lambda: runlab.evaluate(42, _frame(), targets="label", model_type="classifier"),
        r"model must be a model URI .* got int",
    ),
    "env manager": (
        lambda: runlab.evaluate(
            _predict, _frame(), targets="label", model_type="classifier", env_manager="uv"
        ),
        r"env_manager='uv' is not supported",
    ),
    "custom metric that raises": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            extra_metrics=[make_metric(eval_fn=_failing_metric, greater_is_better=True)],
        ),
        r"Metric '_failing_metric' failed: its eval_fn raised ZeroDivisionError: no examples",
    ),
    "custom metric returning text": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            extra_metrics=[
                make_metric(eval_fn=lambda predictions: "high", greater_is_better=True, name="t")
            ],
        ),
        r"Metric 't' returned 'high'; an eval_fn must return a number",
    ),
    "threshold on a metric that does not exist": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            validation_thresholds={"acc": MetricThreshold(threshold=0.5, greater_is_better=True)},
        ),
        r"names metric 'acc', which the candidate model's evaluation did not produce; its "
        r"metrics are \['accuracy_score'",
    ),
    "change threshold without a baseline": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            validation_thresholds={
                "f1_score": MetricThreshold(min_absolute_change=0.01, greater_is_better=True)
            },
        ),
        r"compare against a baseline model, but no baseline was given",
    ),
    "other evaluators": (
        lambda: runlab.evaluate(
            _predict, _frame(), targets="label", model_type="classifier", evaluators=["shap"]
        ),
        r"runlab has only the default evaluator",
    ),
    "custom artifacts": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            custom_artifacts=[lambda *args: {}],
        ),
        r"custom_artifacts is not supported",
    ),
    "unknown average": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            evaluator_config={"average": "median"},
        ),
        r"evaluator_config\['average'\] must be one of micro, macro, weighted",
    ),
    "positive label not among the labels": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            evaluator_config={"pos_label": 7},
        ),
        r"evaluator_config\['pos_label'\] is 7, which is not one of the labels \[0, 1\]",
    ),
    "targets outside the label list": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            evaluator_config={"label_list": [1]},
        ),
        r"The targets hold labels \['0'\] that evaluator_config\['label_list'\]",
    ),
    "feature names not in data": (
        lambda: runlab.evaluate(
            _predict,
            _frame(),
            targets="label",
            model_type="classifier",
            feature_names=["a", "z"],
        ),
        r"feature_names lists \['z'\], which data does not have",
    ),
    "missing logged model id": (
        lambda: runlab.evaluate(
            _predict, _frame(), targets="label", model_type="classifier", model_id="m-missing"
        ),
        r"m-missing",
    ),
    "missing model URI": (
        lambda: runlab.evaluate(
            "models:/no-such-model/1", _frame(), targets="label", model_type="classifier"
        ),
        r"no-such-model",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_nothing_is_logged_without_an_active_run(case: str, client: runlab.MlflowClient) -> None:
    call, message = CASES[case]
    with pytest.raises(runlab.RunlabError, match=message):
        call()
    assert runlab.active_run() is None
    assert list(client.search_runs(["0"])) == []  # no run was started


@pytest.mark.parametrize(
    "case", ["wrong number of predictions", "custom metric that raises", "empty data"]
)
def test_the_active_run_is_left_as_it_was(case: str, client: runlab.MlflowClient) -> None:
    call, message = CASES[case]
    with runlab.start_run() as run:
        with pytest.raises(InvalidParameter, match=message):
            call()
        assert runlab.active_run() is not None
    after = client.get_run(run.info.run_id)
    assert after.info.status == "FINISHED"
    assert after.data.metrics == {}
    assert "runlab.evaluation.model" not in after.data.tags
    assert after.inputs.dataset_inputs == []
    assert client.list_artifacts(run.info.run_id) == []
