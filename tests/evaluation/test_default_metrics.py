"""runlab.evaluate's default metrics and artifacts: MLflow's names, values that agree with MLflow
3.17.2 on the same data, and the metrics recomputed independently with scikit-learn."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import runlab
from runlab.errors import InvalidParameter
from support.mlflow_evaluate_reference import (
    BINARY_FUNCTION_METRICS,
    BINARY_MODEL_ARTIFACTS,
    BINARY_MODEL_METRICS,
    MULTICLASS_FUNCTION_ARTIFACTS,
    MULTICLASS_MODEL_ARTIFACTS,
    MULTICLASS_MODEL_METRICS,
    PER_CLASS_COLUMNS,
    REGRESSOR_MODEL_METRICS,
)

FEATURES = ["a", "b", "c"]


def _close(actual: dict[str, Any], expected: dict[str, Any], tolerance: float = 1e-6) -> None:
    # 1e-6 rather than exact: scikit-learn's solvers may move the last digits between versions;
    # the compat test compares with MLflow itself to 1e-9 on one installation.
    for name, value in expected.items():
        assert math.isclose(actual[name], value, rel_tol=tolerance, abs_tol=tolerance), name


def test_binary_classifier_from_a_runs_uri(
    tracking_uri: str, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    with runlab.start_run() as run:
        info = runlab.sklearn.log_model(model, name="model")
    result = runlab.evaluate(info.model_uri, frame, targets="label", model_type="classifier")

    assert set(result.metrics) == set(BINARY_MODEL_METRICS)
    _close(result.metrics, BINARY_MODEL_METRICS)
    assert set(result.artifacts) == BINARY_MODEL_ARTIFACTS | {"eval_results_table"}
    # No run was active: the evaluation started one and finished it; it is not the model's run.
    assert result.run_id != run.info.run_id
    logged = runlab.get_run(result.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics == pytest.approx({k: float(v) for k, v in result.metrics.items()})
    assert logged.data.tags["runlab.evaluation.model"] == info.model_uri
    assert runlab.active_run() is None


def test_binary_metrics_match_scikit_learn(
    tracking_uri: str, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    x, y = frame[FEATURES], frame["label"]
    predicted, scores = model.predict(x), model.predict_proba(x)[:, 1]
    result = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert result.metrics["true_negatives"] == tn and result.metrics["true_positives"] == tp
    assert result.metrics["false_positives"] == fp and result.metrics["false_negatives"] == fn
    assert result.metrics["f1_score"] == skm.f1_score(y, predicted)
    assert result.metrics["roc_auc"] == skm.roc_auc_score(y, scores)
    assert result.metrics["precision_recall_auc"] == skm.average_precision_score(y, scores)
    assert result.metrics["log_loss"] == skm.log_loss(y, model.predict_proba(x))


def test_multiclass_classifier(
    tracking_uri: str, multiclass_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = multiclass_data
    result = runlab.evaluate(model, frame, targets="label", model_type="classifier")
    assert set(result.metrics) == set(MULTICLASS_MODEL_METRICS)
    _close(result.metrics, MULTICLASS_MODEL_METRICS)
    assert set(result.artifacts) == MULTICLASS_MODEL_ARTIFACTS | {"eval_results_table"}
    per_class = result.artifacts["per_class_metrics"].content
    assert list(per_class.columns) == PER_CLASS_COLUMNS
    assert per_class["positive_class"].tolist() == [0, 1, 2]
    truth = frame["label"] == 1
    predicted = model.predict(frame[FEATURES]) == 1
    row = per_class.iloc[1]
    assert row["true_positives"] == int((truth & predicted).sum())
    assert row["f1_score"] == pytest.approx(skm.f1_score(truth, predicted))


def test_average_and_pos_label_come_from_evaluator_config(
    tracking_uri: str, multiclass_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = multiclass_data
    predicted = model.predict(frame[FEATURES])
    macro = runlab.evaluate(
        model,
        frame,
        targets="label",
        model_type="classifier",
        evaluator_config={"average": "macro"},
    )
    assert macro.metrics["f1_score"] == skm.f1_score(frame["label"], predicted, average="macro")
    labels = np.where(frame["label"] == 2, "yes", "no")
    flipped = runlab.evaluate(
        lambda df: np.where(model.predict(df) == 2, "yes", "no"),
        frame[FEATURES].assign(label=labels),
        targets="label",
        model_type="classifier",
        evaluator_config={"pos_label": "no"},
    )
    expected = skm.recall_score(labels, np.where(predicted == 2, "yes", "no"), pos_label="no")
    assert flipped.metrics["recall_score"] == expected


def test_a_function_gives_label_metrics_only(
    tracking_uri: str,
    binary_data: tuple[pd.DataFrame, Any],
    multiclass_data: tuple[pd.DataFrame, Any],
) -> None:
    frame, model = binary_data
    result = runlab.evaluate(model.predict, frame, targets="label", model_type="classifier")
    assert set(result.metrics) == BINARY_FUNCTION_METRICS
    assert set(result.artifacts) == {"confusion_matrix", "eval_results_table"}
    frame3, model3 = multiclass_data
    result3 = runlab.evaluate(model3.predict, frame3, targets="label", model_type="classifier")
    assert set(result3.artifacts) == MULTICLASS_FUNCTION_ARTIFACTS | {"eval_results_table"}


def test_regressor(tracking_uri: str, regression_data: tuple[pd.DataFrame, Any]) -> None:
    frame, model = regression_data
    y = frame["label"].to_numpy()
    predicted = model.predict(frame[FEATURES])
    result = runlab.evaluate(model, frame, targets="label", model_type="regressor")
    assert set(result.metrics) == REGRESSOR_MODEL_METRICS
    expected = {
        "example_count": 60,
        "mean_absolute_error": skm.mean_absolute_error(y, predicted),
        "mean_squared_error": skm.mean_squared_error(y, predicted),
        "root_mean_squared_error": math.sqrt(skm.mean_squared_error(y, predicted)),
        "r2_score": skm.r2_score(y, predicted),
        "max_error": skm.max_error(y, predicted),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(y, predicted),
        "mean_on_target": y.mean(),
        "sum_on_target": y.sum(),
        "score": model.score(frame[FEATURES], y),
    }
    _close(result.metrics, expected, 1e-12)
    assert set(result.artifacts) == {"residuals_plot", "eval_results_table"}


def test_predictions_column_without_a_model(
    tracking_uri: str, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    frame = frame.assign(pred=model.predict(frame[FEATURES]))
    result = runlab.evaluate(
        data=frame, targets="label", predictions="pred", model_type="classifier"
    )
    assert set(result.metrics) == BINARY_FUNCTION_METRICS
    assert result.metrics["accuracy_score"] == BINARY_MODEL_METRICS["accuracy_score"]
    tags = runlab.get_run(result.run_id).data.tags
    assert "runlab.evaluation.model" not in tags  # there was no model to name


def test_numpy_data_and_runlab_datasets(
    tracking_uri: str, regression_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = regression_data
    features, y = frame[FEATURES].to_numpy(), frame["label"].to_numpy()

    def predict(x: Any) -> Any:  # numpy or pandas in; the model was fitted with column names
        return model.predict(pd.DataFrame(np.asarray(x), columns=FEATURES))

    from_arrays = runlab.evaluate(predict, features, targets=y, model_type="regressor")
    from_numpy = runlab.evaluate(
        predict,
        runlab.data.from_numpy(features, targets=y, name="arrays"),
        model_type="regressor",
    )
    from_pandas = runlab.evaluate(
        predict,
        runlab.data.from_pandas(frame, targets="label", name="frame"),
        model_type="regressor",
    )
    assert from_arrays.metrics == from_numpy.metrics == from_pandas.metrics
    table = from_arrays.tables["eval_results_table"]
    assert list(table.columns) == ["feature_1", "feature_2", "feature_3", "target", "prediction"]
    names = {
        runlab.get_run(r.run_id).inputs.dataset_inputs[0].dataset.name
        for r in (from_numpy, from_pandas)
    }
    assert names == {"arrays", "frame"}


def test_metric_prefix(tracking_uri: str, regression_data: tuple[pd.DataFrame, Any]) -> None:
    frame, model = regression_data
    result = runlab.evaluate(
        model,
        frame,
        targets="label",
        model_type="regressor",
        evaluator_config={"metric_prefix": "val_"},
    )
    assert set(result.metrics) == {f"val_{name}" for name in REGRESSOR_MODEL_METRICS}
    assert set(runlab.get_run(result.run_id).data.metrics) == set(result.metrics)


def test_a_loaded_pyfunc_model_and_feature_names(
    tracking_uri: str, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data
    with runlab.start_run():
        info = runlab.sklearn.log_model(model, name="model")
    loaded = runlab.pyfunc.load_model(info.model_uri)
    result = runlab.evaluate(
        loaded,
        frame.assign(note="not a feature"),
        targets="label",
        feature_names=FEATURES,
        model_type="classifier",
    )
    # The estimator behind the pyfunc model gives scores and its own score(), as from the URI.
    assert set(result.metrics) == set(BINARY_MODEL_METRICS)
    assert "note" not in result.tables["eval_results_table"].columns
    assert "runlab.evaluation.model" not in runlab.get_run(result.run_id).data.tags


def test_a_function_returning_probabilities(
    tracking_uri: str,
    binary_data: tuple[pd.DataFrame, Any],
    multiclass_data: tuple[pd.DataFrame, Any],
) -> None:
    for frame, model in (binary_data, multiclass_data):
        from_object = runlab.evaluate(model, frame, targets="label", model_type="classifier")
        from_scores = runlab.evaluate(
            model.predict_proba, frame, targets="label", model_type="classifier"
        )
        # The same metrics as the estimator itself, except scikit-learn's own score().
        expected = {k: v for k, v in from_object.metrics.items() if k != "score"}
        assert from_scores.metrics == pytest.approx(expected)
        assert set(from_scores.artifacts) == set(from_object.artifacts)


def test_probability_columns_must_match_the_labels(
    tracking_uri: str, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame = binary_data[0]
    with pytest.raises(InvalidParameter, match=r"returned 3 probability columns, but the targets"):
        runlab.evaluate(
            lambda df: np.full((len(df), 3), 1 / 3),
            frame,
            targets="label",
            model_type="classifier",
        )
    assert list(runlab.search_runs(output_format="list")) == []
