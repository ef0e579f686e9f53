"""Decoding JSON request bodies, with a nesting limit, and showing request values in messages.

orjson refuses documents nested deeper than 1024 levels, but Python's own recursion limit is
about 1000 frames, so a body nested a little less than orjson's limit decodes fine and then
breaks whatever walks it recursively: ``repr`` in an error message, ``orjson.dumps`` (limited to
254 levels), a handler. No request of MLflow's protocol nests deeper than about six levels, so
bodies are refused with a 400 past :data:`MAX_JSON_DEPTH`, checked without recursion.

The check reads the document's text, not the decoded value: a log-batch of 1000 metric objects
is one level-by-level walk over 4000 values when decoded, but a few passes in C over its bytes
(:func:`text_nesting_exceeds`).
"""

from __future__ import annotations

import reprlib
from typing import Any

import orjson

from runlab.errors import InvalidParameter

__all__ = [
    "MAX_JSON_DEPTH",
    "decode_json",
    "decode_json_object",
    "nesting_exceeds",
    "shown",
    "text_nesting_exceeds",
]

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


#: What the scan keeps of a document: quotes and brackets.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
#: Which kind of bracket nests does not matter for depth (the parser has checked they match).
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def text_nesting_exceeds(text: bytes, limit: int) -> bool:
    """True if the JSON document ``text`` nests objects and arrays more than ``limit`` levels deep.

    ``text`` must be a document the parser accepted (strings closed, brackets matched). Brackets
    inside strings do not count. Exact, without recursion, and every step a pass in C:

    1. escapes go (escaped backslashes, then escaped quotes), so every quote left opens or
       closes a string;
    2. everything but quotes and brackets goes, so a string becomes its two quotes around the
       brackets it held. Usually none: then the quotes pair up as adjacent ``""`` (a string
       holding a bracket leaves its opening quote unpaired), and they can simply go too;
       otherwise whatever lies between an opening and a closing quote goes;
    3. what is left are the structural brackets: each round of removing every ``[]`` removes
       exactly the innermost level, so the document is deeper than ``limit`` if brackets outlast
       ``limit`` rounds.
    """
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = text.translate(None, _NOT_STRUCTURE)
    quotes = marks.count(b'"')
    if quotes and marks.count(b'""') * 2 != quotes:
        marks = b"".join(marks.split(b'"')[::2])
    marks = marks.translate(_AS_SQUARE, b'"')
    if len(marks) <= 2 * limit:  # every level takes two brackets
        return False
    for _ in range(limit):
        marks = marks.replace(b"[]", b"")
        if not marks:
            return False
    return True


def _check_depth(text: bytes | str, what: str) -> None:
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if text_nesting_exceeds(raw, MAX_JSON_DEPTH):
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
    _check_depth(text, what)
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
        _check_depth(inner, "The request body")
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
