"""extra_metrics: make_metric functions get what their parameters name, numbers and MetricValue
aggregates are logged, per-row scores join the results table."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.models import MetricValue, make_metric


def test_extra_metrics_are_logged_with_the_defaults(
    client: runlab.MlflowClient, regression_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = regression_data
    seen: dict[str, Any] = {}

    def worst_error(predictions: pd.Series, targets: pd.Series, metrics: dict[str, Any]) -> float:
        seen["mae"] = metrics["mean_absolute_error"].aggregate_results["mean_absolute_error"]
        return float((predictions - targets).abs().max())

    def errors(predictions: pd.Series, targets: pd.Series) -> MetricValue:
        per_row = (predictions - targets).abs()
        return MetricValue(scores=per_row.tolist(), aggregate_results={"p50": per_row.median()})

    def uses_a_column(predictions: pd.Series, a: pd.Series) -> float:
        return float((predictions * a).sum())

    result = runlab.evaluate(
        model,
        frame,
        targets="label",
        model_type="regressor",
        extra_metrics=[
            make_metric(eval_fn=worst_error, greater_is_better=False),
            make_metric(eval_fn=errors, greater_is_better=False, name="abs_error"),
            make_metric(eval_fn=uses_a_column, greater_is_better=True),
        ],
    )
    predicted = model.predict(frame[["a", "b", "c"]])
    residual = (predicted - frame["label"]).abs()
    assert result.metrics["worst_error"] == pytest.approx(residual.max())
    assert result.metrics["worst_error"] == pytest.approx(result.metrics["max_error"])
    assert seen["mae"] == result.metrics["mean_absolute_error"]
    assert result.metrics["abs_error/p50"] == pytest.approx(residual.median())
    assert result.metrics["uses_a_column"] == pytest.approx((predicted * frame["a"]).sum())
    logged = client.get_run(result.run_id).data.metrics
    assert {"worst_error", "abs_error/p50", "uses_a_column"} <= set(logged)
    table = runlab.load_table("eval_results_table.json", run_ids=[result.run_id])
    assert table["abs_error/score"].tolist() == pytest.approx(residual.tolist())


def test_make_metric_checks_its_arguments() -> None:
    with pytest.raises(InvalidParameter, match=r"needs name= for an eval_fn without"):
        make_metric(eval_fn=lambda predictions: 1.0, greater_is_better=True)
    with pytest.raises(InvalidParameter, match=r"greater_is_better=True or False"):
        make_metric(eval_fn=len, greater_is_better="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"without '/'"):
        make_metric(eval_fn=len, greater_is_better=True, name="a/b")
    metric = make_metric(eval_fn=len, greater_is_better=True)
    assert metric.name == "len" and metric.long_name == "len"


def test_a_parameter_nobody_can_fill_is_named(
    tracking_uri: str, regression_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = regression_data

    def wants(predictions: pd.Series, weights: pd.Series) -> float:
        return 0.0

    with pytest.raises(InvalidParameter, match=r"Metric 'wants': its eval_fn parameter 'weights'"):
        runlab.evaluate(
            model,
            frame,
            targets="label",
            model_type="regressor",
            extra_metrics=[make_metric(eval_fn=wants, greater_is_better=True)],
        )
    with pytest.raises(InvalidParameter, match=r"is not a metric; wrap the function"):
        runlab.evaluate(
            model, frame, targets="label", model_type="regressor", extra_metrics=[wants]
        )
