"""The shared validation rules (runlab.validation), as the client applies them.

Where MLflow's tests match on a phrase of MLflow's message, runlab's message has that phrase too;
those phrases are pinned here (the ``MLFLOW_`` constants and ``test_*_mlflow_wording`` tests).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from runlab.errors import InvalidParameter
from runlab.validation import (
    validate_batch,
    validate_distinct_param_keys,
    validate_experiment_name,
    validate_experiment_tag,
    validate_key,
    validate_metric,
    validate_param,
    validate_run_id,
    validate_tag,
)


@pytest.mark.parametrize(
    "key", ["loss", "train/loss", "a b", "x:y", "v1.2-rc_3", "a..b", "k" * 250, "ALL_CAPS"]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


#: Phrases of MLflow's messages its tests match on (tests/utils/test_validation.py,
#: tests/tracking/test_rest_tracking.py, tests/store/tracking/...).
MLFLOW_BAD_CHARACTERS = "Names may only contain alphanumerics, underscores (_), dashes (-)"
MLFLOW_BAD_PATH = "Names may be treated as files in certain cases"
MLFLOW_TOO_LONG = "exceeds the maximum length of"


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("", "A key name must be provided"),
        ("k" * 251, f"{MLFLOW_TOO_LONG} 250 characters"),
        ("loss!", MLFLOW_BAD_CHARACTERS),
        ("a\nb", MLFLOW_BAD_CHARACTERS),
        ("é", MLFLOW_BAD_CHARACTERS),
        ("/abs", MLFLOW_BAD_PATH),
        ("a//b", "This name would resolve to 'a/b'"),
        (".", MLFLOW_BAD_PATH),
        ("..", MLFLOW_BAD_PATH),
        ("a/../b", "This name would resolve to 'b'"),
        ("./a", "This name would resolve to 'a'"),
        ("a/", "This name would resolve to 'a'"),
        (3, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_invalid_keys_say_what_to_do(key: Any, hint: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_key(key, "param")
    assert hint in str(info.value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "key", ["", ".", "/", "..", "//", "a//b", "a/./b", "/a", "a/", "\\", "./", "/./", "a?b", 3]
)
@pytest.mark.parametrize("kind", ["metric", "param", "tag"])
def test_bad_keys_mlflow_wording(key: Any, kind: str) -> None:
    # MLflow's tests match 'Invalid value "<name>" for parameter' for every bad name.
    with pytest.raises(InvalidParameter) as info:
        validate_key(key, kind)
    shown = '"\\\\"' if key == "\\" else f'"{key}"' if isinstance(key, str) else str(key)
    assert info.value.message.startswith(f"Invalid value {shown} for parameter 'key' supplied: ")


def test_too_long_keys_and_values_mlflow_wording() -> None:
    for kind, name in [("metric", "'Metric name'"), ("param", "'Param key'"), ("tag", "'key'")]:
        with pytest.raises(InvalidParameter, match=f"{name} {MLFLOW_TOO_LONG} 250 characters"):
            validate_key("k" * 251, kind)
    with pytest.raises(InvalidParameter, match=f"'Param value' {MLFLOW_TOO_LONG} 6000 characters"):
        validate_param("p", "x" * 6001)
    with pytest.raises(InvalidParameter, match=f"'Tag value' {MLFLOW_TOO_LONG} 8000 characters"):
        validate_tag("t", "x" * 8001)
    with pytest.raises(InvalidParameter, match=f"{MLFLOW_TOO_LONG} 20000 characters"):
        validate_experiment_tag("t", "x" * 20001)


def test_param_values_are_stringified_and_bounded() -> None:
    assert validate_param("lr", 0.01) == "0.01"
    assert validate_param("layers", [1, 2]) == "[1, 2]"
    assert validate_param("p", "x" * 6000) == "x" * 6000
    with pytest.raises(InvalidParameter, match=f"{MLFLOW_TOO_LONG} 6000"):
        validate_param("p", "x" * 6001)


def test_tag_values_are_bounded_at_8000() -> None:
    assert validate_tag("t", "x" * 8000) == "x" * 8000
    with pytest.raises(InvalidParameter, match=f"{MLFLOW_TOO_LONG} 8000"):
        validate_tag("t", "x" * 8001)


def test_metric_values_nan_and_infinity_are_allowed() -> None:
    value, _, _ = validate_metric("m", math.nan, 0, 0)
    assert math.isnan(value)
    assert validate_metric("m", math.inf, 0, 0)[0] == math.inf
    assert validate_metric("m", -math.inf, 0, 0)[0] == -math.inf
    assert validate_metric("m", 3, 0, 0) == (3.0, 0, 0)


def test_metric_values_from_numpy_are_converted() -> None:
    np = pytest.importorskip("numpy")
    assert validate_metric("m", np.float32(0.5), np.int64(7), np.int32(2)) == (0.5, 7, 2)
    assert validate_metric("m", np.array(1.5), 1, 1)[0] == 1.5


@pytest.mark.parametrize("value", ["1.0", b"1", None, [1.0], {"a": 1}, 1 + 2j])
def test_metric_values_must_be_real_numbers(value: Any) -> None:
    with pytest.raises(InvalidParameter, match="valid double \\(64-bit floating point\\)") as info:
        validate_metric("m", value, 0, 0)
    assert "for parameter 'value' supplied" in info.value.message
    assert "metric 'm'" in info.value.message


def test_metric_value_mlflow_wording() -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_metric("m", "foo", 0, 0)
    assert info.value.message.startswith("Invalid value \"foo\" for parameter 'value' supplied")


@pytest.mark.parametrize("timestamp", [-1, 1.5e-3 - 1, "now", None, True, math.nan])
def test_timestamps_must_be_non_negative_integers(timestamp: Any) -> None:
    with pytest.raises(InvalidParameter, match="for parameter 'timestamp' supplied") as info:
        validate_metric("m", 1.0, timestamp, 0)
    assert "Timestamp must be a nonnegative long (64-bit integer)" in info.value.message
    with pytest.raises(InvalidParameter, match="Invalid value \"now\" for parameter 'timestamp'"):
        validate_metric("m", 1.0, "now", 0)


def test_steps_must_be_integers() -> None:
    assert validate_metric("m", 1.0, 0, 3.0)[2] == 3
    assert validate_metric("m", 1.0, 0, -2)[2] == -2
    for step in (1.5, "1", None, True):
        with pytest.raises(
            InvalidParameter, match="Step must be a valid long \\(64-bit integer\\)"
        ):
            validate_metric("m", 1.0, 0, step)
    with pytest.raises(
        InvalidParameter, match="Invalid value \"foo\" for parameter 'step' supplied"
    ):
        validate_metric("m", 1.0, 0, "foo")


def test_batch_limits_and_duplicate_params() -> None:
    validate_batch(1000, [], 0)
    validate_batch(800, [f"p{i}" for i in range(100)], 100)
    # MLflow's tests match r"A batch logging request can contain at most \d+".
    mlflow_limit = r"A batch logging request can contain at most \d+"
    with pytest.raises(InvalidParameter, match=f"{mlflow_limit} metrics. Got 1001 metrics"):
        validate_batch(1001, [], 0)
    with pytest.raises(InvalidParameter, match=f"{mlflow_limit} params. Got 101 params"):
        validate_batch(0, [f"p{i}" for i in range(101)], 0)
    with pytest.raises(InvalidParameter, match=f"{mlflow_limit} tags. Got 101 tags"):
        validate_batch(0, [], 101)
    with pytest.raises(InvalidParameter, match=f"{mlflow_limit} metrics, params, and tags"):
        validate_batch(900, [f"p{i}" for i in range(100)], 1)
    with pytest.raises(InvalidParameter, match="twice"):
        validate_batch(0, ["a", "b", "a"], 0)


def test_duplicate_params_mlflow_wording() -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_distinct_param_keys(["a", "b", "a"])
    assert info.value.message.startswith("Duplicate parameter keys have been submitted: ['a']")


def test_experiment_names_and_run_ids() -> None:
    assert validate_experiment_name("my exp") == "my exp"
    # MLflow's tests match "Invalid experiment name" for ["", 12, 12.7, None, {}, []].
    for bad in ("", "   ", 12, 12.7, None, {}, []):
        with pytest.raises(InvalidParameter, match="Invalid experiment name"):
            validate_experiment_name(bad)
    with pytest.raises(InvalidParameter, match=f"'name' {MLFLOW_TOO_LONG} 500 characters"):
        validate_experiment_name("x" * 501)
    assert validate_run_id("0123abcd") == "0123abcd"
    for bad_id in ("", "../etc", "a b", None, "a/bc" * 8, "a" * 400, "*" * 5):
        with pytest.raises(InvalidParameter) as info:
            validate_run_id(bad_id)
        # MLflow's tests match 'Invalid value "<id>" for parameter'.
        shown = "null" if bad_id is None else f'"{bad_id}"'
        assert info.value.message.startswith(f"Invalid value {shown}")
        assert "for parameter 'run_id' supplied" in info.value.message
