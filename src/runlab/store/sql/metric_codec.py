"""Packing of metric points into chunk blobs.

A chunk holds one run's points for one key. Layout (version 1)::

    byte 0      format version (1)
    bytes 1..   zlib( count:uint32 | steps:int64[count] | timestamps:int64[count] | values:float64[count] )

all little-endian, with steps and timestamps delta-encoded: training loops log steps 0, 1, 2, ...
and timestamps a few milliseconds apart, so their deltas are tiny and compress to almost nothing.
Values are stored bit-exact, so NaN and +-Inf survive.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from runlab.errors import RunlabError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FORMAT_VERSION = 1
_HEADER = bytes([FORMAT_VERSION])


def encode(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> bytes:
    """Pack three equally long arrays into a chunk blob."""
    import numpy as np

    count = len(steps)
    payload = b"".join(
        (
            np.array([count], dtype="<u4").tobytes(),
            _delta(steps).tobytes(),
            _delta(timestamps).tobytes(),
            np.ascontiguousarray(values, dtype="<f8").tobytes(),
        )
    )
    return _HEADER + zlib.compress(payload, 3)


def decode(
    blob: bytes,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Unpack a chunk blob into (steps, timestamps, values)."""
    import numpy as np

    if not blob or blob[0] != FORMAT_VERSION:
        raise RunlabError(
            f"Metric chunk has format {blob[:1]!r}, which this runlab cannot read; upgrade runlab."
        )
    payload = zlib.decompress(bytes(blob[1:]))
    count = int(np.frombuffer(payload, dtype="<u4", count=1)[0])
    offset = 4
    steps = np.cumsum(np.frombuffer(payload, dtype="<i8", count=count, offset=offset))
    offset += 8 * count
    timestamps = np.cumsum(np.frombuffer(payload, dtype="<i8", count=count, offset=offset))
    offset += 8 * count
    values = np.frombuffer(payload, dtype="<f8", count=count, offset=offset)
    return steps.astype(np.int64), timestamps.astype(np.int64), values.astype(np.float64)


def _delta(column: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    import numpy as np

    arr = np.ascontiguousarray(column, dtype="<i8")
    out = np.empty_like(arr)
    if len(arr):
        out[0] = arr[0]
        np.subtract(arr[1:], arr[:-1], out=out[1:])
    return out
