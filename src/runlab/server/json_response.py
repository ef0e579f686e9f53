"""Fast JSON responses (orjson)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def encode_json(body: Any) -> bytes:
    """``body`` as JSON bytes; callers encode NaN/Inf as strings first (see wire.double)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response; callers encode NaN/Inf as strings first (see wire.double)."""
    return encoded_json_response(encode_json(body), status)


def encoded_json_response(content: bytes, status: int = 200) -> Response:
    """A JSON response whose body is already encoded (see :func:`encode_json`)."""
    return Response(content, status_code=status, media_type="application/json")
