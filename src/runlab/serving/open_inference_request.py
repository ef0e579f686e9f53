"""Reading an Open Inference Protocol (v2) inference request into the model's input.

The body (``{"id", "parameters", "inputs", "outputs"}``, optionally followed by binary tensor
data, see :mod:`runlab.serving.open_inference_binary`) is decoded into typed tensors, then
mapped onto what the model's signature takes:

- a **column** signature with names: each input tensor is the column of its name (shape ``[N]``
  or ``[N, 1]``; ``[N, k]`` for an array column), all of one length ``N`` → a DataFrame;
- a **column** signature without names: one tensor ``[N, columns]`` → its rows;
- a **tensor** signature: one tensor of the spec's dtype and shape (``-1`` free) → an ndarray;
  several named specs → a dict of arrays by name;
- **no** signature: one tensor → an ndarray of its shape; several → a DataFrame when they are
  columns of one length (or when the request's ``content_type`` parameter is ``pd``, as
  MLServer's pandas codec sends it), else a dict of arrays.

A tensor the signature has no input for, a required input that is missing, a datatype the
input's type cannot take without loss, and a shape the input does not have are refused with a
400 naming the input. The request's ``parameters`` (but the protocol's own keys) become the
model's inference params, checked against its parameter schema like /invocations' ``params``.
The server's shape limits apply to the shapes the tensors declare, before any data is read.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from runlab.models.schema import Array, ColSpec, Schema, TensorSpec
from runlab.serving.open_inference_binary import BinaryParts, split_body
from runlab.serving.open_inference_tensors import DATATYPES, Tensor, V2Error, read_tensor
from runlab.serving.payload import load_json
from runlab.serving.request_shape import ShapeLimits

__all__ = ["InferRequest", "RequestedOutput", "decode_request", "model_input"]

_REQUEST_KEYS = frozenset(("id", "parameters", "inputs", "outputs"))
#: Request parameters that belong to the protocol (or its clients), not to the model.
_PROTOCOL_PARAMETERS = frozenset(
    ("content_type", "headers", "binary_data_output", "priority", "timeout")
)

# The numpy dtype each column type is held in; a v2 datatype fits when numpy casts it there
# without loss (INT32 → long, FP32 → double, not FP64 → float). Text and any-type columns are
# listed on their own.
_COLUMN_DTYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
}
_TEXT_COLUMNS = frozenset(("string", "binary", "datetime"))


@dataclass(frozen=True)
class RequestedOutput:
    """An output the request asks for, and whether it wants it as binary data (None: unsaid)."""

    name: str
    binary: bool | None


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request."""

    id: str | None
    tensors: list[Tensor]
    parameters: dict[str, Any]
    outputs: list[RequestedOutput] | None

    @property
    def model_params(self) -> dict[str, Any] | None:
        """The parameters meant for the model (None when there are none)."""
        params = {k: v for k, v in self.parameters.items() if k not in _PROTOCOL_PARAMETERS}
        return params or None

    @property
    def binary_output(self) -> bool:
        """Whether outputs not asking otherwise are sent as binary data."""
        return self.parameters.get("binary_data_output") is True


def decode_request(body: bytes, header_length: str | None, limits: ShapeLimits) -> InferRequest:
    """The request in ``body`` (``header_length``: the Inference-Header-Content-Length header)."""
    text, binary = split_body(body, header_length)
    document = load_json(text, "The inference request")
    if not isinstance(document, dict):
        raise V2Error("The inference request must be a JSON object with 'inputs'.")
    unknown = sorted(set(document) - _REQUEST_KEYS)
    if unknown:
        raise V2Error(
            f"The inference request has unknown field(s) {unknown}; it takes id, parameters, "
            "inputs and outputs."
        )
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error("The request's 'id' must be a string.")
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise V2Error("The request's 'parameters' must be an object.")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error("The inference request needs 'inputs', a non-empty list of tensors.")
    _check_limits(inputs, limits)
    parts = BinaryParts(binary)
    tensors = [
        parts.read_tensor(entry, i) if _is_binary(entry) else read_tensor(entry, i)
        for i, entry in enumerate(inputs)
    ]
    parts.check_consumed()
    names = [t.name for t in tensors]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise V2Error(f"The request has several inputs named {duplicates[0]!r}.")
    return InferRequest(request_id, tensors, parameters, _requested_outputs(document))


def _is_binary(entry: Any) -> bool:
    parameters = entry.get("parameters") if isinstance(entry, dict) else None
    return isinstance(parameters, dict) and "binary_data_size" in parameters


def _check_limits(inputs: list[Any], limits: ShapeLimits) -> None:
    """The server's row and column bounds, from the shapes the inputs declare (nothing built)."""
    shapes = [
        e["shape"]
        for e in inputs
        if isinstance(e, dict)
        and isinstance(e.get("shape"), list)
        and all(type(d) is int for d in e["shape"])
    ]
    rows = max((s[0] for s in shapes if s), default=0)
    columns = max([len(inputs), *(s[1] for s in shapes if len(s) > 1)])
    limits.check(columns=columns, rows=rows)


def _requested_outputs(document: dict[str, Any]) -> list[RequestedOutput] | None:
    outputs = document.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise V2Error("The request's 'outputs' must be a list of {\"name\": ...} objects.")
    requested = []
    for position, entry in enumerate(outputs):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise V2Error(f"outputs[{position}] needs a 'name' (a non-empty string).")
        parameters = entry.get("parameters", {})
        if not isinstance(parameters, dict):
            raise V2Error(f"Requested output {name!r}: 'parameters' must be an object.")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise V2Error(f"Requested output {name!r}: binary_data must be true or false.")
        requested.append(RequestedOutput(name, binary))
    return requested


# -- onto the signature -----------------------------------------------------------------------------
def model_input(request: InferRequest, schema: Schema | None) -> Any:
    """The model input the request's tensors make for a model with input ``schema``."""
    tensors = request.tensors
    if schema is None or not len(schema):
        return _unsigned_input(tensors, request.parameters.get("content_type") == "pd")
    if schema.is_tensor_spec:
        return _tensor_input(tensors, [s for s in schema.inputs if isinstance(s, TensorSpec)])
    specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
    if not schema.has_input_names():
        return _positional_input(tensors, specs)
    return _column_input(tensors, specs)


def _unsigned_input(tensors: list[Tensor], as_frame: bool) -> Any:
    if len(tensors) == 1 and not as_frame:
        return tensors[0].array
    lengths = {_column_length(t) for t in tensors}
    if as_frame or (len(lengths) == 1 and None not in lengths):
        return _frame({t.name: _column_values(t) for t in tensors})
    return {t.name: t.array for t in tensors}


def _column_length(tensor: Tensor) -> int | None:
    shape = tensor.array.shape
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return int(shape[0])
    return None


def _column_values(tensor: Tensor, spec: ColSpec | None = None) -> Any:
    """A tensor's values as one column: scalars per row, or (array columns) a list per row."""
    array = tensor.array
    if spec is not None and isinstance(spec.type, Array):
        if array.ndim < 2:
            raise V2Error(
                f"Input {tensor.name!r} is an array column: send shape [rows, length], got "
                f"{list(array.shape)}."
            )
        return list(array)
    if _column_length(tensor) is None:
        raise V2Error(
            f"Input {tensor.name!r} is a column: send shape [rows] or [rows, 1], got "
            f"{list(array.shape)}."
        )
    return array.reshape(-1)


def _frame(columns: dict[str, Any]) -> Any:
    import pandas as pd

    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n!r}: {c}" for n, c in lengths.items())
        raise V2Error(f"The input columns must have one length (rows); they have {shown}.")
    try:
        return pd.DataFrame(columns)
    except (ValueError, TypeError) as exc:  # e.g. a column pandas cannot hold
        raise V2Error(f"The inputs do not make a table: {exc}") from None


def _column_input(tensors: list[Tensor], specs: list[ColSpec]) -> Any:
    by_name = {s.name: s for s in specs}
    unknown = [t.name for t in tensors if t.name not in by_name]
    if unknown:
        raise V2Error(f"The model has no input {unknown[0]!r}; its inputs are {_names(by_name)}.")
    given = {t.name: t for t in tensors}
    missing = [s.name for s in specs if s.required and s.name not in given]
    if missing:
        raise V2Error(f"The request is missing the model's input(s) {missing}.")
    columns = {}
    for spec in specs:
        tensor = given.get(spec.name)  # type: ignore[arg-type]
        if tensor is not None:
            _check_column_datatype(tensor, spec)
            columns[tensor.name] = _as_column_type(_column_values(tensor, spec), tensor, spec)
    return _frame(columns)


def _positional_input(tensors: list[Tensor], specs: list[ColSpec]) -> Any:
    if len(tensors) != 1:
        raise V2Error(
            f"The model takes one tensor of shape [rows, {len(specs)}] (its columns have no "
            f"names); the request has {len(tensors)} inputs."
        )
    array = tensors[0].array
    fits = array.shape[1:] == (len(specs),) or (array.ndim == 1 and len(specs) == 1)
    if not fits:
        raise V2Error(
            f"Input {tensors[0].name!r} must have shape [rows, {len(specs)}] (one value per "
            f"column of the model), got {list(array.shape)}."
        )
    for position, spec in enumerate(specs):
        _check_column_datatype(tensors[0], spec, position)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def _check_column_datatype(tensor: Tensor, spec: ColSpec, position: int = 0) -> None:
    import numpy as np

    kind = spec.type.items if isinstance(spec.type, Array) else spec.type
    if not isinstance(kind, str) or kind == "any":
        return  # nested arrays, objects and "any": the signature check decides
    if kind in _TEXT_COLUMNS:
        ok = tensor.datatype == "BYTES"
    elif kind == "boolean":
        ok = tensor.datatype == "BOOL"
    else:
        ok = tensor.datatype not in ("BYTES", "BOOL") and np.can_cast(
            np.dtype(DATATYPES[tensor.datatype]), np.dtype(_COLUMN_DTYPES[kind]), "safe"
        )
    if not ok:
        raise V2Error(
            f"Input {tensor.name!r} is {tensor.datatype}, but the model's column "
            f"{spec.name if spec.name is not None else position!r} is {kind}: send "
            f"{_datatypes_for(kind)}."
        )


def _datatypes_for(kind: str) -> str:
    import numpy as np

    if kind in _TEXT_COLUMNS:
        return "BYTES" + (" (ISO 8601 text)" if kind == "datetime" else "")
    return _fitting(np.dtype(_COLUMN_DTYPES[kind]))


def _fitting(target: Any) -> str:
    """The v2 datatypes numpy casts to ``target`` without loss, as a message lists them."""
    import numpy as np

    fitting = [
        name
        for name, dtype in DATATYPES.items()
        if name != "BYTES"
        and (name == "BOOL") == (target.kind == "b")
        and np.can_cast(np.dtype(dtype), target, "safe")
    ]
    if len(fitting) < 2:
        return "".join(fitting)
    return f"{', '.join(fitting[:-1])} or {fitting[-1]}"


def _as_column_type(values: Any, tensor: Tensor, spec: ColSpec) -> Any:
    """BYTES values as the column holds them: str for text, bytes for binary columns."""
    if tensor.datatype != "BYTES" or isinstance(spec.type, Array):
        return values
    import numpy as np

    base64_text = tensor.parameters.get("content_type") == "base64"
    convert = _to_bytes if spec.type == "binary" else _to_text
    out = np.empty(len(values), dtype=object)
    out[:] = [convert(tensor.name, v, base64_text) for v in values]
    return out


def _to_text(name: str, value: Any, _base64: bool) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise V2Error(f"Input {name!r} holds bytes that are not UTF-8 text.") from None
    return value


def _to_bytes(name: str, value: Any, base64_text: bool) -> Any:
    if not isinstance(value, str):
        return value
    if not base64_text:
        return value.encode("utf-8")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise V2Error(f"Input {name!r} says content_type base64 but holds {value!r}.") from None


def _tensor_input(tensors: list[Tensor], specs: list[TensorSpec]) -> Any:
    if specs[0].name is None:
        if len(tensors) != 1:
            raise V2Error(
                f"The model takes one tensor (dtype {specs[0].dtype}, shape "
                f"{list(specs[0].shape)}); the request has {len(tensors)} inputs."
            )
        return _checked_tensor(tensors[0], specs[0])
    by_name = {s.name: s for s in specs}
    unknown = [t.name for t in tensors if t.name not in by_name]
    if unknown:
        raise V2Error(f"The model has no input {unknown[0]!r}; its inputs are {_names(by_name)}.")
    given = {t.name: t for t in tensors}
    missing = [s.name for s in specs if s.name not in given]
    if missing:
        raise V2Error(f"The request is missing the model's input(s) {missing}.")
    checked = {s.name: _checked_tensor(given[s.name], s) for s in specs if s.name is not None}
    if len(specs) == 1:
        return next(iter(checked.values()))
    return checked


def _checked_tensor(tensor: Tensor, spec: TensorSpec) -> Any:
    import numpy as np

    array = tensor.array
    target = np.dtype(spec.dtype)
    if tensor.datatype == "BYTES":
        fits = target.kind in "OUS"
    else:
        fits = (target.kind == "b") == (tensor.datatype == "BOOL") and np.can_cast(
            array.dtype, target, "safe"
        )
    if not fits:
        raise V2Error(
            f"Input {tensor.name!r} is {tensor.datatype}, but the model takes {spec.dtype}; "
            f"send {_tensor_datatypes(target)}."
        )
    want = list(spec.shape)
    got = list(array.shape)
    if len(want) != len(got) or any(w not in (-1, g) for w, g in zip(want, got, strict=True)):
        raise V2Error(
            f"Input {tensor.name!r} has shape {got}; the model takes shape {want} (-1: any size)."
        )
    if tensor.datatype == "BYTES" and target.kind == "U":
        return np.array([_to_text(tensor.name, v, False) for v in array.ravel()]).reshape(got)
    return array.astype(target, copy=False)


def _tensor_datatypes(target: Any) -> str:
    if target.kind in "OUS":
        return "BYTES"
    return _fitting(target) or "a datatype numpy casts to it safely"


def _names(by_name: dict[Any, Any]) -> str:
    return ", ".join(repr(n) for n in by_name)
