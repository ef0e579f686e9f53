"""Model validation: metric thresholds a candidate model must meet, alone or against a baseline.

A :class:`MetricThreshold` sets up to three conditions on one metric: an absolute bound
(``threshold``), and two improvements over a baseline model (``min_absolute_change``,
``min_relative_change``). :func:`validate_evaluation_results` checks every condition and raises
:class:`ModelValidationFailedException` listing each one that failed, with the values involved.

Mistakes in the thresholds themselves (a metric the evaluation did not produce, a change
condition without a baseline) are :class:`runlab.errors.InvalidParameter`, not validation
failures: they say the check was set up wrongly, not that the model is worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runlab.errors import InvalidParameter, RunlabError

__all__ = [
    "MetricThreshold",
    "ModelValidationFailedException",
    "ThresholdFailure",
    "validate_evaluation_results",
]


class ModelValidationFailedException(RunlabError):
    """A candidate model missed one or more of its metric thresholds.

    ``failures`` holds one :class:`ThresholdFailure` per broken condition; the message lists
    them all. Raised by :func:`runlab.evaluate`, ``result`` is the evaluation that failed (its
    metrics are logged). The error code is MLflow's for this exception (``BAD_REQUEST``).
    """

    default_error_code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        error_code: str | None = None,
        failures: tuple[ThresholdFailure, ...] = (),
    ) -> None:
        super().__init__(message, error_code)
        self.failures = failures
        self.result: Any = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class MetricThreshold:
    """Conditions a candidate model's metric must meet.

    - ``threshold``: the metric must be at least this (``greater_is_better=True``) or at most
      this (``False``);
    - ``min_absolute_change``: the metric must beat the baseline model's by at least this much;
    - ``min_relative_change``: the metric must beat the baseline model's by at least this
      fraction of the baseline's value (0.05 = 5 %).

    ``greater_is_better`` is required: it says which direction "beat" means.
    """

    def __init__(
        self,
        threshold: float | None = None,
        min_absolute_change: float | None = None,
        min_relative_change: float | None = None,
        greater_is_better: bool | None = None,
    ) -> None:
        """Check the conditions now, so a mistake shows where the threshold is written."""
        if not isinstance(greater_is_better, bool):
            raise InvalidParameter(
                "MetricThreshold needs greater_is_better=True or False (which direction is an "
                f"improvement for this metric), got {greater_is_better!r}."
            )
        for name, value in (
            ("threshold", threshold),
            ("min_absolute_change", min_absolute_change),
            ("min_relative_change", min_relative_change),
        ):
            if value is not None and (not _is_number(value) or math.isnan(value)):
                raise InvalidParameter(f"MetricThreshold's {name} must be a number, got {value!r}.")
        for name, value in (
            ("min_absolute_change", min_absolute_change),
            ("min_relative_change", min_relative_change),
        ):
            if value is not None and value <= 0:
                raise InvalidParameter(
                    f"MetricThreshold's {name} must be a positive number (an improvement the "
                    f"candidate must make over the baseline), got {value!r}."
                )
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise InvalidParameter(
                "MetricThreshold needs at least one of threshold, min_absolute_change and "
                "min_relative_change."
            )
        self.threshold = threshold
        self.min_absolute_change = min_absolute_change
        self.min_relative_change = min_relative_change
        self.greater_is_better = greater_is_better

    @property
    def needs_baseline(self) -> bool:
        """True when a condition compares against a baseline model."""
        return self.min_absolute_change is not None or self.min_relative_change is not None

    def __repr__(self) -> str:
        parts = [
            f"{name}={value!r}"
            for name, value in (
                ("threshold", self.threshold),
                ("min_absolute_change", self.min_absolute_change),
                ("min_relative_change", self.min_relative_change),
            )
            if value is not None
        ]
        parts.append(f"greater_is_better={self.greater_is_better!r}")
        return f"MetricThreshold({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetricThreshold) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


@dataclass(frozen=True, slots=True)
class ThresholdFailure:
    """One condition a candidate's metric broke."""

    metric: str
    condition: str  # "threshold", "min_absolute_change" or "min_relative_change"
    candidate: float
    limit: float
    baseline: float | None = None

    def describe(self) -> str:
        """One line naming the metric, its values and the condition broken."""
        base = "" if self.baseline is None else f", baseline {self.baseline!r}"
        return f"{self.metric}: candidate {self.candidate!r}{base}; {self.condition} {self.limit!r}"


def _metrics_of(result: Any, role: str) -> Mapping[str, Any]:
    metrics = result if isinstance(result, Mapping) else getattr(result, "metrics", None)
    if not isinstance(metrics, Mapping):
        raise InvalidParameter(
            f"The {role} result must be an EvaluationResult (or a dict of metrics), got "
            f"{type(result).__name__}."
        )
    return metrics


def _metric_value(metrics: Mapping[str, Any], name: str, role: str) -> float:
    if name not in metrics:
        raise InvalidParameter(
            f"validation_thresholds names metric {name!r}, which the {role} model's evaluation "
            f"did not produce; its metrics are {sorted(metrics)}."
        )
    value = metrics[name]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"The {role} model's metric {name!r} is {value!r}, not a number, so it cannot be "
            "checked against a threshold."
        ) from None


def checked_threshold_types(validation_thresholds: Any) -> dict[str, MetricThreshold]:
    """``validation_thresholds`` as a dict, or InvalidParameter when it is not a mapping of
    metric names to MetricThreshold objects."""
    if not isinstance(validation_thresholds, Mapping):
        raise InvalidParameter(
            "validation_thresholds must be a dict of metric name -> MetricThreshold, got "
            f"{type(validation_thresholds).__name__}."
        )
    for name, threshold in validation_thresholds.items():
        if not isinstance(threshold, MetricThreshold):
            raise InvalidParameter(
                f"validation_thresholds[{name!r}] must be a MetricThreshold, got "
                f"{type(threshold).__name__}."
            )
    return dict(validation_thresholds)


def check_thresholds_are_usable(
    validation_thresholds: Mapping[str, MetricThreshold],
    candidate_metrics: Mapping[str, Any],
    baseline_metrics: Mapping[str, Any] | None,
) -> None:
    """Raise InvalidParameter for thresholds that cannot be checked: wrong types, metrics
    missing, or a change condition with no baseline."""
    for name, threshold in checked_threshold_types(validation_thresholds).items():
        _metric_value(candidate_metrics, name, "candidate")
        if threshold.needs_baseline:
            if baseline_metrics is None:
                raise InvalidParameter(
                    f"The threshold for {name!r} has min_absolute_change or "
                    "min_relative_change, which compare against a baseline model, but no "
                    "baseline was given; pass baseline_model= (or baseline_result=), or use "
                    "threshold= alone."
                )
            _metric_value(baseline_metrics, name, "baseline")


def _failures_of(
    name: str, threshold: MetricThreshold, candidate: float, baseline: float | None
) -> list[ThresholdFailure]:
    better = threshold.greater_is_better
    found: list[ThresholdFailure] = []
    if threshold.threshold is not None:
        met = candidate >= threshold.threshold if better else candidate <= threshold.threshold
        if not met:
            found.append(ThresholdFailure(name, "threshold", candidate, threshold.threshold))
    if baseline is None:
        return found
    if threshold.min_absolute_change is not None:
        change = threshold.min_absolute_change
        met = candidate >= baseline + change if better else candidate <= baseline - change
        if not met:
            found.append(ThresholdFailure(name, "min_absolute_change", candidate, change, baseline))
    if threshold.min_relative_change is not None:
        # Relative to the size of the baseline, so a negative baseline (e.g. a score that can
        # go below zero) still moves the bound in the direction of improvement.
        step = abs(baseline) * threshold.min_relative_change
        met = candidate >= baseline + step if better else candidate <= baseline - step
        if baseline == 0:  # no scale to be relative to: any strict improvement will do
            met = candidate > 0 if better else candidate < 0
        if not met:
            found.append(
                ThresholdFailure(
                    name, "min_relative_change", candidate, threshold.min_relative_change, baseline
                )
            )
    return found


def validate_evaluation_results(
    validation_thresholds: Mapping[str, MetricThreshold],
    candidate_result: Any,
    baseline_result: Any = None,
) -> None:
    """Check a candidate's evaluation against ``validation_thresholds`` (metric -> threshold).

    ``candidate_result`` and ``baseline_result`` are :class:`EvaluationResult` objects (or
    plain dicts of metrics). Returns None when every condition holds; otherwise raises
    :class:`ModelValidationFailedException` listing each failed condition with the candidate's
    value, the baseline's where it matters, and the bound. Thresholds that cannot be checked
    raise :class:`runlab.errors.InvalidParameter` first.
    """
    candidate = _metrics_of(candidate_result, "candidate")
    baseline = None if baseline_result is None else _metrics_of(baseline_result, "baseline")
    check_thresholds_are_usable(validation_thresholds, candidate, baseline)
    failures: list[ThresholdFailure] = []
    for name, threshold in validation_thresholds.items():
        base = (
            _metric_value(baseline, name, "baseline")
            if baseline is not None and threshold.needs_baseline
            else None
        )
        failures.extend(
            _failures_of(name, threshold, _metric_value(candidate, name, "candidate"), base)
        )
    if failures:
        lines = "\n".join(f"  - {failure.describe()}" for failure in failures)
        raise ModelValidationFailedException(
            f"Model validation failed: {len(failures)} threshold condition(s) not met:\n{lines}",
            failures=tuple(failures),
        )
