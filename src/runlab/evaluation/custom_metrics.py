"""User-defined metrics for :func:`runlab.evaluate`: ``make_metric`` and ``MetricValue``.

A metric is a function; :func:`runlab.evaluate` calls it with the arguments its parameters
name: ``predictions`` and ``targets`` (pandas Series), ``metrics`` (the metrics computed so far,
each as a :class:`MetricValue`), ``inputs`` (the feature frame) and any column of the evaluation
data by its name. It returns a number (logged under the metric's name) or a
:class:`MetricValue`, whose ``aggregate_results`` are logged as ``<name>/<aggregate>`` and whose
per-row ``scores`` become a column of the per-row results table.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "EvaluationMetric",
    "MetricComputationError",
    "MetricValue",
    "make_metric",
]


class MetricComputationError(InvalidParameter):
    """A user-defined metric raised or returned something that is not a metric value."""


@dataclass(frozen=True)
class MetricValue:
    """A metric's result: per-row ``scores`` (and ``justifications``) and ``aggregate_results``
    (aggregate name -> number)."""

    scores: Sequence[Any] | None = None
    justifications: Sequence[str] | None = None
    aggregate_results: Mapping[str, float] | None = field(default=None)


@dataclass(frozen=True)
class EvaluationMetric:
    """A named metric function for ``extra_metrics``; build one with :func:`make_metric`."""

    eval_fn: Callable[..., Any]
    name: str
    greater_is_better: bool
    long_name: str | None = None
    version: str | None = None
    metric_details: str | None = None
    metric_metadata: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return f"EvaluationMetric(name={self.name}, greater_is_better={self.greater_is_better})"


def make_metric(
    *,
    eval_fn: Callable[..., Any],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
    metric_metadata: Mapping[str, Any] | None = None,
) -> EvaluationMetric:
    """A metric for ``evaluate(extra_metrics=[...])``.

    ``eval_fn`` receives the arguments its parameters name (see the module docstring) and returns
    a number or a :class:`MetricValue`. ``name`` defaults to the function's name (a lambda needs
    one). ``greater_is_better`` says which direction is an improvement.
    """
    if not callable(eval_fn):
        raise InvalidParameter(f"make_metric needs a callable eval_fn, got {eval_fn!r}.")
    if not isinstance(greater_is_better, bool):
        raise InvalidParameter(
            f"make_metric needs greater_is_better=True or False, got {greater_is_better!r}."
        )
    if name is None:
        name = getattr(eval_fn, "__name__", None)
        if not name or name == "<lambda>":
            raise InvalidParameter(
                "make_metric needs name= for an eval_fn without a usable __name__ (a lambda)."
            )
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise InvalidParameter(
            f"A metric name must be a non-empty string without '/', got {name!r} ('/' "
            "separates a metric from its aggregates)."
        )
    return EvaluationMetric(
        eval_fn=eval_fn,
        name=name,
        greater_is_better=greater_is_better,
        long_name=long_name or name,
        version=version,
        metric_details=metric_details,
        metric_metadata=metric_metadata,
    )


def check_extra_metrics(extra_metrics: Any) -> list[EvaluationMetric]:
    """The list of extra metrics, or InvalidParameter naming what is wrong."""
    if extra_metrics is None:
        return []
    if isinstance(extra_metrics, EvaluationMetric):
        extra_metrics = [extra_metrics]
    if not isinstance(extra_metrics, (list, tuple)):
        raise InvalidParameter(
            "extra_metrics must be a list of metrics made with runlab.models.make_metric, got "
            f"{type(extra_metrics).__name__}."
        )
    for metric in extra_metrics:
        if not isinstance(metric, EvaluationMetric):
            raise InvalidParameter(
                f"extra_metrics holds {metric!r}, which is not a metric; wrap the function with "
                "runlab.models.make_metric(eval_fn=..., greater_is_better=..., name=...)."
            )
    names = [m.name for m in extra_metrics]
    if len(set(names)) != len(names):
        raise InvalidParameter(f"extra_metrics has the same name more than once: {names}.")
    return list(extra_metrics)


@dataclass
class CustomMetricOutput:
    """What running the extra metrics produced: logged metrics and per-row score columns."""

    metrics: dict[str, float] = field(default_factory=dict)
    score_columns: dict[str, list[Any]] = field(default_factory=dict)


def _arguments(
    metric: EvaluationMetric, available: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    try:
        signature = inspect.signature(metric.eval_fn)
    except (TypeError, ValueError):  # a builtin without a signature: give the usual two
        return [available["predictions"], available["targets"]], {}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in available:
            value = available[param.name]
        elif param.default is not param.empty:
            continue
        else:
            raise MetricComputationError(
                f"Metric {metric.name!r}: its eval_fn parameter {param.name!r} matches nothing "
                f"evaluate can pass (predictions, targets, metrics, inputs or a data column: "
                f"{sorted(k for k in available if k not in ('predictions', 'targets', 'metrics', 'inputs'))})."
            )
        if param.kind == param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[param.name] = value
    return args, kwargs


def _number(metric_name: str, value: Any) -> float:
    """``value`` as a float (NaN stays NaN, as MLflow logs it); text and None are errors."""
    problem = MetricComputationError(
        f"Metric {metric_name!r} returned {value!r}; an eval_fn must return a number or a "
        "runlab.models.MetricValue."
    )
    if isinstance(value, (str, bytes)):  # float("1.5") would pass; text is still a mistake
        raise problem
    try:
        return float(value)
    except (TypeError, ValueError):
        raise problem from None


def run_extra_metrics(
    extra_metrics: Sequence[EvaluationMetric],
    predictions: Any,
    targets: Any,
    inputs: Any,
    builtin_metrics: Mapping[str, float],
) -> CustomMetricOutput:
    """Call each extra metric in order; later ones see earlier ones in ``metrics``.

    A metric that raises, asks for an argument nobody has, or returns something else than a
    number or MetricValue fails the evaluation with MetricComputationError naming it.
    """
    out = CustomMetricOutput()
    seen: dict[str, MetricValue] = {
        name: MetricValue(aggregate_results={name: value})
        for name, value in builtin_metrics.items()
    }
    row_count = len(predictions)
    for metric in extra_metrics:
        available: dict[str, Any] = {}
        if inputs is not None and hasattr(inputs, "columns"):
            available.update({str(c): inputs[c] for c in inputs.columns})
        available.update(predictions=predictions, targets=targets, metrics=seen, inputs=inputs)
        args, kwargs = _arguments(metric, available)
        try:
            value = metric.eval_fn(*args, **kwargs)
        except Exception as exc:
            raise MetricComputationError(
                f"Metric {metric.name!r} failed: its eval_fn raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(value, MetricValue):
            aggregates = {
                f"{metric.name}/{key}": _number(metric.name, number)
                for key, number in (value.aggregate_results or {}).items()
            }
            if value.scores is not None:
                scores = list(value.scores)
                if len(scores) != row_count:
                    raise MetricComputationError(
                        f"Metric {metric.name!r} returned {len(scores)} scores for {row_count} "
                        "rows; scores must have one entry per row."
                    )
                out.score_columns[f"{metric.name}/score"] = scores
            out.metrics.update(aggregates)
            seen[metric.name] = value
        elif value is None:
            raise MetricComputationError(
                f"Metric {metric.name!r} returned None; return a number or a MetricValue."
            )
        else:
            number = _number(metric.name, value)
            out.metrics[metric.name] = number
            seen[metric.name] = MetricValue(aggregate_results={metric.name: number})
    return out
