"""Arrow batches in and out of the model, for Spark's Arrow UDFs (pyspark 4.1 and later).

With an Arrow UDF the worker gets Spark's Arrow arrays as they are, not converted to pandas
Series one column at a time. Numeric columns without nulls (the usual features of a tabular
model) go straight from Arrow's buffers into one 2-D block; other columns are converted as
pyspark converts them for a pandas UDF (dates as ``datetime.date``, timestamps as naive times in
the session's time zone, maps as dicts, structs among several arguments as dicts). The
predictions go back as Arrow arrays of the UDF's result type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from runlab.models.pyfunc.spark_conversion import ResultShape, column_labels

__all__ = ["arrow_model_input", "to_arrow"]

_ARROW_SCALARS = {
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}


def arrow_model_input(batch: Any, names: Sequence[str] | None, time_zone: str) -> pd.DataFrame:
    """The frame the model predicts on, from one batch of an Arrow UDF's arguments.

    The same frame :func:`runlab.models.pyfunc.spark_conversion.model_input` builds from a
    pandas UDF's batch: a lone struct argument gives its fields as columns; separate columns
    are named after the signature's inputs (or ``"0"``, ``"1"``, …).
    """
    if isinstance(batch, pa.StructArray):
        arrays = batch.flatten()
        labels = [field.name for field in batch.type]
    else:
        arrays = [batch] if isinstance(batch, (pa.Array, pa.ChunkedArray)) else list(batch)
        labels = column_labels(len(arrays), names)
    block = _numeric_block(arrays)
    if block is not None:
        return pd.DataFrame(block.T, columns=labels, copy=False)
    return pd.DataFrame(
        {label: _as_series(array, time_zone) for label, array in zip(labels, arrays, strict=True)},
        copy=False,
    )


def _numeric_block(arrays: list[Any]) -> np.ndarray | None:
    """The arrays as one ``(columns, rows)`` block when they share a numeric type, null-free."""
    if len(arrays) < 2:
        return None
    kind = arrays[0].type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    if any(a.type != kind or a.null_count for a in arrays):
        return None
    block = np.empty((len(arrays), len(arrays[0])), dtype=kind.to_pandas_dtype())
    for row, array in zip(block, arrays, strict=True):
        row[:] = array.to_numpy(zero_copy_only=False)
    return block


def _as_series(array: Any, time_zone: str) -> pd.Series:
    """One Arrow column as the pandas Series a pandas UDF would have received."""
    kind = array.type
    if pa.types.is_struct(kind):
        return pd.Series(array.to_pylist(), dtype=object)
    if pa.types.is_map(kind):
        return pd.Series([None if v is None else dict(v) for v in array.to_pylist()], dtype=object)
    series = array.to_pandas(date_as_object=True)
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        series = series.dt.tz_convert(time_zone).dt.tz_localize(None)
    return series


def to_arrow(result: pd.Series | pd.DataFrame, shape: ResultShape) -> Any:
    """The UDF's answer for one batch: ``result`` as an Arrow array of the result type."""
    if shape.kind == "struct":
        assert isinstance(result, pd.DataFrame)
        return pa.StructArray.from_arrays(
            [to_arrow(result[name], field) for name, field in shape.fields],
            fields=[pa.field(name, arrow_type(field)) for name, field in shape.fields],
        )
    if shape.kind == "array":
        return pa.array(list(result), type=arrow_type(shape), from_pandas=True)
    return pa.Array.from_pandas(result, type=arrow_type(shape))


def arrow_type(shape: ResultShape) -> Any:
    """The Arrow type Spark expects for ``shape``."""
    if shape.kind == "scalar":
        return _ARROW_SCALARS[shape.scalar]
    if shape.kind == "array":
        assert shape.element is not None
        return pa.list_(arrow_type(shape.element))
    return pa.struct([pa.field(name, arrow_type(field)) for name, field in shape.fields])
