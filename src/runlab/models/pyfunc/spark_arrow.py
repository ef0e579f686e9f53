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

__all__ = ["arrow_model_input", "batch_bytes", "to_arrow"]

_ARROW_SCALARS = {
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}


def arrow_model_input(
    batches: Sequence[Any], names: Sequence[str] | None, time_zone: str
) -> pd.DataFrame:
    """The frame the model predicts on, from one or more batches of an Arrow UDF's arguments.

    The same frame :func:`runlab.models.pyfunc.spark_conversion.model_input` builds from a
    pandas UDF's batch: a lone struct argument gives its fields as columns; separate columns
    are named after the signature's inputs (or ``"0"``, ``"1"``, …). Several batches (of the
    same UDF call, so of the same types) become one frame, their rows in order.
    """
    parts = [_arguments(batch, names) for batch in batches]
    labels = parts[0][0]
    columns = [[arrays[i] for _, arrays in parts] for i in range(len(labels))]
    block = _numeric_block(columns)
    if block is not None:
        return pd.DataFrame(block.T, columns=labels, copy=False)
    return pd.DataFrame(
        {
            label: _as_series(
                chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks), time_zone
            )
            for label, chunks in zip(labels, columns, strict=True)
        },
        copy=False,
    )


def batch_bytes(batch: Any) -> int:
    """The bytes Arrow holds for one batch of an Arrow UDF's arguments."""
    if isinstance(batch, (pa.Array, pa.ChunkedArray)):
        return int(batch.nbytes)
    return sum(int(column.nbytes) for column in batch)


def _arguments(batch: Any, names: Sequence[str] | None) -> tuple[list[str], list[Any]]:
    """One batch's column labels and arrays."""
    if isinstance(batch, pa.StructArray):
        return [field.name for field in batch.type], batch.flatten()
    arrays = [batch] if isinstance(batch, (pa.Array, pa.ChunkedArray)) else list(batch)
    return column_labels(len(arrays), names), arrays


def _numeric_block(columns: list[list[Any]]) -> np.ndarray | None:
    """The columns (each a list of chunks) as one ``(columns, rows)`` block when they share a
    numeric type and hold no null."""
    if len(columns) < 2:
        return None
    kind = columns[0][0].type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    if any(chunk.type != kind or chunk.null_count for chunks in columns for chunk in chunks):
        return None
    rows = sum(len(chunk) for chunk in columns[0])
    block = np.empty((len(columns), rows), dtype=kind.to_pandas_dtype())
    for row, chunks in zip(block, columns, strict=True):
        start = 0
        for chunk in chunks:
            row[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
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
