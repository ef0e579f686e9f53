"""MetricThreshold and validate_evaluation_results: every kind of condition passing and failing,
the failure message, bad thresholds, and evaluate(baseline_model=, validation_thresholds=)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import runlab
from runlab.errors import InvalidParameter, RunlabError
from runlab.models import (
    EvaluationResult,
    MetricThreshold,
    ModelValidationFailedException,
    validate_evaluation_results,
)

CANDIDATE = EvaluationResult({"accuracy": 0.80, "loss": 0.30}, {})
BASELINE = EvaluationResult({"accuracy": 0.75, "loss": 0.40}, {})


def _fails(thresholds: dict[str, MetricThreshold], baseline: Any = BASELINE) -> str:
    with pytest.raises(ModelValidationFailedException) as caught:
        validate_evaluation_results(thresholds, CANDIDATE, baseline)
    return caught.value.message


@pytest.mark.parametrize(
    ("threshold", "passes"),
    [
        (MetricThreshold(threshold=0.8, greater_is_better=True), True),  # the bound itself is met
        (MetricThreshold(threshold=0.81, greater_is_better=True), False),
        (MetricThreshold(min_absolute_change=0.05, greater_is_better=True), True),
        (MetricThreshold(min_absolute_change=0.06, greater_is_better=True), False),
        (MetricThreshold(min_relative_change=0.06, greater_is_better=True), True),  # 0.75*1.06
        (MetricThreshold(min_relative_change=0.07, greater_is_better=True), False),
    ],
)
def test_greater_is_better_conditions(threshold: MetricThreshold, passes: bool) -> None:
    thresholds = {"accuracy": threshold}
    if passes:
        assert validate_evaluation_results(thresholds, CANDIDATE, BASELINE) is None
    else:
        assert "accuracy: candidate 0.8" in _fails(thresholds)


@pytest.mark.parametrize(
    ("threshold", "passes"),
    [
        (MetricThreshold(threshold=0.3, greater_is_better=False), True),
        (MetricThreshold(threshold=0.29, greater_is_better=False), False),
        (MetricThreshold(min_absolute_change=0.1, greater_is_better=False), True),
        (MetricThreshold(min_absolute_change=0.11, greater_is_better=False), False),
        (MetricThreshold(min_relative_change=0.25, greater_is_better=False), True),  # 0.4*0.75
        (MetricThreshold(min_relative_change=0.26, greater_is_better=False), False),
    ],
)
def test_lower_is_better_conditions(threshold: MetricThreshold, passes: bool) -> None:
    thresholds = {"loss": threshold}
    if passes:
        assert validate_evaluation_results(thresholds, CANDIDATE, BASELINE) is None
    else:
        assert "loss: candidate 0.3" in _fails(thresholds)


def test_the_message_lists_every_failed_condition_with_its_values() -> None:
    message = _fails(
        {
            "accuracy": MetricThreshold(
                threshold=0.9, min_absolute_change=0.1, greater_is_better=True
            ),
            "loss": MetricThreshold(min_relative_change=0.5, greater_is_better=False),
        }
    )
    assert "3 threshold condition(s) not met" in message
    assert "accuracy: candidate 0.8; threshold 0.9" in message
    assert "accuracy: candidate 0.8, baseline 0.75; min_absolute_change 0.1" in message
    assert "loss: candidate 0.3, baseline 0.4; min_relative_change 0.5" in message


def test_the_error_is_a_runlab_error_with_mlflows_code() -> None:
    with pytest.raises(RunlabError) as caught:
        validate_evaluation_results(
            {"accuracy": MetricThreshold(threshold=0.9, greater_is_better=True)}, CANDIDATE
        )
    assert isinstance(caught.value, ModelValidationFailedException)
    assert caught.value.error_code == "BAD_REQUEST"
    assert [f.condition for f in caught.value.failures] == ["threshold"]


def test_a_zero_baseline_needs_a_strict_improvement_for_a_relative_change() -> None:
    zero = EvaluationResult({"accuracy": 0.0, "loss": 0.0}, {})
    relative = MetricThreshold(min_relative_change=0.5, greater_is_better=True)
    assert validate_evaluation_results({"accuracy": relative}, CANDIDATE, zero) is None
    with pytest.raises(ModelValidationFailedException):
        validate_evaluation_results({"accuracy": relative}, zero, zero)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.5}, r"needs greater_is_better=True or False"),
        ({"threshold": "high", "greater_is_better": True}, r"threshold must be a number"),
        ({"min_absolute_change": -0.1, "greater_is_better": True}, r"must be a positive number"),
        ({"min_relative_change": 0, "greater_is_better": False}, r"must be a positive number"),
        ({"greater_is_better": True}, r"needs at least one of threshold"),
    ],
)
def test_bad_thresholds(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        MetricThreshold(**kwargs)


def test_bad_validation_calls() -> None:
    change = MetricThreshold(min_relative_change=0.1, greater_is_better=True)
    with pytest.raises(InvalidParameter, match=r"no baseline was given"):
        validate_evaluation_results({"accuracy": change}, CANDIDATE)
    with pytest.raises(InvalidParameter, match=r"names metric 'f1', which the candidate"):
        validate_evaluation_results(
            {"f1": MetricThreshold(threshold=0.5, greater_is_better=True)}, CANDIDATE
        )
    with pytest.raises(InvalidParameter, match=r"which the baseline model's evaluation"):
        validate_evaluation_results(
            {"accuracy": change}, CANDIDATE, EvaluationResult({"loss": 1.0}, {})
        )
    with pytest.raises(InvalidParameter, match=r"must be a MetricThreshold"):
        validate_evaluation_results({"accuracy": 0.5}, CANDIDATE)  # type: ignore[dict-item]


def test_evaluate_with_a_baseline_and_thresholds(
    client: runlab.MlflowClient, binary_data: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = binary_data

    def always_one(df: pd.DataFrame) -> Any:
        return [1] * len(df)

    passing = runlab.evaluate(
        model,
        frame,
        targets="label",
        model_type="classifier",
        baseline_model=always_one,
        validation_thresholds={
            "accuracy_score": MetricThreshold(
                threshold=0.9, min_absolute_change=0.2, greater_is_better=True
            )
        },
    )
    assert passing.baseline_model_metrics is not None
    baseline_accuracy = passing.baseline_model_metrics["accuracy_score"]
    assert baseline_accuracy == pytest.approx((frame["label"] == 1).mean())
    # Only the candidate's metrics are logged.
    assert set(client.get_run(passing.run_id).data.metrics) == set(passing.metrics)

    with pytest.raises(ModelValidationFailedException) as caught:
        runlab.evaluate(
            always_one,
            frame,
            targets="label",
            model_type="classifier",
            baseline_model=model,
            validation_thresholds={
                "accuracy_score": MetricThreshold(
                    min_absolute_change=0.0001, greater_is_better=True
                )
            },
        )
    (failure,) = caught.value.failures
    assert (
        failure.metric == "accuracy_score" and failure.baseline == passing.metrics["accuracy_score"]
    )
    # The evaluation itself completed: its run is finished with the metrics logged.
    runs = client.search_runs(["0"], order_by=["attributes.start_time DESC"])
    assert runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["accuracy_score"] == pytest.approx(baseline_accuracy)
