"""The shared validation rules (runlab.validation), as the client applies them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runlab.errors import InvalidParameter
from runlab.validation import (
    validate_batch,
    validate_experiment_name,
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


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("", "empty"),
        ("k" * 251, "at most 250"),
        ("loss!", "only letters"),
        ("a\nb", "only letters"),
        ("é", "only letters"),
        ("/abs", "start with '/'"),
        ("a//b", "'//'"),
        (".", "'.'"),
        ("..", "'..'"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("a/", "end with '/'"),
        (3, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_invalid_keys_say_what_to_do(key: Any, hint: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_key(key, "param")
    assert hint in str(info.value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_param_values_are_stringified_and_bounded() -> None:
    assert validate_param("lr", 0.01) == "0.01"
    assert validate_param("layers", [1, 2]) == "[1, 2]"
    assert validate_param("p", "x" * 6000) == "x" * 6000
    with pytest.raises(InvalidParameter, match="at most 6000"):
        validate_param("p", "x" * 6001)


def test_tag_values_are_bounded_at_8000() -> None:
    assert validate_tag("t", "x" * 8000) == "x" * 8000
    with pytest.raises(InvalidParameter, match="at most 8000"):
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
    with pytest.raises(InvalidParameter, match="m"):
        validate_metric("m", value, 0, 0)


@pytest.mark.parametrize("timestamp", [-1, 1.5e-3 - 1, "now", None, True, math.nan])
def test_timestamps_must_be_non_negative_integers(timestamp: Any) -> None:
    with pytest.raises(InvalidParameter, match="timestamp"):
        validate_metric("m", 1.0, timestamp, 0)


def test_steps_must_be_integers() -> None:
    assert validate_metric("m", 1.0, 0, 3.0)[2] == 3
    assert validate_metric("m", 1.0, 0, -2)[2] == -2
    for step in (1.5, "1", None, True):
        with pytest.raises(InvalidParameter, match="step"):
            validate_metric("m", 1.0, 0, step)


def test_batch_limits_and_duplicate_params() -> None:
    validate_batch(1000, [], 0)
    validate_batch(800, [f"p{i}" for i in range(100)], 100)
    with pytest.raises(InvalidParameter, match="1000 metrics"):
        validate_batch(1001, [], 0)
    with pytest.raises(InvalidParameter, match="100 params"):
        validate_batch(0, [f"p{i}" for i in range(101)], 0)
    with pytest.raises(InvalidParameter, match="100 tags"):
        validate_batch(0, [], 101)
    with pytest.raises(InvalidParameter, match="in total"):
        validate_batch(900, [f"p{i}" for i in range(100)], 1)
    with pytest.raises(InvalidParameter, match="twice"):
        validate_batch(0, ["a", "b", "a"], 0)


def test_experiment_names_and_run_ids() -> None:
    assert validate_experiment_name("my exp") == "my exp"
    for bad in ("", "   ", "x" * 501, 5):
        with pytest.raises(InvalidParameter):
            validate_experiment_name(bad)
    assert validate_run_id("0123abcd") == "0123abcd"
    for bad_id in ("", "../etc", "a b", None):
        with pytest.raises(InvalidParameter):
            validate_run_id(bad_id)
