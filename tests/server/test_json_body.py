"""Request-body decoding: the nesting limit is checked without recursion, messages stay short."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from runlab.errors import InvalidParameter
from runlab.server.json_body import (
    MAX_JSON_DEPTH,
    decode_json,
    decode_json_object,
    nesting_exceeds,
    shown,
    text_nesting_exceeds,
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


# Strings that hide brackets, quotes and escapes from a scan that does not know about strings.
_TRICKY_STRINGS = ["]]]]", "[[[[", "}{", '"]', "\\", "\\]", '\\"[', "a\nb", "é[", ""]


@pytest.mark.parametrize("inner", _TRICKY_STRINGS)
def test_depth_is_read_from_the_text_with_strings_skipped(inner: str) -> None:
    for depth in (MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH + 40):
        for opener, closer in (("[", "]"), ('{"k":', "}")):
            value: object = inner
            for _ in range(depth):
                value = [value] if opener == "[" else {"k": value}
            text = (opener * depth + json.dumps(inner) + closer * depth).encode()
            assert orjson.loads(text) == value
            assert text_nesting_exceeds(text, MAX_JSON_DEPTH) == (depth > MAX_JSON_DEPTH)
            if depth > MAX_JSON_DEPTH:
                with pytest.raises(InvalidParameter, match="levels deep"):
                    decode_json_object(b'{"a": ' + text + b"}")
            else:
                assert decode_json(text, "The request body") == value


def _random_value(rng: random.Random, level: int) -> object:
    roll = rng.random()
    if level > 8 or roll < 0.35:
        return rng.choice([1, 2.5, None, True, "".join(rng.choices(_TRICKY_STRINGS, k=2))])
    if roll < 0.65:
        return [_random_value(rng, level + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(_TRICKY_STRINGS) + str(i): _random_value(rng, level + 1)
        for i in range(rng.randrange(3))
    }


def test_text_scan_agrees_with_the_walk_over_the_decoded_value() -> None:
    rng = random.Random(19)
    for _ in range(2000):
        value = _random_value(rng, 0)
        for text in (orjson.dumps(value), json.dumps(value, indent=1).encode()):
            for limit in range(10):
                assert text_nesting_exceeds(text, limit) == nesting_exceeds(value, limit)


def test_legacy_string_bodies_are_checked_too() -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + '"]]]"' + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(InvalidParameter, match="levels deep"):
        decode_json_object(json.dumps('{"a": ' + deep + "}").encode())
    assert decode_json_object(json.dumps('{"a": "[[["}').encode()) == {"a": "[[["}


def test_shown_cuts_long_and_deep_values() -> None:
    assert shown("x" * 10_000).startswith("'xxx") and len(shown("x" * 10_000)) < 130
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert shown(deep) == "[[[[...]]]]"
    assert shown(list(range(100))) == "[0, 1, 2, 3, 4, 5, ...]"
    assert shown({"a": 1}) == "{'a': 1}"
