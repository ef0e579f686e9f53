"""The binary tensor data extension of the Open Inference Protocol (Triton's, used by tritonclient).

A request with the ``Inference-Header-Content-Length: N`` header carries its JSON in the first
``N`` bytes of the body and raw tensor data after it: each input whose parameters say
``binary_data_size: K`` takes the next ``K`` bytes, in input order. Fixed-size datatypes are
little-endian arrays in row-major order (``BOOL`` one byte per value); ``BYTES`` elements are
each a 4-byte little-endian length followed by that many bytes. tritonclient sends its inputs
this way unless told ``binary_data=False``.

A response carries an output the same way when the request asked for it: ``binary_data: true``
in that requested output's parameters, or ``binary_data_output: true`` in the request's
parameters (for every output not asking otherwise). Its JSON then holds ``binary_data_size``
instead of ``data``, and the response has the same header. Nothing here allocates more than
the body already holds: every size is checked against the bytes left before it is used.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from runlab.serving.open_inference_tensors import (
    Tensor,
    V2Error,
    numpy_dtype,
    tensor_header,
)

__all__ = [
    "HEADER_LENGTH",
    "BinaryParts",
    "binary_data",
    "split_body",
]

#: The header that says how long the JSON part of a body is.
HEADER_LENGTH = "inference-header-content-length"

_LENGTH = struct.Struct("<I")


def split_body(body: bytes, header: str | None) -> tuple[bytes, bytes | None]:
    """The JSON part of a request body and its binary part (None without the header)."""
    if header is None:
        return body, None
    if not header.strip().isdigit() or int(header) > len(body):
        raise V2Error(
            f"The Inference-Header-Content-Length header ({header!r}) must be the length of the "
            f"JSON part of the body ({len(body)} bytes in all)."
        )
    length = int(header)
    return body[:length], body[length:]


class BinaryParts:
    """The binary part of a request, handed out to its inputs in order."""

    def __init__(self, data: bytes | None) -> None:
        self._data = memoryview(data or b"")
        self._position = 0
        self._present = data is not None

    def read_tensor(self, entry: Any, position: int) -> Tensor:
        """The tensor of an input whose data is binary (``binary_data_size`` in parameters)."""
        name, shape, datatype, parameters = tensor_header(entry, position)
        if "data" in entry:
            raise V2Error(f"Input {name!r} has both 'data' and binary_data_size; send one.")
        size = parameters.get("binary_data_size")
        if type(size) is not int or size < 0:
            raise V2Error(f"Input {name!r}: binary_data_size must be a non-negative integer.")
        if not self._present:
            raise V2Error(
                f"Input {name!r} has binary data but the request has no "
                "Inference-Header-Content-Length header saying where its JSON ends."
            )
        if size > len(self._data) - self._position:
            raise V2Error(
                f"Input {name!r} says it has {size:,} bytes of binary data; the body holds only "
                f"{len(self._data) - self._position:,} more."
            )
        chunk = self._data[self._position : self._position + size]
        self._position += size
        array = _decode(name, shape, datatype, chunk)
        rest = {k: v for k, v in parameters.items() if k != "binary_data_size"}
        return Tensor(name, array, datatype, rest)

    def check_consumed(self) -> None:
        """Refuse a body with binary data that no input claimed."""
        left = len(self._data) - self._position
        if left:
            raise V2Error(
                f"The body holds {left:,} bytes of binary data after the inputs' "
                "binary_data_size; each input's size must match its data."
            )


def _decode(name: str, shape: list[int], datatype: str, chunk: memoryview) -> Any:
    import numpy as np

    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, shape, count, chunk)
    dtype = numpy_dtype(datatype)
    wire = np.dtype("uint8") if datatype == "BOOL" else dtype.newbyteorder("<")
    expected = count * wire.itemsize
    if len(chunk) != expected:
        raise V2Error(
            f"Input {name!r} has {len(chunk):,} bytes of binary data; shape {shape} of "
            f"{datatype} takes {expected:,}."
        )
    values = np.frombuffer(chunk, dtype=wire)
    if datatype == "BOOL":
        return (values != 0).reshape(shape)
    # A copy in the machine's byte order: the model gets an ordinary, writable array.
    return values.astype(dtype).reshape(shape)


def _decode_bytes(name: str, shape: list[int], count: int, chunk: memoryview) -> Any:
    import numpy as np

    items: list[bytes] = []
    position, size = 0, len(chunk)
    while position < size:
        if position + 4 > size or len(items) >= count:
            break
        (length,) = _LENGTH.unpack_from(chunk, position)
        position += 4
        if position + length > size:
            break
        items.append(bytes(chunk[position : position + length]))
        position += length
    if len(items) != count or position != size:
        raise V2Error(
            f"Input {name!r} has BYTES binary data that does not hold exactly {count:,} "
            "length-prefixed element(s) (a 4-byte little-endian length before each)."
        )
    out = np.empty(count, dtype=object)
    out[:] = items
    return out.reshape(shape)


def binary_data(datatype: str, array: Any) -> bytes:
    """An output array's values as the extension's raw bytes (see the module docstring)."""
    import numpy as np

    if datatype == "BYTES":
        if array.dtype.kind in "Mm":
            texts = [b"" if np.isnat(v) else str(v).encode() for v in array.ravel()]
        else:
            texts = [_raw(v) for v in array.ravel().tolist()]
        return b"".join(_LENGTH.pack(len(t)) + t for t in texts)
    if datatype == "BOOL":
        return np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _raw(value: Any) -> bytes:
    # Raw bytes are sent as they are: only the JSON form needs them to be UTF-8 text.
    if isinstance(value, bytes):
        return value
    return b"" if value is None else str(value).encode("utf-8")
