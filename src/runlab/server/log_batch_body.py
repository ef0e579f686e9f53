"""The usual log-batch body, decoded straight into the columns the store takes.

A training client's log-batch is nearly always the same shape: a run id and up to 1000 points
of exactly ``key``, ``value``, ``timestamp`` and (optionally) ``step``, plus params and tags as
key/value strings. Decoded generically, each point becomes a dict that is then checked and taken
apart again, column by column: about 0.55 ms of a 1000-point request. Decoded against the shape
itself (msgspec, in C), the types and the 64-bit ranges are checked while parsing and the points
come out as small objects whose fields are read into columns: about 0.25 ms.

Anything else, including every body with an error in it, is left to the general decoder and
the handler's field-by-field checks, so the messages a client gets do not change.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from runlab import validation
from runlab.entities import MetricColumns

__all__ = ["decode_plain_log_batch"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _Point(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    # An integer value is read as a float; true and false are refused, as the handler does.
    value: float
    timestamp: Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]
    # Protobuf's JSON leaves a step of 0 out.
    step: Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)] = 0


class _KeyValue(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    value: str


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    run_id: str
    metrics: list[_Point] = []
    params: list[_KeyValue] = []
    tags: list[_KeyValue] = []


_DECODER = msgspec.json.Decoder(_Body)


def decode_plain_log_batch(body: bytes) -> dict[str, Any] | None:
    """The fields of a log-batch body of the usual shape, its metrics as one
    :class:`~runlab.entities.MetricColumns`; None for any other body."""
    try:
        decoded = _DECODER.decode(body)
    except msgspec.MsgspecError:
        return None
    points = decoded.metrics
    if len(points) > validation.MAX_METRICS_PER_BATCH:
        return None  # refused by the handler, with its message
    keys = [point.key for point in points]
    if not all(map(validation.is_valid_key, set(keys))):
        return None
    return {
        "run_id": decoded.run_id,
        "metrics": MetricColumns(
            keys,
            [point.value for point in points],
            [point.timestamp for point in points],
            [point.step for point in points],
        ),
        "params": [{"key": p.key, "value": p.value} for p in decoded.params],
        "tags": [{"key": t.key, "value": t.value} for t in decoded.tags],
    }
