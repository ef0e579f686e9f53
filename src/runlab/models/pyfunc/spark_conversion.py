"""Between Spark's Arrow batches and a pyfunc model: the model's input frame and the UDF's result.

The result type a user asks for (a Spark ``DataType``) is described once, on the driver, as a
:class:`ResultShape`: a small picklable value the workers convert every batch with, without
looking at pyspark's type classes again. What a prediction may become follows MLflow's
``spark_udf``:

- a scalar type takes the leftmost output column whose values fit it (``int``: integers of up
  to 32 bits; ``long``: integers of up to 64; ``float``/``double``: any number; ``boolean``:
  booleans; ``string``: anything, as text);
- ``array<scalar>`` takes every column that fits, one array per row (or the row's own list when
  the model returns one sequence per row); ``array<array<…>>`` needs one nested sequence per row;
- a struct takes its fields from the output's columns (or dict keys) of the same names.

A missing value stays missing: Spark gets a null (not the text ``"None"``; pyspark also sends a
floating NaN as null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from runlab.errors import InvalidParameter

__all__ = [
    "SCALAR_TYPES",
    "ResultShape",
    "column_labels",
    "describe_result_type",
    "model_input",
    "to_spark_result",
]

#: Spark scalar type name -> the numpy type its values are sent as (None: Python objects).
SCALAR_TYPES: dict[str, Any] = {
    "int": np.int32,
    "long": np.int64,
    "float": np.float32,
    "double": np.float64,
    "boolean": np.bool_,
    "string": None,
}
# pyspark type class name -> our scalar name.
_SPARK_SCALARS = {
    "IntegerType": "int",
    "LongType": "long",
    "FloatType": "float",
    "DoubleType": "double",
    "BooleanType": "boolean",
    "StringType": "string",
}
_SUPPORTED = (
    "int, long, float, double, boolean, string; array<…> of those (or of arrays); "
    "struct<name: type, …> of those"
)


@dataclass(frozen=True)
class ResultShape:
    """The UDF's result type as the workers need it.

    ``kind`` is ``"scalar"`` (``scalar`` names it), ``"array"`` (``element`` is the item's
    shape) or ``"struct"`` (``fields`` are ``(name, shape)`` pairs in order).
    """

    kind: str
    scalar: str = ""
    element: ResultShape | None = None
    fields: tuple[tuple[str, ResultShape], ...] = ()

    def __str__(self) -> str:
        if self.kind == "scalar":
            return self.scalar
        if self.kind == "array":
            return f"array<{self.element}>"
        return "struct<" + ", ".join(f"{name}: {shape}" for name, shape in self.fields) + ">"


def describe_result_type(data_type: Any) -> ResultShape:
    """The :class:`ResultShape` of a pyspark ``DataType``; InvalidParameter for other types."""
    name = type(data_type).__name__
    if name in _SPARK_SCALARS:
        return ResultShape("scalar", scalar=_SPARK_SCALARS[name])
    if name == "ArrayType":
        return ResultShape("array", element=describe_result_type(data_type.elementType))
    if name == "StructType":
        if not data_type.fields:
            raise InvalidParameter("A struct result type needs at least one field.")
        return ResultShape(
            "struct",
            fields=tuple((f.name, describe_result_type(f.dataType)) for f in data_type.fields),
        )
    simple = getattr(data_type, "simpleString", lambda: repr(data_type))()
    raise InvalidParameter(
        f"spark_udf cannot return {simple}. Supported result types: {_SUPPORTED}."
    )


# -- input ----------------------------------------------------------------------------------------
def model_input(batch: Any, names: Sequence[str] | None) -> pd.DataFrame:
    """The frame the model predicts on, from one batch of the UDF's arguments.

    A single struct argument arrives as a DataFrame and is used as it is (its field names are
    the columns). Separate column arguments are named after the model signature's inputs, in
    order, or ``"0"``, ``"1"``, … without a signature; a struct among several arguments becomes
    one column of dicts.
    """
    if isinstance(batch, pd.DataFrame):
        return batch
    args = (batch,) if isinstance(batch, pd.Series) else tuple(batch)
    labels = column_labels(len(args), names)
    block = _numeric_block(args)
    if block is not None:
        # One 2-D block instead of one per column: the signature check and the model (e.g.
        # scikit-learn's conversion to an array) then read it without copying each batch.
        return pd.DataFrame(block.T, columns=labels, copy=False)
    columns = {
        label: pd.Series(arg.to_dict("records"), index=arg.index)
        if isinstance(arg, pd.DataFrame)
        else arg
        for label, arg in zip(labels, args, strict=True)
    }
    return pd.DataFrame(columns, copy=False)


def column_labels(count: int, names: Sequence[str] | None) -> list[str]:
    """The model's column names for ``count`` separate UDF arguments (see :func:`model_input`)."""
    if not names:
        return [str(i) for i in range(count)]
    if count > len(names):
        raise InvalidParameter(
            f"The UDF was called with {count} columns, but the model's signature has "
            f"{len(names)} inputs ({', '.join(names)}). Pass at most that many, in that "
            "order, or one struct whose field names are the inputs."
        )
    return list(names[:count])


def _numeric_block(args: tuple[Any, ...]) -> np.ndarray | None:
    """The columns as one ``(columns, rows)`` array when they share a numeric numpy dtype."""
    if len(args) < 2 or not all(isinstance(arg, pd.Series) for arg in args):
        return None
    dtype = args[0].dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iuf":
        return None
    if any(arg.dtype != dtype for arg in args):
        return None
    block = np.empty((len(args), len(args[0])), dtype=dtype)
    for row, arg in zip(block, args, strict=True):
        row[:] = arg.to_numpy(copy=False)
    return block


# -- output ---------------------------------------------------------------------------------------
def to_spark_result(predictions: Any, shape: ResultShape, rows: int) -> pd.Series | pd.DataFrame:
    """``predictions`` for ``rows`` input rows as the column(s) Spark expects for ``shape``."""
    if shape.kind == "struct":
        frame = _as_frame(predictions)
        _check_rows(len(frame), rows)
        out = {}
        for name, field in shape.fields:
            if name not in frame.columns:
                have = ", ".join(map(str, frame.columns))
                raise InvalidParameter(
                    f"The result struct has a field {name!r}, but the model's output has no "
                    f"column of that name (its columns: {have})."
                )
            out[name] = _field_values(frame[name], field)
        return pd.DataFrame(out)
    if shape.kind == "array":
        values = _array_rows(predictions, shape)
        _check_rows(len(values), rows)
        return values
    values = _scalar_column(predictions, shape.scalar)
    _check_rows(len(values), rows)
    return values


def _check_rows(got: int, rows: int) -> None:
    if got != rows:
        raise InvalidParameter(
            f"The model returned {got} predictions for a batch of {rows} rows; spark_udf needs "
            "one prediction per input row."
        )


def _scalar_column(predictions: Any, scalar: str) -> pd.Series:
    """The leftmost output column that fits ``scalar``, converted to it."""
    if isinstance(predictions, (list, tuple)) and predictions and _is_sequence(predictions[0]):
        predictions = _as_frame(predictions)
    if isinstance(predictions, (list, tuple)):
        predictions = np.asarray(predictions)
    if isinstance(predictions, (np.ndarray, pd.Series)) and predictions.ndim == 1:
        # The common case (a classifier's or regressor's 1-D output): no frame is built.
        if not _fits(predictions.dtype, scalar):
            raise _nothing_fits(scalar, [("the output", predictions.dtype)])
        return _converted(predictions, scalar)
    frame = _as_frame(predictions)
    for name in frame.columns:
        column = frame[name]
        if _fits(column.dtype, scalar):
            return _converted(column, scalar)
    raise _nothing_fits(scalar, [(f"column {name!r}", frame[name].dtype) for name in frame])


def _array_rows(predictions: Any, shape: ResultShape) -> pd.Series:
    """One array per row for an ``array<…>`` result."""
    element = shape.element
    assert element is not None
    if element.kind != "scalar" or _holds_row_sequences(predictions):
        return pd.Series([_array_value(row, element) for row in _rows_of(predictions)])
    frame = _as_frame(predictions)
    fitting = [name for name in frame.columns if _fits(frame[name].dtype, element.scalar)]
    if not fitting:
        raise _nothing_fits(
            f"array<{element.scalar}>",
            [(f"column {name!r}", frame[name].dtype) for name in frame],
        )
    if element.scalar == "string":
        parts = [_converted(frame[name], "string") for name in fitting]
        return pd.Series([list(row) for row in zip(*parts, strict=True)] if parts else [])
    matrix = frame[fitting].to_numpy(dtype=SCALAR_TYPES[element.scalar])
    return pd.Series(list(matrix))


def _array_value(row: Any, element: ResultShape) -> Any:
    """One row's value for an array whose items have the shape ``element``."""
    if _is_missing(row):
        return None
    if not _is_sequence(row):
        raise InvalidParameter(
            f"An array<{element}> result needs a sequence for every row; the model returned "
            f"{type(row).__name__} {row!r}."
        )
    if element.kind == "scalar":
        if element.scalar == "string":
            return [None if _is_missing(v) else str(v) for v in row]
        return np.asarray(row, dtype=SCALAR_TYPES[element.scalar])
    if element.kind == "array":
        return [_array_value(item, element.element or element) for item in row]
    return [_struct_value(item, element) for item in row]


def _struct_value(item: Any, shape: ResultShape) -> dict[str, Any] | None:
    if _is_missing(item):
        return None
    if not isinstance(item, Mapping):
        raise InvalidParameter(
            f"A {shape} value needs a dict per item; the model returned {type(item).__name__}."
        )
    return {name: item.get(name) for name, _ in shape.fields}


def _field_values(column: pd.Series, field: ResultShape) -> pd.Series:
    """One struct field's column."""
    if field.kind == "scalar":
        if not _fits(column.dtype, field.scalar):
            raise _nothing_fits(field.scalar, [(f"column {column.name!r}", column.dtype)])
        return _converted(column, field.scalar)
    if field.kind == "array":
        return pd.Series([_array_value(row, field.element or field) for row in column])
    return pd.Series([_struct_value(row, field) for row in column])


def _converted(values: np.ndarray | pd.Series, scalar: str) -> pd.Series:
    if scalar == "string":
        series = pd.Series(values, copy=False)
        if isinstance(series.dtype, pd.StringDtype):
            return series
        return series.map(lambda v: None if _is_missing(v) else str(v), na_action=None)
    target = SCALAR_TYPES[scalar]
    if isinstance(values, pd.Series):
        if values.dtype == target:
            return values.reset_index(drop=True)
        return pd.Series(values.to_numpy(dtype=target))
    return pd.Series(values.astype(target, copy=False), copy=False)


def _fits(dtype: Any, scalar: str) -> bool:
    """Whether values of ``dtype`` may be returned as ``scalar`` (see the module docstring)."""
    if scalar == "string":
        return True
    kind = getattr(dtype, "kind", "O")
    size = getattr(dtype, "itemsize", 8)
    if scalar == "boolean":
        return kind == "b"
    if scalar in ("float", "double"):
        return kind in "iuf"
    if scalar == "int":
        return (kind == "i" and size <= 4) or (kind == "u" and size <= 2)
    return kind == "i" or (kind == "u" and size <= 4)  # long


def _nothing_fits(wanted: str, columns: list[tuple[str, Any]]) -> InvalidParameter:
    have = ", ".join(f"{label} ({dtype})" for label, dtype in columns) or "no columns"
    return InvalidParameter(
        f"The model's output has nothing that fits the result type {wanted!r}: {have}. Ask "
        "for a type the output holds (a number column fits 'double', anything fits 'string')."
    )


def _as_frame(predictions: Any) -> pd.DataFrame:
    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame()
    if isinstance(predictions, np.ndarray):
        if predictions.ndim == 1:
            return pd.DataFrame({0: predictions})
        if predictions.ndim == 2:
            return pd.DataFrame(predictions)
        raise InvalidParameter(
            f"The model returned an array of {predictions.ndim} dimensions; spark_udf takes 1 "
            "(one value per row) or 2 (columns), or ask for a nested array result type."
        )
    if isinstance(predictions, (Mapping, list, tuple)):
        return pd.DataFrame(predictions)
    raise InvalidParameter(
        f"The model returned {type(predictions).__name__}; spark_udf needs one prediction per "
        "row (an array, a Series, a DataFrame, a list or a dict of columns)."
    )


def _holds_row_sequences(predictions: Any) -> bool:
    """True when the output is one sequence per row (e.g. a Series of lists)."""
    if isinstance(predictions, pd.DataFrame):
        return False
    if isinstance(predictions, np.ndarray) and predictions.dtype != object:
        return False
    if not isinstance(predictions, (list, tuple, pd.Series, np.ndarray)):
        return False
    first = list(predictions[:1])
    return bool(first) and _is_sequence(first[0])


def _rows_of(predictions: Any) -> list[Any]:
    if isinstance(predictions, pd.DataFrame):
        return list(predictions.to_numpy())
    return list(predictions)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pd.Series))


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value
