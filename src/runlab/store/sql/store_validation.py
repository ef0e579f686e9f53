"""Checks the store makes before it writes: the shared rules of :mod:`runlab.validation` plus
the few that only a store needs (search limits, run names, dataset sizes, tag input shapes).

A store checks everything again even though the client already did: a server cannot trust its
clients, and a check here means nothing is half-written. Messages use MLflow's wording where its
clients and tests look for it (see :mod:`runlab.validation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runlab import validation
from runlab.entities import DatasetInput, Metric, MetricColumns, Param, RunTag
from runlab.errors import InvalidParameter
from runlab.store.sql.schema import RUN_NAME_MAX

experiment_name = validation.validate_experiment_name


def experiment_tag(key: Any, value: Any) -> None:
    """An experiment tag's key and value."""
    if not isinstance(value, str):
        raise validation.invalid_value(
            "value", value, f"the value of experiment tag {key!r} must be a string."
        )
    validation.validate_experiment_tag(key, value)


def run_tag(key: Any, value: Any) -> None:
    """A run tag's key and value."""
    if not isinstance(value, str):
        raise validation.invalid_value(
            "value", value, f"the value of tag {key!r} must be a string."
        )
    validation.validate_tag(key, value)


def tag_pairs(tags: Iterable[Any] | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Accept a dict, (key, value) pairs or objects with .key/.value; return (key, value) pairs."""
    if isinstance(tags, Mapping):
        return [(k, v) for k, v in tags.items()]
    pairs: list[tuple[str, str]] = []
    for tag in tags:
        if hasattr(tag, "key") and hasattr(tag, "value"):
            pairs.append((tag.key, tag.value))
        elif isinstance(tag, (tuple, list)) and len(tag) == 2:
            pairs.append((tag[0], tag[1]))
        else:
            raise InvalidParameter(
                f"Cannot read a tag from {tag!r}; pass a dict or key/value pairs."
            )
    return pairs


def search_experiment_id(experiment_id: Any) -> int:
    """An experiment id in a search's list, as the integer the tables hold."""
    try:
        return int(str(experiment_id))
    except ValueError:
        raise InvalidParameter(
            f"Invalid experiment ID {validation.shown(experiment_id)}. Experiment ID must be a "
            "valid integer (experiment ids are integer strings, such as '0')."
        ) from None


def run_name(name: Any) -> None:
    """A run name: a string of at most 250 characters."""
    if not isinstance(name, str):
        raise validation.invalid_value(
            "run_name", name, f"the run name must be a string, got {type(name).__name__}."
        )
    if len(name) > RUN_NAME_MAX:
        raise validation.too_long(
            "run_name", RUN_NAME_MAX, f"the run name is {len(name)} characters long."
        )


def timestamp(value: Any, field: str) -> int:
    """A non-negative integer number of milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise validation.invalid_value(
            field,
            value,
            f"{field} must be a non-negative integer (milliseconds since the epoch).",
        )
    return value


def max_results(value: Any, limit: int | None) -> None:
    """A positive page size, at most ``limit``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameter(
            f"Invalid value {validation.shown(value)} for parameter 'max_results' supplied. It "
            "must be a positive integer."
        )
    if limit is not None and value > limit:
        raise InvalidParameter(
            f"Invalid value {value} for parameter 'max_results' supplied. It must be at most "
            f"{limit}; page through the results with page_token instead."
        )


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> Sequence[Metric]:
    """Check every item of a log-batch and the batch's size limits; returns the metrics as
    :class:`Metric` tuples (or the given :class:`MetricColumns`) with float values and int
    timestamps and steps."""
    validation.validate_batch(len(metrics), [p.key for p in params], len(tags))
    checked: Sequence[Metric]
    if (type(metrics) is MetricColumns and _plain_columns(metrics)) or (
        type(metrics) is not MetricColumns and _plain_metrics(metrics)
    ):
        checked = metrics
    else:
        checked = [_checked_metric(m) for m in metrics]
    for p in params:
        if not isinstance(p.value, str):
            raise InvalidParameter(f"The value of param {p.key!r} must be a string.")
        validation.validate_param(p.key, p.value)
    for t in tags:
        run_tag(t.key, t.value)
    return checked


def _plain_metrics(metrics: Sequence[Metric]) -> bool:
    """True if every point is a Metric of the usual types and ranges, checked column by column."""
    if not metrics:
        return True
    if set(map(type, metrics)) != {Metric}:
        return False
    keys, values, timestamps, steps = tuple(zip(*metrics, strict=True))[:4]
    return _plain_columns(MetricColumns(list(keys), list(values), list(timestamps), list(steps)))


def _plain_columns(columns: MetricColumns) -> bool:
    """True if the columns hold the usual types and ranges.

    Per-column type sets and min/max run in C; a batch of 1000 points costs tens of
    microseconds here instead of a Python-level check per point.
    """
    if not columns:
        return True
    return (
        set(map(type, columns.values)) == {float}
        and set(map(type, columns.timestamps)) == {int}
        and set(map(type, columns.steps)) == {int}
        and min(columns.timestamps) >= 0
        and max(columns.timestamps) <= _INT64_MAX
        and min(columns.steps) >= _INT64_MIN
        and max(columns.steps) <= _INT64_MAX
        and all(map(validation.is_valid_key, set(columns.keys)))
    )


def _checked_metric(m: Metric) -> Metric:
    """One point checked on its own, with the precise message for whatever is wrong."""
    value, timestamp, step = validation.validate_metric(m.key, m.value, m.timestamp, m.step)
    for name, number in (("timestamp", timestamp), ("step", step)):
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise validation.invalid_value(
                name, number, f"metric {m.key!r}: it is outside the 64-bit integer range."
            )
    return Metric(
        m.key,
        value,
        timestamp,
        step,
        getattr(m, "dataset_name", None),
        getattr(m, "dataset_digest", None),
        getattr(m, "model_id", None),
    )


_DATASET_LIMITS = {"name": 500, "digest": 36, "source_type": 36, "source": 65535}


def dataset_input(item: DatasetInput) -> None:
    """A dataset input's field sizes (as in MLflow's limits)."""
    for field, limit in _DATASET_LIMITS.items():
        value = getattr(item.dataset, field)
        if not isinstance(value, str) or not value:
            raise InvalidParameter(
                f"Dataset {field} cannot be None or empty: it must be a non-empty string."
            )
        if len(value) > limit:
            raise validation.too_long(
                field, limit, f"the dataset {field} is {len(value)} characters long."
            )
    for tag in item.tags:
        for field, text, limit in (("key", tag.key, 255), ("value", tag.value, 500)):
            if len(text) > limit:
                raise validation.too_long(
                    field, limit, f"input tag {tag.key[:40]!r} has a {field} of {len(text)}."
                )
