"""Typed tensors of the Open Inference Protocol (v2): reading a request's, writing a response's.

A v2 tensor is ``{"name", "shape", "datatype", "data"}`` (plus optional ``parameters``), its data
row-major, flat or nested as the shape says. :func:`read_tensor` turns one into a numpy array
after checking everything the protocol promises: a known datatype, a shape of non-negative
integers, data whose element count (or nesting) matches the shape, and values of the declared
type (booleans for ``BOOL``, integers in range for the integer types, numbers for ``FP*``,
strings for ``BYTES``). Nothing is coerced silently: ``1.5`` in an ``INT64`` tensor is an error,
not ``1``. :func:`write_tensor` does the reverse for the model's outputs.

``null`` is accepted in ``FP*`` data (a missing value, NaN) and ``BYTES`` data (None), so that
optional columns can be left empty; the signature check refuses missing values in required ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runlab.serving.errors import BadRequest, ModelFailure

__all__ = [
    "DATATYPES",
    "Tensor",
    "V2Error",
    "datatype_of",
    "json_data",
    "numpy_dtype",
    "output_tensor",
    "read_tensor",
    "tensor_header",
]

#: The protocol's datatypes and the numpy dtype each is read into (``BYTES``: Python objects).
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}

# The deepest tensor accepted: numpy's own limit is 64, and no model takes more than a handful.
_MAX_DIMENSIONS = 32


class V2Error(BadRequest):
    """A request the Open Inference Protocol routes refuse, with the status they answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Tensor:
    """One decoded input tensor: its name, the array (of its declared shape) and datatype."""

    name: str
    array: Any
    datatype: str
    parameters: dict[str, Any]


def numpy_dtype(datatype: str) -> Any:
    """The numpy dtype a v2 datatype is read into."""
    import numpy as np

    return np.dtype(DATATYPES[datatype])


def datatype_of(dtype: Any) -> str | None:
    """The v2 datatype of a numpy dtype (strings, bytes, objects and dates: ``BYTES``)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind in "OUSMm":
        return "BYTES"
    for name, numpy_name in DATATYPES.items():
        if numpy_name != "object" and np.dtype(numpy_name) == dtype:
            return name
    return None  # complex numbers, structured dtypes: the protocol has no type for them


# -- reading ----------------------------------------------------------------------------------------
def tensor_header(entry: Any, position: int) -> tuple[str, list[int], str, dict[str, Any]]:
    """The name, shape, datatype and parameters of request input ``entry`` (checked)."""
    if not isinstance(entry, dict):
        raise V2Error(f"inputs[{position}] must be an object with name, shape, datatype and data.")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise V2Error(f"inputs[{position}] needs a 'name' (a non-empty string).")
    datatype = entry.get("datatype")
    if datatype not in DATATYPES:
        raise V2Error(
            f"Input {name!r} has datatype {datatype!r}; the protocol's datatypes are "
            f"{', '.join(DATATYPES)}."
        )
    shape = entry.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMENSIONS
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise V2Error(
            f"Input {name!r} has shape {shape!r}; a shape is a list of at most "
            f"{_MAX_DIMENSIONS} non-negative integers."
        )
    parameters = entry.get("parameters", {})
    if not isinstance(parameters, dict):
        raise V2Error(f"Input {name!r}: 'parameters' must be an object.")
    unknown = sorted(set(entry) - {"name", "shape", "datatype", "data", "parameters"})
    if unknown:
        raise V2Error(f"Input {name!r} has unknown field(s) {unknown}.")
    return name, shape, datatype, parameters


def read_tensor(entry: dict[str, Any], position: int) -> Tensor:
    """The tensor a request input holds in JSON (``data``), checked against its header."""
    name, shape, datatype, parameters = tensor_header(entry, position)
    if "data" not in entry:
        raise V2Error(f"Input {name!r} has no 'data'.")
    data = entry["data"]
    if not isinstance(data, list):
        data = [data]  # a scalar stands for a one-element tensor
    return Tensor(name, _array(name, shape, datatype, data), datatype, parameters)


def _array(name: str, shape: list[int], datatype: str, data: list[Any]) -> Any:
    import numpy as np

    expected = math.prod(shape)
    flat = data if not data or not isinstance(data[0], list) else None
    if flat is not None:
        if len(flat) != expected:
            raise V2Error(
                f"Input {name!r} has {len(flat):,} data element(s) but its shape {shape} holds "
                f"{expected:,}."
            )
        try:
            values = _typed(name, datatype, flat)
        except ValueError:  # a list among the values
            raise V2Error(
                f"Input {name!r} mixes values and lists in its data; send it flat or nested "
                f"as its shape {shape}."
            ) from None
        return values.reshape(shape)
    # Nested data: its nesting must be the shape itself.
    try:
        values = _typed(name, datatype, data)
    except ValueError:
        values = None
    if values is None or list(values.shape) != shape:
        got = list(values.shape) if values is not None else "ragged"
        raise V2Error(f"Input {name!r} has nested data of shape {got}, not its shape {shape}.")
    return np.ascontiguousarray(values)


def _typed(name: str, datatype: str, data: list[Any]) -> Any:
    """``data`` as an array of ``datatype``; V2Error naming the first wrong value otherwise."""
    import numpy as np

    if datatype == "BYTES":
        return _strings(name, data)
    try:
        raw = np.asarray(data)
    except ValueError:
        raise ValueError("ragged") from None
    kind = raw.dtype.kind
    target = numpy_dtype(datatype)
    if datatype == "BOOL":
        if kind != "b" and raw.size:
            raise _wrong_value(name, datatype, _flat(data), _is_bool, "true or false")
        return raw.astype(bool)
    if target.kind in "iu":
        if kind not in "iu" and raw.size:
            values = _flat(data)
            if not all(_is_int(v) for v in values):
                raise _wrong_value(name, datatype, values, _is_int, "integers")
            # numpy made floats (int64 and uint64 values mixed) or objects (beyond 64 bits) of
            # them: checked and converted from the exact Python integers.
            _check_range(name, datatype, target, min(values), max(values))
            return np.array(values, dtype=target).reshape(raw.shape)
        if raw.size:
            # Compared as Python ints: numpy would wrap a uint64 compared with an int64.
            _check_range(name, datatype, target, int(raw.min()), int(raw.max()))
        return raw.astype(target)
    # Floating point: numbers, and null for a missing value.
    if kind not in "iuf" and raw.size:
        values = _flat(data)
        if not all(_is_number_or_null(v) for v in values):
            raise _wrong_value(name, datatype, values, _is_number_or_null, "numbers")
        raw = np.array(values, dtype=np.float64).reshape(raw.shape)
    with np.errstate(over="ignore"):
        converted = raw.astype(target)
    if np.isinf(converted).any() and not np.isinf(raw).any():
        raise V2Error(f"Input {name!r} holds a value too large for {datatype}.")
    return converted


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number_or_null(value: Any) -> bool:
    return value is None or type(value) in (int, float)


def _check_range(name: str, datatype: str, target: Any, smallest: int, largest: int) -> None:
    import numpy as np

    low, high = np.iinfo(target).min, np.iinfo(target).max
    if smallest < low or largest > high:
        bad = smallest if smallest < low else largest
        raise V2Error(f"Input {name!r} holds {bad}, outside the range of {datatype}.")


def _flat(data: list[Any]) -> list[Any]:
    """The values of (regular or not) nested lists, in order."""
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


def _strings(name: str, data: list[Any]) -> Any:
    import numpy as np

    depth = _depth(data)
    flat: list[Any] = data
    for _ in range(depth - 1):
        flat = [v for row in flat if isinstance(row, list) for v in row]
    if not all(isinstance(v, str) or v is None for v in flat):
        bad = next(v for v in flat if not (isinstance(v, str) or v is None))
        raise V2Error(f"Input {name!r} is BYTES and holds {bad!r}; BYTES data are strings.")
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    if depth == 1:
        return out
    shape = _nested_shape(data, depth)
    if shape is None or math.prod(shape) != len(flat):
        raise ValueError("ragged")
    return out.reshape(shape)


def _depth(data: list[Any]) -> int:
    depth, value = 1, data
    while isinstance(value, list) and value and isinstance(value[0], list):
        depth += 1
        value = value[0]
    return depth


def _nested_shape(data: list[Any], depth: int) -> list[int] | None:
    """The shape of regular nested lists ``depth`` deep; None when they are ragged."""
    shape: list[int] = []
    level: list[Any] = [data]
    for _ in range(depth):
        sizes = {len(v) if isinstance(v, list) else -1 for v in level}
        if len(sizes) != 1 or -1 in sizes:
            return None
        shape.append(sizes.pop())
        level = [v for row in level for v in row]
    return shape


def _wrong_value(
    name: str, datatype: str, values: list[Any], ok: Callable[[Any], bool], wanted: str
) -> V2Error:
    bad = next((v for v in values if not ok(v)), None)
    return V2Error(f"Input {name!r} is {datatype} and holds {bad!r}; {datatype} data are {wanted}.")


# -- writing ----------------------------------------------------------------------------------------
def output_tensor(name: str, values: Any) -> tuple[str, Any]:
    """The v2 datatype and array of a model output (anything numpy reads).

    Values without a v2 datatype (mixed objects, complex numbers) are a :class:`ModelFailure`.
    """
    array = _output_array(name, values)
    datatype = datatype_of(array.dtype)
    if datatype is None:
        raise ModelFailure(
            f"The model's output {name!r} has dtype {array.dtype}, which the Open Inference "
            "Protocol has no datatype for."
        )
    return datatype, array


def json_data(name: str, datatype: str, array: Any) -> list[Any]:
    """An output array's values as the flat (row-major) JSON list the protocol's servers write.

    NaN becomes null (JSON has no NaN); ``BYTES`` values are text: dates in ISO 8601, bytes
    decoded as UTF-8 (others need the binary extension).
    """
    import numpy as np

    if datatype != "BYTES":
        return list(array.ravel().tolist())
    if array.dtype.kind in "Mm":
        return [None if np.isnat(v) else str(v) for v in array.ravel()]
    return [_text(name, v) for v in array.ravel().tolist()]


def _output_array(name: str, values: Any) -> Any:
    import numpy as np

    if hasattr(values, "to_numpy"):  # a pandas Series (frames are split into columns first)
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise ModelFailure(f"The model's output {name!r} is not a regular tensor: {exc}") from None
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind == "O":
        array = _settle_objects(name, array)
    return array


def _settle_objects(name: str, array: Any) -> Any:
    """An object array as strings (BYTES) when it holds text, else as the numbers it holds."""
    import numpy as np

    flat = array.ravel().tolist()
    if all(isinstance(v, (str, bytes)) or v is None for v in flat):
        return array
    if flat and all(isinstance(v, list | tuple | np.ndarray) for v in flat):
        # A column of equal-length lists (e.g. class probabilities per row): one more dimension.
        try:
            stacked = np.array(flat)
        except ValueError:  # ragged
            stacked = None
        if stacked is not None and stacked.dtype.kind != "O":
            return stacked.reshape(array.shape + stacked.shape[1:])
    else:
        numbers = np.array(flat)
        if numbers.dtype.kind in "biuf":
            return numbers.reshape(array.shape)
    raise ModelFailure(
        f"The model's output {name!r} mixes values of several types; an Open Inference "
        "Protocol tensor holds one datatype."
    )


def _text(name: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFailure(
                f"The model's output {name!r} holds bytes that are not UTF-8 text; ask for it "
                'as binary data ("parameters": {"binary_data": true} on the requested output).'
            ) from None
    return str(value)
