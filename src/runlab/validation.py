"""Validation rules for what clients log: keys, values, metric points, batches, names.

Pure functions over plain values, shared by the tracking client (which checks before it queues
anything, so a mistake is reported at the line that made it) and by the stores (which check again,
because a server cannot trust its clients). Every failure raises
:class:`runlab.errors.InvalidParameter` with a message that says what to change.

This module imports only :mod:`runlab.errors`, so every layer may use it.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from collections.abc import Collection, Iterable
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_EXPERIMENT_TAG_VALUE_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAGS_PER_BATCH",
    "MAX_TAG_VALUE_LENGTH",
    "is_valid_key",
    "validate_batch",
    "validate_distinct_param_keys",
    "validate_experiment_name",
    "validate_experiment_tag",
    "validate_key",
    "validate_metric",
    "validate_metric_step",
    "validate_metric_timestamp",
    "validate_metric_value",
    "validate_param",
    "validate_run_id",
    "validate_tag",
]

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

_KEY_CHARS = re.compile(r"[A-Za-z0-9_\-. /:]+")
# Run ids are hex uuids here, but runs imported from other stores may use other word characters.
_RUN_ID = re.compile(r"[A-Za-z0-9][\w\-]{0,255}")

# Keys are validated on every fluent log call; remembering the ones already accepted keeps the
# training-loop cost at one set lookup. Bounded so a program that invents keys cannot grow it
# without limit.
_accepted_keys: set[str] = set()
_ACCEPTED_KEYS_LIMIT = 100_000


def validate_key(key: Any, kind: str = "metric") -> str:
    """Check a metric, param or tag key and return it.

    ``kind`` ("metric", "param", "tag", "experiment tag") only words the error message.
    """
    if type(key) is str and key in _accepted_keys:
        return key
    if not isinstance(key, str):
        raise InvalidParameter(
            f"The {kind} key must be a string, got {type(key).__name__} {key!r}. "
            f"Pass str(key) if you meant its text."
        )
    if not key:
        raise InvalidParameter(f"The {kind} key is empty; give the {kind} a name.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(
            f"The {kind} key {key[:40]!r}... is {len(key)} characters long; "
            f"keys may have at most {MAX_KEY_LENGTH}. Use a shorter name."
        )
    if _KEY_CHARS.fullmatch(key) is None:
        raise InvalidParameter(
            f"Invalid {kind} key {key!r}: keys may contain only letters, digits, underscores (_), "
            "dashes (-), periods (.), spaces, colons (:) and slashes (/). "
            "Replace the other characters, e.g. with underscores."
        )
    if _changed_by_path_normalisation(key):
        raise InvalidParameter(
            f"Invalid {kind} key {key!r}: keys are also used as file paths, so they must not be "
            "'.', start with '/', contain '//' or a '..' or '.' segment, or end with '/'. "
            "Rename the key, e.g. 'train/loss' rather than '/train//loss'."
        )
    if len(_accepted_keys) < _ACCEPTED_KEYS_LIMIT:
        _accepted_keys.add(key)
    return key


def is_valid_key(key: Any) -> bool:
    """True if :func:`validate_key` accepts ``key``; for fast paths that report errors elsewhere."""
    if type(key) is str and key in _accepted_keys:
        return True
    try:
        validate_key(key)
    except InvalidParameter:
        return False
    return True


def _changed_by_path_normalisation(key: str) -> bool:
    if key == "." or key.startswith("/"):
        return True
    if posixpath.normpath(key) != key:
        return True
    return ".." in key.split("/")


def _text_value(key: Any, value: Any, kind: str, holders: str, limit: int, hint: str) -> str:
    """Check a key and the length of its value (stringified) for one kind of key/value pair."""
    validate_key(key, kind)
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidParameter(
            f"The value of {kind} {key!r} is {len(text)} characters long; {holders} may hold at "
            f"most {limit}.{hint}"
        )
    return text


def validate_param(key: Any, value: Any) -> str:
    """Check a param and return its value as the string that is stored."""
    return _text_value(
        key,
        value,
        "param",
        "params",
        MAX_PARAM_VALUE_LENGTH,
        " Log long values as an artifact (log_text/log_dict) instead.",
    )


def validate_tag(key: Any, value: Any) -> str:
    """Check a run tag and return its value as the string that is stored."""
    return _text_value(
        key,
        value,
        "tag",
        "run tags",
        MAX_TAG_VALUE_LENGTH,
        " Log long values as an artifact (log_text) instead.",
    )


def validate_experiment_tag(key: Any, value: Any) -> str:
    """Check an experiment tag and return its value as a string."""
    return _text_value(
        key, value, "experiment tag", "experiment tags", MAX_EXPERIMENT_TAG_VALUE_LENGTH, ""
    )


def validate_metric_value(key: str, value: Any) -> float:
    """Return a metric value as a float. NaN and ±infinity are allowed; text is not."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes)) or not (
        isinstance(value, numbers.Number) or hasattr(value, "__float__")
    ):
        raise InvalidParameter(
            f"Metric {key!r} got value {value!r} of type {type(value).__name__}; metric values "
            "must be numbers. Convert it with float(...), or log text as a param or tag."
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        # e.g. a complex number, a tensor with more than one element, or an int beyond a float.
        raise InvalidParameter(
            f"Metric {key!r} got value {value!r} that cannot be converted to a float ({exc}). "
            "Log a single real number."
        ) from None


def validate_metric_timestamp(key: str, timestamp: Any) -> int:
    """Return a timestamp (milliseconds since the epoch) as a non-negative int."""
    if type(timestamp) is int and timestamp >= 0:
        return timestamp
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, numbers.Real)
        or math.isnan(timestamp)
        or math.isinf(timestamp)
        or timestamp < 0
    ):
        raise InvalidParameter(
            f"Metric {key!r} got timestamp {timestamp!r}; timestamps must be non-negative integers "
            "(milliseconds since the epoch), e.g. int(time.time() * 1000)."
        )
    if isinstance(timestamp, numbers.Integral):
        return int(timestamp)
    return int(float(timestamp))


def validate_metric_step(key: str, step: Any) -> int:
    """Return a step as an int; integral floats such as ``3.0`` are accepted."""
    if type(step) is int:
        return step
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        return int(step)
    if isinstance(step, numbers.Real) and not isinstance(step, bool) and float(step).is_integer():
        return int(float(step))
    raise InvalidParameter(
        f"Metric {key!r} got step {step!r}; steps must be integers (e.g. the epoch or batch number)."
    )


def validate_metric(key: Any, value: Any, timestamp: Any, step: Any) -> tuple[float, int, int]:
    """Check one metric point and return ``(value, timestamp, step)`` normalised."""
    validate_key(key, "metric")
    return (
        validate_metric_value(key, value),
        validate_metric_timestamp(key, timestamp),
        validate_metric_step(key, step),
    )


def validate_run_id(run_id: Any) -> str:
    """Check the form of a run id (it says nothing about whether the run exists)."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise InvalidParameter(
            f"Invalid run id {run_id!r}: a run id is a string of letters, digits, '_' and '-' "
            "(e.g. the value of run.info.run_id)."
        )
    return run_id


def validate_experiment_name(name: Any) -> str:
    """Check an experiment name: a non-blank string of at most 500 characters."""
    if not isinstance(name, str):
        raise InvalidParameter(
            f"The experiment name must be a string, got {type(name).__name__} {name!r}."
        )
    if not name.strip():
        raise InvalidParameter("The experiment name is blank; give the experiment a name.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(
            f"The experiment name is {len(name)} characters long; names may have at most "
            f"{MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name


def validate_batch(
    metric_count: int,
    param_keys: Iterable[str],
    tag_count: int,
) -> None:
    """Check the size limits of one log-batch call and that no param key appears twice."""
    keys: Collection[str] = param_keys if isinstance(param_keys, Collection) else list(param_keys)
    if metric_count > MAX_METRICS_PER_BATCH:
        raise InvalidParameter(
            f"A batch may hold at most {MAX_METRICS_PER_BATCH} metrics, got {metric_count}. "
            "Split it, or use Client.log_batch, which splits for you."
        )
    if len(keys) > MAX_PARAMS_PER_BATCH:
        raise InvalidParameter(
            f"A batch may hold at most {MAX_PARAMS_PER_BATCH} params, got {len(keys)}. "
            "Split it, or use Client.log_batch, which splits for you."
        )
    if tag_count > MAX_TAGS_PER_BATCH:
        raise InvalidParameter(
            f"A batch may hold at most {MAX_TAGS_PER_BATCH} tags, got {tag_count}. "
            "Split it, or use Client.log_batch, which splits for you."
        )
    total = metric_count + len(keys) + tag_count
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameter(
            f"A batch may hold at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in "
            f"total, got {total}. Split it, or use Client.log_batch, which splits for you."
        )
    validate_distinct_param_keys(keys)


def validate_distinct_param_keys(keys: Iterable[str]) -> None:
    """Check that no param key appears twice in one batch (the store would reject it)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidParameter(
                f"Param {key!r} appears twice in one batch; log each param once per batch."
            )
        seen.add(key)
