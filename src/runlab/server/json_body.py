"""Decoding JSON request bodies, with a nesting limit, and showing request values in messages.

orjson refuses documents nested deeper than 1024 levels, but Python's own recursion limit is
about 1000 frames, so a body nested a little less than orjson's limit decodes fine and then
breaks whatever walks it recursively: ``repr`` in an error message, ``orjson.dumps`` (limited to
254 levels), a handler. No request of MLflow's protocol nests deeper than about six levels, so
bodies are refused with a 400 past :data:`MAX_JSON_DEPTH`, checked without recursion.
"""

from __future__ import annotations

import reprlib
from typing import Any

import orjson

from runlab.errors import InvalidParameter

__all__ = ["MAX_JSON_DEPTH", "decode_json", "decode_json_object", "nesting_exceeds", "shown"]

#: Deepest nesting of objects and arrays accepted in a request body (the body itself is level 1).
MAX_JSON_DEPTH = 64

_CONTAINERS = (dict, list)


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests objects and arrays more than ``limit`` levels deep.

    Walks one level at a time (no recursion), so any depth is safe to check.
    """
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) in _CONTAINERS
        ]
    return False


def _check_depth(data: Any, text: bytes | str, what: str) -> None:
    # Counting brackets is cheap and bounds the depth from above: most bodies stop here.
    count = (
        text.count(b"[") + text.count(b"{")
        if isinstance(text, bytes)
        else (text.count("[") + text.count("{"))
    )
    if count > MAX_JSON_DEPTH and nesting_exceeds(data, MAX_JSON_DEPTH):
        raise InvalidParameter(
            f"{what} nests objects and arrays more than {MAX_JSON_DEPTH} levels deep; no request "
            "needs that many."
        )


def decode_json(text: bytes | str, what: str) -> Any:
    """Decode one JSON document, refusing (400) one that is invalid or nested too deeply.

    ``what`` names the document in the error (``"The request body"``, ``"Field 'model_json'"``).
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"{what} is not valid JSON: {exc}.") from None
    _check_depth(data, text, what)
    return data


def decode_json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object (or, for legacy clients, a JSON string
    holding one)."""
    data = decode_json(body, "The request body")
    if isinstance(data, str):
        # Legacy clients send a JSON-encoded string holding the JSON object.
        inner = data
        try:
            data = orjson.loads(inner)
        except orjson.JSONDecodeError:
            raise InvalidParameter("The request body must be a JSON object.") from None
        _check_depth(data, inner, "The request body")
    if not isinstance(data, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return data


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel = 3
_SHOWN.maxstring = 120
_SHOWN.maxother = 120
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = _SHOWN.maxset = 6


def shown(value: Any) -> str:
    """``repr(value)`` shortened for an error message: a few levels and items, long text cut.

    A request value can be megabytes long or deeply nested; echoing it whole would make the
    message as large as the request (or, nested deeply enough, fail to build at all).
    """
    return _SHOWN.repr(value)
