"""Page tokens: opaque, bound to their query, and rejected when malformed or reused elsewhere."""

from __future__ import annotations

import base64
import json

import pytest

from runlab.errors import InvalidParameter
from runlab.search import decode_page_token, encode_page_token, query_fingerprint


def _fingerprint() -> str:
    return query_fingerprint("metrics.a > 1", ["metrics.a DESC"], ("runs", 1, 0, 3))


@pytest.mark.parametrize("offset", [0, 1, 999, 10_000_000])
def test_round_trip(offset: int) -> None:
    fp = _fingerprint()
    token = encode_page_token(offset, fp)
    assert decode_page_token(token, fp) == offset
    # URL-safe without escaping: no padding, no '+' or '/'.
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_token_means_first_page() -> None:
    assert decode_page_token(None, _fingerprint()) == 0
    assert decode_page_token("", _fingerprint()) == 0


def test_padded_token_is_accepted() -> None:
    fp = _fingerprint()
    token = encode_page_token(7, fp)
    assert decode_page_token(token + "=" * (-len(token) % 4), fp) == 7


def test_fingerprint_is_stable_and_short() -> None:
    assert _fingerprint() == _fingerprint()
    assert len(_fingerprint()) == 16
    assert query_fingerprint(None, None) == query_fingerprint("", [])
    assert query_fingerprint("x", "a DESC") == query_fingerprint("x", ["a DESC"])


@pytest.mark.parametrize(
    ("filter_string", "order_by", "scope"),
    [
        ("metrics.a > 2", ["metrics.a DESC"], ("runs", 1, 0, 3)),
        ("metrics.a > 1", ["metrics.a ASC"], ("runs", 1, 0, 3)),
        ("metrics.a > 1", ["metrics.a DESC"], ("runs", 3, 0, 3)),  # other view type
        ("metrics.a > 1", ["metrics.a DESC"], ("runs", 1, 0)),  # other experiments
        ("metrics.a > 1", ["metrics.a DESC"], ("experiments", 1, 0, 3)),
        (None, None, ()),
    ],
)
def test_token_from_another_query_is_rejected(
    filter_string: str | None, order_by: list[str] | None, scope: tuple[object, ...]
) -> None:
    token = encode_page_token(5, _fingerprint())
    other = query_fingerprint(filter_string, order_by, scope)
    assert other != _fingerprint()
    with pytest.raises(InvalidParameter, match="different query") as info:
        decode_page_token(token, other)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        "%%%",
        "abc",  # bad base64 length
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),  # not UTF-8
        base64.urlsafe_b64encode(b"not json").decode(),
        _b64([1, 2]),
        _b64({"offset": 1}),  # MLflow's format is not ours
        _b64({"o": -1, "f": "x"}),
        _b64({"o": "1", "f": "x"}),
        _b64({"o": True, "f": "x"}),
        _b64({"o": 1.5, "f": "x"}),
        _b64({"o": 2**60, "f": "x"}),
        _b64({"o": 1}),
        _b64({"o": 1, "f": 5}),
        "é",
    ],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid page_token"):
        decode_page_token(token, "x")


def test_tampered_offset_keeps_fingerprint_check() -> None:
    fp = _fingerprint()
    forged = _b64({"o": 40, "f": fp}).rstrip("=")
    assert decode_page_token(forged, fp) == 40  # tokens are not secret, only query-bound
    altered = fp[:-1] + ("0" if fp[-1] != "0" else "1")
    with pytest.raises(InvalidParameter, match="different query"):
        decode_page_token(_b64({"o": 40, "f": altered}), fp)


@pytest.mark.parametrize("offset", [-1, 1.5, True, "3"])
def test_encode_rejects_bad_offsets(offset: object) -> None:
    with pytest.raises(ValueError):
        encode_page_token(offset, "x")  # type: ignore[arg-type]
