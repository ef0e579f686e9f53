"""Encoding a model's predictions as the ``{"predictions": ...}`` JSON document.

The shapes are MLflow's scoring server's: a DataFrame becomes a list of records (its index
dropped), a Series the records of a one-column frame (named ``"0"`` when unnamed), a numpy array
nested lists, a dict an object with each value encoded the same way, and lists, strings and
numbers themselves. Dates become ISO 8601 strings and bytes base64 text. Unlike MLflow, which
writes a bare ``NaN`` (not JSON), missing and non-finite numbers are written as ``null``.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import Any

import orjson

from runlab.serving.errors import ModelFailure

__all__ = ["encode_predictions", "encode_response", "jsonable"]

# orjson's own numpy support (OPT_SERIALIZE_NUMPY) is not used: it writes invalid JSON for a
# datetime64 array holding NaT inside a dict, and refuses other byte orders. tolist() costs a
# few microseconds for the outputs a scoring request returns.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode_predictions(predictions: Any) -> bytes:
    """The response body for ``predictions``.

    Raises ``TypeError`` naming the type when a value has no JSON form.
    """
    return orjson.dumps({"predictions": predictions}, default=_default, option=_OPTIONS)


def encode_response(predictions: Any) -> bytes:
    """The scoring server's response body; an output with no JSON form is a ModelFailure."""
    try:
        return encode_predictions(predictions)
    except TypeError as exc:
        raise ModelFailure(f"The model's output cannot be sent as JSON: {exc}.") from exc


def jsonable(predictions: Any) -> Any:
    """``predictions`` as plain Python data, the same shape :func:`encode_predictions` writes."""
    return orjson.loads(encode_predictions(predictions))["predictions"]


def _default(value: Any) -> Any:
    """What orjson calls for a value it cannot encode itself (it then encodes the result)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "mM":
            return value.tolist()
        if value.ndim > 1:
            return list(value)  # rows: each comes back here as a 1-D array
        # tolist() would give nanosecond dates as integers; NaT is a missing value.
        return [None if np.isnat(v) else str(v) for v in value]
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return None if np.isnat(value) else str(value)
    return _common(value)


def _common(value: Any) -> Any:
    """Values neither path of orjson encodes: numpy scalars, bytes, dates, pandas objects."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    module = type(value).__module__
    if module.startswith("pandas"):
        return _pandas_value(value)
    if hasattr(value, "tolist"):  # array-likes of other libraries (e.g. torch tensors on CPU)
        return value.tolist()
    raise TypeError(f"predictions hold a {type(value).__name__}, which has no JSON form")


def _pandas_value(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        value = value.to_frame(name=value.name if value.name is not None else 0)
    if isinstance(value, pd.DataFrame):
        return _records(value)
    if isinstance(value, pd.Index):
        return value.tolist()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    raise TypeError(f"predictions hold a {type(value).__name__}, which has no JSON form")


def _records(frame: Any) -> list[dict[Any, Any]]:
    # Column by column, then zipped: one tolist() per column is far cheaper than to_dict's
    # per-cell boxing, and tolist() already yields Python scalars (NaN stays NaN → null).
    names = list(frame.columns)
    columns = [_column_values(frame.iloc[:, i]) for i in range(len(names))]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _column_values(series: Any) -> list[Any]:
    values: list[Any] = series.tolist()
    if series.dtype.kind in "mM" and series.hasnans:
        import pandas as pd

        # NaT is a datetime to orjson (it would write "NaT"); a missing value is null.
        return [None if v is pd.NaT else v for v in values]
    return values
