"""Batch scoring of a file: read it, predict in chunks, write the predictions atomically.

This is ``runlab models predict``. Inputs are JSON (any body the scoring server takes, or plain
records), CSV or Parquet; outputs are JSON (``{"predictions": ...}``, exactly what the server
would answer), CSV or Parquet. A table is scored in chunks of rows, so a large file shows
progress and the chunk outputs are joined; the output file appears only once it is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.serving.model_call import predict_guarded
from runlab.serving.payload import load_json, parse_csv, parse_json_document, parse_parquet
from runlab.serving.predictions import encode_predictions

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "chunk_rows",
    "format_of",
    "predict_in_chunks",
    "predictions_frame",
    "read_input",
    "rows_of",
    "write_atomically",
    "write_predictions",
]

FORMATS = ("json", "csv", "parquet")
_EXTENSIONS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def format_of(path: str | os.PathLike[str], given: str | None = None) -> str:
    """The file format: ``given`` when set, else the one the extension names."""
    if given:
        return given
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidParameter(
            f"Cannot tell the format of {os.fspath(path)!r} from its extension; name it "
            f".json, .csv or .parquet, or give the format (--content-type / --output-format)."
        )
    return fmt


def read_input(path: str | os.PathLike[str], fmt: str | None = None) -> tuple[Any, Any]:
    """The model input and params held by the file at ``path``."""
    path = Path(path)
    fmt = format_of(path, fmt)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise InvalidParameter(f"Input file {os.fspath(path)!r} does not exist.") from None
    except OSError as exc:
        raise InvalidParameter(
            f"Cannot read input file {os.fspath(path)!r}: {exc.strerror or exc}."
        ) from None
    if fmt == "csv":
        return parse_csv(body), None
    if fmt == "parquet":
        return parse_parquet(body), None
    return _read_json(body)


def _read_json(body: bytes) -> tuple[Any, Any]:
    document = load_json(body, "The input file")
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        # Plain records, as pandas' to_json(orient="records") writes them.
        document = {"dataframe_records": document}
    return parse_json_document(document)


def rows_of(data: Any) -> int | None:
    """The number of rows of a chunkable input (a DataFrame or an array), else None."""
    import numpy as np

    if isinstance(data, np.ndarray) and data.ndim >= 1:
        return int(data.shape[0])
    if type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas"):
        return len(data)
    return None


def _chunks(data: Any, size: int) -> Iterator[Any]:
    rows = rows_of(data)
    assert rows is not None
    for start in range(0, rows, size):
        yield (
            data.iloc[start : start + size] if hasattr(data, "iloc") else data[start : start + size]
        )


#: Rows per call when the chunk size is left to runlab and the model's rows are independent.
DEFAULT_CHUNK_ROWS = 10_000


def chunk_rows(model: Any, chunk_size: int | None) -> int | None:
    """The rows per call: ``chunk_size`` when given (0: all in one call), else
    :data:`DEFAULT_CHUNK_ROWS` for a model whose output rows depend only on their own input
    rows (``rows_are_independent``, e.g. scikit-learn), else None: one call, since splitting
    the input of, say, a custom model that normalizes over its batch would change its answers.
    """
    if chunk_size is not None:
        return chunk_size or None
    return DEFAULT_CHUNK_ROWS if getattr(model, "rows_are_independent", False) else None


def predict_in_chunks(
    model: Any,
    data: Any,
    params: Any = None,
    chunk_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Predict ``data`` in calls of ``chunk_size`` rows and join the outputs.

    ``chunk_size`` None predicts in one call. Only tables and arrays are split; anything else
    is predicted in one call. ``on_progress`` is called with (rows done, rows in all) after
    each chunk.
    """
    rows = rows_of(data)
    if rows is None or chunk_size is None or rows <= chunk_size:
        out = predict_guarded(model, data, params)
        if on_progress is not None and rows is not None:
            on_progress(rows, rows)
        return out
    parts = []
    done = 0
    for chunk in _chunks(data, chunk_size):
        parts.append(predict_guarded(model, chunk, params))
        done += rows_of(chunk) or 0
        if on_progress is not None:
            on_progress(done, rows)
    return _join(parts)


def _join(parts: list[Any]) -> Any:
    import numpy as np

    first = parts[0]
    if isinstance(first, np.ndarray) and all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis=0)
    if isinstance(first, list) and all(isinstance(p, list) for p in parts):
        return [item for part in parts for item in part]
    if type(first).__module__.startswith("pandas"):
        import pandas as pd

        if all(isinstance(p, (pd.DataFrame, pd.Series)) for p in parts):
            return pd.concat(parts, ignore_index=True)
    raise InvalidParameter(
        f"The model returned a {type(first).__name__} per chunk, which cannot be joined; "
        "score the file in one call with --chunk-size 0."
    )


def predictions_frame(predictions: Any) -> Any:
    """Predictions as a DataFrame, for CSV and Parquet output.

    A frame stays as it is; a vector becomes the column ``prediction``; a 2-D array one column
    per output (``0``, ``1``, …); a dict of equal-length vectors one column per key.
    """
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        frame = predictions
    elif isinstance(predictions, pd.Series):
        frame = predictions.to_frame(name=predictions.name or "prediction")
    else:
        value = np.asarray(predictions) if isinstance(predictions, (list, tuple)) else predictions
        if isinstance(value, np.ndarray) and value.ndim == 1:
            frame = pd.DataFrame({"prediction": value})
        elif isinstance(value, np.ndarray) and value.ndim == 2:
            frame = pd.DataFrame(value)
        elif isinstance(value, dict):
            try:
                frame = pd.DataFrame({k: np.asarray(v) for k, v in value.items()})
            except ValueError as exc:
                raise InvalidParameter(
                    f"The predictions (a dict) are not a table: {exc}; write JSON (-t json)."
                ) from None
        else:
            raise InvalidParameter(
                f"The predictions are a {type(predictions).__name__}, not a table; write JSON "
                "(-t json)."
            )
    frame = frame.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    return frame


@contextlib.contextmanager
def write_atomically(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only when the block succeeds."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidParameter(f"Output folder {os.fspath(folder)!r} does not exist.")
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_predictions(predictions: Any, target: str | os.PathLike[str], fmt: str) -> None:
    """Write ``predictions`` to ``target`` in ``fmt``; no partial file is left on failure."""
    if fmt == "json":
        try:
            body = encode_predictions(predictions)
        except TypeError as exc:
            raise InvalidParameter(
                f"The model's output cannot be written as JSON: {exc}."
            ) from None
        with write_atomically(target) as temp:
            temp.write_bytes(body)
        return
    frame = predictions_frame(predictions)
    with write_atomically(target) as temp:
        if fmt == "csv":
            frame.to_csv(temp, index=False)
        else:
            frame.to_parquet(temp, index=False)
