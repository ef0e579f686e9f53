"""Reading a scoring request body into the model's input and its inference parameters.

The JSON layouts are MLflow's scoring protocol: an object with exactly one of

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...], "index": [...]}`` → DataFrame;
- ``dataframe_records``: ``[{"column": value, ...}, ...]`` → DataFrame;
- ``instances``: rows (records become a dict of column arrays) or a tensor as nested lists;
- ``inputs``: a tensor as nested lists (→ numpy array), a dict of tensors (→ dict of arrays),
  records, or a scalar;

and, optionally, ``params`` (an object of inference parameters). CSV and Parquet bodies are read
as one DataFrame. Nothing in a body is evaluated or unpickled: JSON is parsed by orjson, CSV by
pandas' C parser, and Parquet by pyarrow, which build plain values and arrays only.

Given :class:`~runlab.serving.request_shape.ShapeLimits` (the scoring server always gives them;
batch scoring of a local file does not), each reader counts the columns and rows it is about to
build from and refuses too many before building anything.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import orjson

from runlab.serving.errors import BadRequest, UnsupportedContentType
from runlab.serving.request_shape import ShapeLimits, csv_widths, keys_in, widest

__all__ = [
    "CONTENT_TYPE_CSV",
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PARQUET",
    "INPUT_KEYS",
    "ParsedRequest",
    "load_json",
    "parse_body",
    "parse_csv",
    "parse_json",
    "parse_json_document",
    "parse_parquet",
]

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
SUPPORTED_CONTENT_TYPES = (CONTENT_TYPE_JSON, CONTENT_TYPE_CSV, CONTENT_TYPE_PARQUET)

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_PARAMS_KEY = "params"
_ALLOWED_KEYS = frozenset((*INPUT_KEYS, _PARAMS_KEY))

ParsedRequest = tuple[Any, "dict[str, Any] | None"]


def parse_body(
    body: bytes, content_type: str | None, limits: ShapeLimits | None = None
) -> ParsedRequest:
    """The model input and params of a request body of the given Content-Type."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == CONTENT_TYPE_JSON:
        return parse_json(body, limits)
    if media_type == CONTENT_TYPE_CSV:
        return parse_csv(body, limits), None
    if media_type == CONTENT_TYPE_PARQUET:
        return parse_parquet(body, limits), None
    raise UnsupportedContentType(
        f"Unsupported Content-Type {content_type or 'none'!r}: send "
        f"{', '.join(SUPPORTED_CONTENT_TYPES)}."
    )


def parse_json(body: bytes, limits: ShapeLimits | None = None) -> ParsedRequest:
    """A JSON body in one of the serving layouts."""
    return parse_json_document(load_json(body), limits)


def load_json(body: bytes, what: str = "The request body") -> Any:
    """The JSON document in ``body``; a BadRequest saying ``what`` is not JSON otherwise."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _lenient_json(body, exc, what)


def _lenient_json(body: bytes, error: orjson.JSONDecodeError, what: str) -> Any:
    """What Python's own JSON reader makes of a body orjson refused, or a BadRequest.

    MLflow's clients write with Python's ``json``, which spells missing floats ``NaN`` (and
    infinities ``Infinity``) and allows integers beyond 64 bits; orjson refuses all three. Only
    bodies orjson refused take this slower path.
    """
    import json

    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise BadRequest(f"{what} is not valid JSON: {error}.") from None


def parse_json_document(document: Any, limits: ShapeLimits | None = None) -> ParsedRequest:
    """An already decoded JSON document in one of the serving layouts."""
    if not isinstance(document, dict):
        raise BadRequest(
            f"The request body must be a JSON object with one of the keys {_keys_text()}, got "
            f"a JSON {_json_kind(document)}."
        )
    keys = [k for k in INPUT_KEYS if k in document]
    unknown = sorted(k for k in document if k not in _ALLOWED_KEYS)
    if unknown or len(keys) != 1:
        found = ", ".join(repr(k) for k in document) or "none"
        raise BadRequest(
            f"The request body must have exactly one of the keys {_keys_text()} (and optionally "
            f"'params'); it has {found}."
        )
    params = document.get(_PARAMS_KEY)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be a JSON object, got a JSON {_json_kind(params)}.")
    key = keys[0]
    return _READERS[key](document[key], limits), params


def parse_csv(body: bytes, limits: ShapeLimits | None = None) -> Any:
    """A CSV body (with a header row) as a DataFrame."""
    import pandas as pd

    rows = None
    if limits is not None:
        header, first_row = csv_widths(body, limits.max_columns)
        limits.check(columns=header)
        if first_row > header:
            # pandas would make the extra leading fields an index, one level per field.
            raise BadRequest(
                f"The CSV body's first row has more fields than its header's {header}; give "
                "every row one field per header name."
            )
        rows = limits.max_rows + 1  # one more than allowed tells that there are too many
    try:
        frame = pd.read_csv(io.BytesIO(body), nrows=rows)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The CSV body cannot be read as a table: {_first_line(exc)}") from None
    if limits is not None:
        limits.check(rows=len(frame))
    return frame


def parse_parquet(body: bytes, limits: ShapeLimits | None = None) -> Any:
    """A Parquet body as a DataFrame."""
    import pandas as pd

    try:
        if limits is not None:
            import pyarrow.parquet as pq

            # The footer says how many columns and rows the file holds; nothing is read yet.
            metadata = pq.ParquetFile(io.BytesIO(body)).metadata
            shape = {"columns": metadata.num_columns, "rows": metadata.num_rows}
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError variants
        raise BadRequest(f"The Parquet body cannot be read: {_first_line(exc)}") from None
    if limits is not None:
        limits.check(**shape)
    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError variants
        raise BadRequest(f"The Parquet body cannot be read: {_first_line(exc)}") from None


# -- the JSON layouts -------------------------------------------------------------------------------
def _dataframe_split(value: Any, limits: ShapeLimits | None) -> Any:
    import pandas as pd

    if not isinstance(value, dict):
        raise BadRequest(
            "'dataframe_split' must be an object with 'columns' and 'data' (pandas' split "
            f"orient), got a JSON {_json_kind(value)}."
        )
    extra = sorted(set(value) - {"columns", "data", "index"})
    if extra:
        raise BadRequest(
            f"'dataframe_split' takes only 'columns', 'data' and 'index'; it has {extra}."
        )
    data = value.get("data")
    if not isinstance(data, list):
        raise BadRequest("'dataframe_split' needs 'data', a list of rows.")
    columns, index = value.get("columns"), value.get("index")
    for name, part in (("columns", columns), ("index", index)):
        if part is not None and not isinstance(part, list):
            raise BadRequest(f"'dataframe_split' {name!r} must be a list.")
    if columns is not None and _has_duplicates(columns):
        raise BadRequest("'dataframe_split' names a column more than once.")
    if limits is not None:
        limits.check(rows=len(data))
        width = max(
            widest(data), keys_in((r for r in data if isinstance(r, dict)), limits.max_columns)
        )
        limits.check(columns=max(len(columns or ()), width))
    try:
        fast = _numeric_frame(data, columns, index)
        return fast if fast is not None else pd.DataFrame(data, columns=columns, index=index)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"'dataframe_split' is not a table: {_first_line(exc)}") from None


def _numeric_frame(data: list[Any], columns: Any, index: Any) -> Any:
    """The frame of an all-float (or all-int) table, built from one numpy block; else None.

    pandas infers a dtype per column from Python lists; when every cell is a float (or every
    cell an int) the result is the same as one 2-D array's, which numpy builds several times
    faster. Anything mixed takes the general path.
    """
    import numpy as np
    import pandas as pd

    if not data or not isinstance(data[0], list):
        return None
    if columns is not None and not all(isinstance(c, str) for c in columns):
        return None
    kind = type(data[0][0]) if data[0] else None
    if kind not in (float, int) or not all(
        type(v) is kind for row in data if isinstance(row, list) for v in row
    ):
        return None
    block = np.array(data, dtype=np.float64 if kind is float else None)
    if block.ndim != 2 or (columns is not None and block.shape[1] != len(columns)):
        return None
    if block.dtype.kind not in "if":
        return None
    if index is not None and index == list(range(len(data))):
        index = None  # the default RangeIndex, without building an index from the list
    labels = _column_index(tuple(columns)) if columns is not None else None
    return pd.DataFrame(block, columns=labels, index=index, copy=False)


@functools.lru_cache(maxsize=64)
def _column_index(columns: tuple[Any, ...]) -> Any:
    # Clients send the same column names request after request, and pandas builds an Index of
    # names (Arrow-backed strings) at a cost comparable to the whole frame's; an Index is
    # immutable, so one is shared by every frame with those names.
    import pandas as pd

    return pd.Index(list(columns))


def _has_duplicates(names: list[Any]) -> bool:
    try:
        return len(set(names)) != len(names)
    except TypeError:  # unhashable names: pandas reports those itself
        return False


def _dataframe_records(value: Any, limits: ShapeLimits | None) -> Any:
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadRequest("'dataframe_records' must be a list of objects (one per row).")
    _check_records(value, limits)
    return pd.DataFrame(value)


def _check_records(records: list[dict[str, Any]], limits: ShapeLimits | None) -> None:
    if limits is not None:
        limits.check(rows=len(records))
        limits.check(columns=keys_in(records, limits.max_columns))


def _instances(value: Any, limits: ShapeLimits | None) -> Any:
    # Records are turned into one array per column, the form TF-serving's row format implies.
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        names = value[0].keys()
        if any(row.keys() != names for row in value):
            raise BadRequest("Every record of 'instances' must have the same keys.")
        if limits is not None:
            limits.check(columns=len(names), rows=len(value))
        return {name: _tensor(name, [row[name] for row in value]) for name in names}
    return _inputs(value, limits)


def _inputs(value: Any, limits: ShapeLimits | None) -> Any:
    if isinstance(value, dict):
        if limits is not None:
            # Each key is an input (a column), each value its rows.
            limits.check(columns=len(value), rows=widest(value.values()))
        return {name: _tensor(name, part) for name, part in value.items()}
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        _check_records(value, limits)
        return value  # records: the signature reads them as rows
    if limits is not None and isinstance(value, list):
        # A tensor: its first dimension is the rows, its second the columns.
        limits.check(rows=len(value), columns=widest(value))
    return _tensor(None, value)


def _tensor(name: str | None, value: Any) -> Any:
    import numpy as np

    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged nesting
        where = f"input {name!r}" if name is not None else "the input"
        raise BadRequest(f"{where} is not a regular tensor: {_first_line(exc)}") from None


_READERS = {
    "dataframe_split": _dataframe_split,
    "dataframe_records": _dataframe_records,
    "instances": _instances,
    "inputs": _inputs,
}


# -- messages -------------------------------------------------------------------------------------
def _keys_text() -> str:
    return ", ".join(repr(k) for k in INPUT_KEYS)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
