"""Request-body decoding: the nesting limit is checked without recursion, messages stay short."""

from __future__ import annotations

import pytest

from runlab.errors import InvalidParameter
from runlab.server.json_body import (
    MAX_JSON_DEPTH,
    decode_json,
    decode_json_object,
    nesting_exceeds,
    shown,
)


def test_nesting_counts_objects_and_arrays_alike() -> None:
    value = {"a": [{"b": [[1, {"c": []}]]}]}  # 7 levels: {[{[[{[
    assert not nesting_exceeds(value, 7)
    assert nesting_exceeds(value, 6)
    assert not nesting_exceeds("scalar", 0) and not nesting_exceeds([], 1)


def test_nesting_of_any_depth_is_checked_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):  # far past the interpreter's recursion limit
        value = [value]
    assert nesting_exceeds(value, MAX_JSON_DEPTH)
    assert not nesting_exceeds(value, 100_001)


def test_wide_bodies_are_not_deep() -> None:
    batch = {"metrics": [{"key": f"m{i}", "value": 1.0, "timestamp": 1} for i in range(1000)]}
    assert (
        decode_json_object(
            b'{"metrics": '
            + b"["
            + b", ".join(b'{"key": "m%d", "value": 1.0, "timestamp": 1}' % i for i in range(1000))
            + b"]}"
        )
        == batch
    )


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 1023])
def test_too_deep_documents_are_refused(depth: int) -> None:
    with pytest.raises(InvalidParameter, match=f"more than {MAX_JSON_DEPTH} levels deep"):
        decode_json("[" * depth + "]" * depth, "Field 'x'")
    assert decode_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "Field 'x'") is not None


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"name": "' + "[" * 500 + '"}'
    assert decode_json_object(text.encode()) == {"name": "[" * 500}


def test_shown_cuts_long_and_deep_values() -> None:
    assert shown("x" * 10_000).startswith("'xxx") and len(shown("x" * 10_000)) < 130
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert shown(deep) == "[[[[...]]]]"
    assert shown(list(range(100))) == "[0, 1, 2, 3, 4, 5, ...]"
    assert shown({"a": 1}) == "{'a': 1}"
