"""Opaque page tokens: an offset bound to the query that produced it.

A token is base64url (no padding) of a small JSON object holding the offset of the next page and a
short fingerprint of the query (filter, order_by and scope such as experiment ids and view type).
Passing a token back with a different query is an error rather than a silently wrong page. The
fingerprint is a truncated SHA-256, not a signature: tokens are not secret, they only need to
catch mistakes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence

from runlab.errors import InvalidParameter

__all__ = ["decode_page_token", "encode_page_token", "query_fingerprint"]

_FINGERPRINT_CHARS = 16
# Far above any real offset; keeps a crafted token from asking the database for absurd offsets.
_MAX_OFFSET = 2**53


def query_fingerprint(
    filter_string: str | None,
    order_by: Sequence[str] | None,
    scope: Iterable[object] = (),
) -> str:
    """A short, stable digest of a search query.

    ``scope`` holds whatever else defines the result set, e.g. the experiment ids and the view
    type. None and an empty filter are the same query; so are None and an empty order_by.
    """
    if isinstance(order_by, str):
        order_by = [order_by]
    canonical = json.dumps(
        [filter_string or "", list(order_by or ()), [str(part) for part in scope]],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_FINGERPRINT_CHARS]


def encode_page_token(offset: int, fingerprint: str) -> str:
    """The token that resumes the query identified by ``fingerprint`` at ``offset``."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative int, got {offset!r}")
    payload = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode("ascii")).decode("ascii").rstrip("=")


def decode_page_token(token: str | None, fingerprint: str) -> int:
    """The offset a token resumes at; None or "" means the first page (0).

    Raises InvalidParameter if the token is malformed or was issued for a different query.
    """
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameter(
            f"Invalid page_token {token!r}: it is not a token this server issued; "
            "pass back next_page_token unchanged or omit it for the first page"
        ) from None
    offset = payload.get("o") if isinstance(payload, dict) else None
    if (
        not isinstance(offset, int)
        or isinstance(offset, bool)
        or not 0 <= offset <= _MAX_OFFSET
        or not isinstance(payload.get("f"), str)
    ):
        raise InvalidParameter(
            f"Invalid page_token {token!r}: malformed contents; "
            "pass back next_page_token unchanged or omit it for the first page"
        )
    if payload["f"] != fingerprint:
        raise InvalidParameter(
            f"Invalid page_token {token!r}: it belongs to a different query; use a page token "
            "only with the same filter, order_by, experiments and view type that produced it"
        )
    return offset
