"""Validation rules for what clients log: keys, values, metric points, batches, names.

Pure functions over plain values, shared by the tracking client (which checks before it queues
anything, so a mistake is reported at the line that made it) and by the stores (which check again,
because a server cannot trust its clients). Every failure raises
:class:`runlab.errors.InvalidParameter` with a message that says what to change.

Messages start with MLflow's wording where MLflow's clients and tests look for it ("Invalid value
"x" for parameter 'key' supplied", "Names may only contain ...", "Names may be treated as files in
certain cases", "exceeds the maximum length of", "A batch logging request can contain at most",
"Duplicate parameter keys have been submitted", "Invalid experiment name"), then say what to do.

This module imports only :mod:`runlab.errors`, so every layer may use it.
"""

from __future__ import annotations

import json
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
    "invalid_value",
    "is_valid_key",
    "shown",
    "too_long",
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

_SHOWN_MAX = 500
#: How MLflow's messages name the length limit a key breaks, by kind of key.
_KEY_LIMIT_NAMES = {"metric": "Metric name", "param": "Param key"}


def shown(value: Any) -> str:
    """``value`` as MLflow's messages show it (JSON, so strings in double quotes); a value of
    more than 500 characters is cut short, so a message stays readable."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


def invalid_value(field: str, value: Any, reason: str) -> InvalidParameter:
    """MLflow's "Invalid value <v> for parameter '<field>' supplied: <reason>" error."""
    return InvalidParameter(
        f"Invalid value {shown(value)} for parameter '{field}' supplied: {reason}"
    )


def too_long(what: str, limit: int, detail: str) -> InvalidParameter:
    """MLflow's "'<what>' exceeds the maximum length of <limit> characters" error."""
    return InvalidParameter(f"'{what}' exceeds the maximum length of {limit} characters: {detail}")


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
        raise invalid_value(
            "key",
            key,
            f"the {kind} key must be a string, got {type(key).__name__}. Pass str(key) if you "
            "meant its text.",
        )
    if not key:
        raise invalid_value("key", key, f"A key name must be provided; give the {kind} a name.")
    if len(key) > MAX_KEY_LENGTH:
        raise too_long(
            _KEY_LIMIT_NAMES.get(kind, "key"),
            MAX_KEY_LENGTH,
            f"the {kind} key {key[:40]!r}... is {len(key)} characters long. Use a shorter name.",
        )
    if _KEY_CHARS.fullmatch(key) is None:
        raise invalid_value(
            "key",
            key,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
            f"spaces ( ), colon(:) and slashes (/). Replace the other characters of this {kind} "
            "key, e.g. with underscores (letters and digits are ASCII ones).",
        )
    if _changed_by_path_normalisation(key):
        raise invalid_value(
            "key",
            key,
            "Names may be treated as files in certain cases, and must not resolve to other names "
            f"when treated as such. This name would resolve to {posixpath.normpath(key)!r}. "
            f"Rename the {kind} key: no '.' or '..' parts, no '//', no '/' at its start or end "
            "(e.g. 'train/loss' rather than '/train//loss').",
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


def _text_value(key: Any, value: Any, kind: str, limit: int, hint: str) -> str:
    """Check a key and the length of its value (stringified) for one kind of key/value pair."""
    validate_key(key, kind)
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise too_long(
            f"{kind[0].upper()}{kind[1:]} value",
            limit,
            f"the value of {kind} {key!r} is {len(text)} characters long.{hint}",
        )
    return text


def validate_param(key: Any, value: Any) -> str:
    """Check a param and return its value as the string that is stored."""
    return _text_value(
        key,
        value,
        "param",
        MAX_PARAM_VALUE_LENGTH,
        " Log long values as an artifact (log_text/log_dict) instead.",
    )


def validate_tag(key: Any, value: Any) -> str:
    """Check a run tag and return its value as the string that is stored."""
    return _text_value(
        key,
        value,
        "tag",
        MAX_TAG_VALUE_LENGTH,
        " Log long values as an artifact (log_text) instead.",
    )


def validate_experiment_tag(key: Any, value: Any) -> str:
    """Check an experiment tag and return its value as a string."""
    return _text_value(key, value, "experiment tag", MAX_EXPERIMENT_TAG_VALUE_LENGTH, "")


def validate_metric_value(key: str, value: Any) -> float:
    """Return a metric value as a float. NaN and ±infinity are allowed; text is not."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes)) or not (
        isinstance(value, numbers.Number) or hasattr(value, "__float__")
    ):
        raise invalid_value(
            "value",
            value,
            f"metric {key!r} got a {type(value).__name__}. Please specify value as a valid double "
            "(64-bit floating point): convert it with float(...), or log text as a param or tag.",
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        # e.g. a complex number, a tensor with more than one element, or an int beyond a float.
        raise invalid_value(
            "value",
            value,
            f"metric {key!r} got a value that cannot be converted to a float ({exc}). Please "
            "specify value as a valid double (64-bit floating point): one real number.",
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
        raise invalid_value(
            "timestamp",
            timestamp,
            f"metric {key!r}. Timestamp must be a nonnegative long (64-bit integer): "
            "milliseconds since the epoch, e.g. int(time.time() * 1000).",
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
    raise invalid_value(
        "step",
        step,
        f"metric {key!r}. Step must be a valid long (64-bit integer), e.g. the epoch or batch "
        "number.",
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
            f"Invalid value {shown(run_id)} for parameter 'run_id' supplied. Invalid run id: a "
            "run id is a string of letters, digits, '_' and '-' (e.g. the value of "
            "run.info.run_id)."
        )
    return run_id


def validate_experiment_name(name: Any) -> str:
    """Check an experiment name: a non-blank string of at most 500 characters."""
    if not isinstance(name, str):
        raise InvalidParameter(
            f"Invalid experiment name: {shown(name)}. Expects a string, got {type(name).__name__}."
        )
    if not name.strip():
        raise InvalidParameter(
            f"Invalid experiment name: {name!r}. It is blank; give the experiment a name."
        )
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise too_long(
            "name",
            MAX_EXPERIMENT_NAME_LENGTH,
            f"the experiment name is {len(name)} characters long.",
        )
    return name


def validate_batch(
    metric_count: int,
    param_keys: Iterable[str],
    tag_count: int,
) -> None:
    """Check the size limits of one log-batch call and that no param key appears twice."""
    keys: Collection[str] = param_keys if isinstance(param_keys, Collection) else list(param_keys)
    total = metric_count + len(keys) + tag_count
    for what, count, limit in (
        ("metrics", metric_count, MAX_METRICS_PER_BATCH),
        ("params", len(keys), MAX_PARAMS_PER_BATCH),
        ("tags", tag_count, MAX_TAGS_PER_BATCH),
        ("metrics, params, and tags", total, MAX_ENTITIES_PER_BATCH),
    ):
        if count > limit:
            raise InvalidParameter(
                f"A batch logging request can contain at most {limit} {what}. Got {count} "
                f"{what}{' in total' if what.startswith('metrics,') else ''}. Split them across "
                "requests, or use Client.log_batch, which splits for you."
            )
    validate_distinct_param_keys(keys)


def validate_distinct_param_keys(keys: Iterable[str]) -> None:
    """Check that no param key appears twice in one batch (the store would reject it)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: [{key!r}]. Param {key!r} "
                "appears twice in one batch; log each param once per batch."
            )
        seen.add(key)
