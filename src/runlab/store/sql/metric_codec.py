"""Packing of metric points into chunk blobs.

A chunk holds one run's points for one key. Layout (version 2, written since the values were
first stored uncompressed when compressing them does not pay)::

    byte 0       format version (2)
    byte 1       how the values are stored: 0 as they are, 1 zlib-compressed
    bytes 2..5   count: uint32
    bytes 6..9   length of the compressed steps and timestamps: uint32
    then         zlib( steps:int64[count] | timestamps:int64[count] )
    then         values: float64[count], or zlib( values:float64[count] )

all little-endian, with steps and timestamps delta-encoded: training loops log steps 0, 1, 2, ...
and timestamps a few milliseconds apart, so their deltas are tiny and compress to almost nothing,
for a few microseconds. Values are stored bit-exact, so NaN and +-Inf survive. Noisy values (a
loss, a gradient norm) do not compress: zlib spent most of a batch's encoding time on them to
save under 2% of their size, so they are stored as they are, and only series that look
compressible (repeated values, round numbers, float32 results widened to float64) are
compressed.

Version 1 (still read)::

    byte 0      format version (1)
    bytes 1..   zlib( count:uint32 | steps:int64[count] | timestamps:int64[count] | values:float64[count] )
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

from runlab.errors import RunlabError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FORMAT_VERSION = 2
#: Version, how the values are stored, count, length of the compressed steps and timestamps.
_HEADER = struct.Struct("<BBII")
_VALUES_AS_THEY_ARE, _VALUES_COMPRESSED = 0, 1
_ZLIB_LEVEL = 3
#: The values' compressibility is judged on the bytes of the first this many values.
_SAMPLE_VALUES = 64
#: Fewer distinct byte values than this in the sample: the values are worth compressing. A
#: sample of noisy float64 values shows 190-210 of the 256 (random bytes: about 220); repeated
#: values, integers, short decimals and widened float32 results show 160 or fewer.
_COMPRESSIBLE_BELOW = 176


def encode(
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    *,
    deltas: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
) -> bytes:
    """Pack three equally long arrays into a chunk blob.

    ``deltas`` are the steps' and timestamps' deltas (the first value, then each difference
    from the one before), when the caller has them already.
    """
    import numpy as np

    count = len(steps)
    step_deltas, timestamp_deltas = (
        (_delta(steps), _delta(timestamps)) if deltas is None else deltas
    )
    ints = zlib.compress(
        np.ascontiguousarray(step_deltas, dtype="<i8").tobytes()
        + np.ascontiguousarray(timestamp_deltas, dtype="<i8").tobytes(),
        _ZLIB_LEVEL,
    )
    value_array = np.ascontiguousarray(values, dtype="<f8")
    stored = value_array.tobytes()
    how = _VALUES_AS_THEY_ARE
    if _worth_compressing(value_array):
        packed = zlib.compress(stored, _ZLIB_LEVEL)
        if len(packed) < len(stored):
            stored, how = packed, _VALUES_COMPRESSED
    return _HEADER.pack(FORMAT_VERSION, how, count, len(ints)) + ints + stored


def decode(
    blob: bytes,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Unpack a chunk blob (either version) into (steps, timestamps, values)."""
    import numpy as np

    version = blob[0] if blob else None
    if version == 1:
        return _decode_version_1(blob)
    if version != FORMAT_VERSION or len(blob) < _HEADER.size:
        raise RunlabError(
            f"Metric chunk has format {bytes(blob[:1])!r}, which this runlab cannot read; upgrade "
            "runlab."
        )
    _, how, count, ints_length = _HEADER.unpack_from(blob)
    start = _HEADER.size
    ints = zlib.decompress(blob[start : start + ints_length])
    stored = blob[start + ints_length :]
    value_bytes = zlib.decompress(stored) if how == _VALUES_COMPRESSED else bytes(stored)
    if len(ints) != 16 * count or len(value_bytes) != 8 * count:
        raise RunlabError(f"Metric chunk is damaged: it should hold {count} points.")
    steps = np.cumsum(np.frombuffer(ints, dtype="<i8", count=count))
    timestamps = np.cumsum(np.frombuffer(ints, dtype="<i8", count=count, offset=8 * count))
    values = np.frombuffer(value_bytes, dtype="<f8", count=count)
    return steps.astype(np.int64), timestamps.astype(np.int64), values.astype(np.float64)


def _decode_version_1(
    blob: bytes,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    import numpy as np

    payload = zlib.decompress(bytes(blob[1:]))
    count = int(np.frombuffer(payload, dtype="<u4", count=1)[0])
    offset = 4
    steps = np.cumsum(np.frombuffer(payload, dtype="<i8", count=count, offset=offset))
    offset += 8 * count
    timestamps = np.cumsum(np.frombuffer(payload, dtype="<i8", count=count, offset=offset))
    offset += 8 * count
    values = np.frombuffer(payload, dtype="<f8", count=count, offset=offset)
    return steps.astype(np.int64), timestamps.astype(np.int64), values.astype(np.float64)


def _worth_compressing(values: npt.NDArray[np.float64]) -> bool:
    """Whether zlib is likely to shrink these values, judged in a few microseconds."""
    import numpy as np

    sample = values[:_SAMPLE_VALUES].view(np.uint8)
    return int(np.count_nonzero(np.bincount(sample, minlength=256))) < _COMPRESSIBLE_BELOW


def _delta(column: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    import numpy as np

    arr = np.ascontiguousarray(column, dtype="<i8")
    out = np.empty_like(arr)
    if len(arr):
        out[0] = arr[0]
        np.subtract(arr[1:], arr[:-1], out=out[1:])
    return out
