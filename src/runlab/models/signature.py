"""A model's signature (input schema, output schema, inference parameters) and its inference.

``ModelSignature.to_dict`` gives the ``signature:`` block of an ``MLmodel`` file: each part is a JSON
string (or None), the layout MLflow reads. ``infer_signature`` builds one from example data: pandas
DataFrames and Series, numpy arrays, lists of scalars or of dicts, and dicts of columns or of arrays.
pandas is optional and only imported when the data is a pandas object.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.schema import (
    Array,
    ColSpec,
    ColType,
    OtherType,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

__all__ = ["ModelSignature", "infer_signature"]


class ModelSignature:
    """What a model takes and returns: input schema, optional output schema and parameters."""

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        """The ``signature:`` block: ``inputs``, ``outputs``, ``params`` as JSON strings or None."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        """Read the ``signature:`` block of an ``MLmodel`` file."""
        inputs, outputs, params = data.get("inputs"), data.get("outputs"), data.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ModelSignature)
            and self.inputs == other.inputs
            and self.outputs == other.outputs
            and self.params == other.params
        )

    def __repr__(self) -> str:
        return f"ModelSignature(inputs={self.inputs!r}, outputs={self.outputs!r}, params={self.params!r})"


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """Infer a signature from an example input, an optional output and optional parameters.

    ``params`` maps each inference parameter to its default; its type (and ``shape=(-1,)`` for a
    list) is taken from that default.
    """
    return ModelSignature(
        _infer_schema(model_input) if model_input is not None else None,
        _infer_schema(model_output) if model_output is not None else None,
        _infer_params(params) if params else None,
    )


def _is_pandas(value: Any, name: str) -> bool:
    # Check the class by name so that pandas is never imported for non-pandas data.
    return any(
        c.__name__ == name and c.__module__.startswith("pandas") for c in type(value).__mro__
    )


def _infer_schema(data: Any) -> Schema:
    import numpy as np

    if _is_pandas(data, "DataFrame"):
        return Schema(
            ColSpec(_series_type(data[c], str(c)), str(c), required=not bool(data[c].isna().any()))
            for c in data.columns
        )
    if _is_pandas(data, "Series"):
        name = None if data.name is None else str(data.name)
        return Schema([ColSpec(_series_type(data, name), name, not bool(data.isna().any()))])
    if isinstance(data, np.ndarray):
        return Schema([_tensor_spec(data, None)])
    if isinstance(data, Mapping):
        if not data:
            raise InvalidParameter("Cannot infer a schema from an empty dict.")
        if all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(_tensor_spec(v, str(k)) for k, v in data.items())
        return Schema(ColSpec(_value_type(v, str(k)), str(k)) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidParameter("Cannot infer a schema from an empty list.")
        if all(isinstance(v, Mapping) for v in data):
            return _records_schema(data)
        return Schema([ColSpec(_column_type(list(data), None))])
    return Schema([ColSpec(_value_type(data, None))])


def _records_schema(records: list[Any] | tuple[Any, ...]) -> Schema:
    # Columns in first-seen order; a key missing from some records makes that column optional.
    values: dict[str, list[Any]] = {}
    counts: dict[str, int] = {}
    for record in records:
        for key, value in record.items():
            name = str(key)
            counts[name] = counts.get(name, 0) + 1
            if value is not None:
                values.setdefault(name, []).append(value)
    specs = []
    for name, count in counts.items():
        seen = values.get(name)
        if not seen:
            raise InvalidParameter(
                f"Cannot infer the type of column {name!r}: every value is None."
            )
        required = count == len(records) and len(seen) == count
        specs.append(ColSpec(_column_type(seen, name), name, required))
    return Schema(specs)


def _column_type(values: list[Any], name: str | None) -> ColType:
    """The one type of a column's (non-missing) example values."""
    # An empty list says nothing about its items: judge by the lists that have some.
    filled = [v for v in values if not (isinstance(v, (list, tuple)) and not v)] or values
    return _common_type([_value_type(v, name) for v in filled], name)


def _common_type(types: list[ColType], name: str | None) -> ColType:
    distinct = set(map(str, types))
    if distinct == {"object"} and all(isinstance(t, OtherType) for t in types):
        return _merge_objects([t for t in types if isinstance(t, OtherType)], name)
    if len(distinct) == 1 and all(t == types[0] for t in types):
        return types[0]
    # Mixed int/float examples are doubles (as a DataFrame would make them); anything else is an error.
    if distinct <= {"long", "integer", "double", "float"}:
        return "double"
    raise InvalidParameter(
        f"Cannot infer one type for {_label(name)}: the values have types {sorted(distinct)}."
    )


def _object_type(value: Mapping[Any, Any], name: str | None) -> OtherType:
    """MLflow's ``object`` column type for a dict value: one required property per key, sorted."""
    properties = {}
    for key in sorted(map(str, value)):
        item = value[key] if key in value else next(v for k, v in value.items() if str(k) == key)
        if item is None:
            raise InvalidParameter(
                f"Cannot infer the type of {key!r} in {_label(name)}: it is None."
            )
        properties[key] = {**_type_dict(_value_type(item, name)), "required": True}
    return OtherType.from_dict({"type": "object", "properties": properties})


def _type_dict(col_type: ColType) -> dict[str, Any]:
    return col_type.to_dict() if isinstance(col_type, (Array, OtherType)) else {"type": col_type}


def _merge_objects(objects: list[OtherType], name: str | None) -> OtherType:
    # A property missing from some examples is optional; one typed two ways is an error.
    merged: dict[str, dict[str, Any]] = {}
    all_props = [dict(o.raw).get("properties") or {} for o in objects]
    for props in all_props:
        for key, spec in props.items():
            known = merged.get(key)
            if known is not None and {**known, "required": True} != {**spec, "required": True}:
                raise InvalidParameter(
                    f"Cannot infer one type for {key!r} in {_label(name)}: the examples disagree."
                )
            merged[key] = dict(spec) if known is None else known
    for key, spec in merged.items():
        spec["required"] = all(key in p and p[key].get("required", True) for p in all_props)
    return OtherType.from_dict(
        {"type": "object", "properties": {k: merged[k] for k in sorted(merged)}}
    )


def _label(name: str | None) -> str:
    return f"column {name!r}" if name is not None else "the input"


def _value_type(value: Any, name: str | None) -> ColType:
    """The column type of one Python (or numpy) value; a list becomes an Array of its items."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.int64, np.uint32, np.uint64)):
        return "long"
    if isinstance(value, (np.int8, np.int16, np.int32, np.uint8, np.uint16)):
        return "integer"
    if isinstance(value, np.float32):
        return "float"
    if isinstance(value, (float, np.floating)):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, (_dt.datetime, _dt.date, np.datetime64)):
        return "datetime"
    if isinstance(value, Mapping):
        return _object_type(value, name)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [v for v in value if v is not None]
        if not items:
            raise InvalidParameter(
                f"Cannot infer the item type of {_label(name)} from an empty list."
            )
        return Array(_common_type([_value_type(v, name) for v in items], name))
    raise InvalidParameter(
        f"Cannot infer a column type for {_label(name)} from a value of type {type(value).__name__}."
    )


def _dtype_type(dtype: Any) -> str | None:
    """The column type of a numpy dtype, or None when the dtype says nothing (object)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind in "iu":
        # 64-bit (and unsigned 32-bit, which does not fit an int32) need a long.
        return (
            "long"
            if dtype.itemsize > 4 or (dtype.kind == "u" and dtype.itemsize == 4)
            else "integer"
        )
    if dtype.kind == "f":
        return "float" if dtype.itemsize <= 4 else "double"
    if dtype.kind == "M":
        return "datetime"
    if dtype.kind in "US":
        return "string" if dtype.kind == "U" else "binary"
    return None


def _series_type(series: Any, name: str | None) -> ColType:
    import numpy as np

    dtype = series.dtype
    # pandas extension dtypes (Int64, boolean, string, datetime with tz) expose a numpy equivalent.
    if str(dtype) in ("string", "str") or getattr(dtype, "name", "") in ("string", "str"):
        return "string"
    if str(dtype).startswith("datetime64"):
        return "datetime"
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    try:
        found = _dtype_type(numpy_dtype)
    except TypeError:
        found = None
    if found is not None:
        return found
    values = [
        v for v in series.tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))
    ]
    if not values:
        raise InvalidParameter(f"Cannot infer the type of {_label(name)}: every value is missing.")
    return _column_type(values, name)


def _tensor_spec(array: Any, name: str | None) -> TensorSpec:
    if array.dtype.kind == "O":
        raise InvalidParameter(
            f"Cannot infer a tensor spec for {_label(name)} from an object array; "
            "pass a typed array or a DataFrame."
        )
    # The first dimension is the batch: any size is accepted at predict time.
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(array.dtype, shape, name)


def _infer_params(params: Mapping[str, Any]) -> ParamSchema:
    specs = []
    for name, default in params.items():
        if isinstance(default, (list, tuple)):
            item_type = _value_type(default, name)
            if not isinstance(item_type, Array) or not isinstance(item_type.items, str):
                raise InvalidParameter(f"Parameter {name!r}: only flat lists are supported.")
            param_type, value, shape = item_type.items, [_plain(v) for v in default], (-1,)
        else:
            found = _value_type(default, name)
            if not isinstance(found, str):
                raise InvalidParameter(f"Parameter {name!r}: only flat lists are supported.")
            param_type, value, shape = found, _plain(default), None
        if param_type == "binary":
            # A default must travel in the JSON of the MLmodel file, which has no bytes.
            raise InvalidParameter(f"Parameter {name!r}: binary parameters are not supported.")
        specs.append(ParamSpec(name, param_type, value, shape))
    return ParamSchema(specs)


def _plain(value: Any) -> Any:
    # numpy scalars become Python ones, so the default serializes to JSON.
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value
