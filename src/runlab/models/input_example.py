"""A model's input example: ``input_example.json`` and ``serving_input_example.json``.

The files and the ``saved_input_example_info`` entry of ``MLmodel`` follow MLflow's layout:

- a pandas DataFrame is stored in ``split`` orient (``{"columns": …, "data": …}``, type
  ``dataframe``) and served as ``{"dataframe_split": …}``;
- a numpy array, or a dict of arrays, is stored as nested lists (type ``ndarray``) and served as
  ``{"inputs": …}``;
- anything else JSON can hold (lists, dicts, strings, numbers) is stored as it is (type
  ``json_object``) and served as ``{"inputs": …}``.

The serving file is exactly the body a client POSTs to ``/invocations``, so it doubles as a
smoke test for a deployed model.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "INPUT_EXAMPLE_FILE",
    "SERVING_INPUT_FILE",
    "load_input_example",
    "save_input_example",
    "to_jsonable",
]

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays, dates, bytes, NaN → null."""
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, int):
        return value
    if isinstance(value, np.ndarray):
        return (
            [to_jsonable(item) for item in value.tolist()]
            if value.ndim
            else to_jsonable(value.item())
        )
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    module = type(value).__module__
    if module.startswith("pandas"):
        if hasattr(value, "isoformat"):  # Timestamp
            return value.isoformat()
        if hasattr(value, "tolist"):  # Series, Index
            return to_jsonable(value.tolist())
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    raise InvalidParameter(
        f"The input example holds a {type(value).__name__}, which cannot be saved as JSON; "
        "use a pandas DataFrame, a numpy array, or lists and dicts of plain values."
    )


def _describe(example: Any) -> tuple[dict[str, Any], Any, Any]:
    """(info, input_example.json content, serving body) for one example."""
    import numpy as np

    if type(example).__module__.startswith("pandas"):
        import pandas as pd

        if isinstance(example, pd.Series):
            example = example.to_frame()
        if isinstance(example, pd.DataFrame):
            split = {
                "columns": [to_jsonable(c) for c in example.columns],
                "data": to_jsonable(example.to_numpy(dtype=object)),
            }
            info = {"type": "dataframe", "pandas_orient": "split"}
            return info, split, {"dataframe_split": split}
    if isinstance(example, np.ndarray) or (
        isinstance(example, Mapping)
        and example
        and all(isinstance(v, np.ndarray) for v in example.values())
    ):
        data = to_jsonable(example)
        return {"type": "ndarray"}, data, {"inputs": data}
    data = to_jsonable(example)
    return {"type": "json_object"}, data, {"inputs": data}


def save_input_example(model_dir: str | Path, example: Any) -> dict[str, Any]:
    """Write the example's two files into ``model_dir``; return ``saved_input_example_info``."""
    info, content, serving = _describe(example)
    model_dir = Path(model_dir)
    (model_dir / INPUT_EXAMPLE_FILE).write_text(
        json.dumps(content, allow_nan=False), encoding="utf-8"
    )
    (model_dir / SERVING_INPUT_FILE).write_text(
        json.dumps(serving, indent=2, allow_nan=False), encoding="utf-8"
    )
    return {"artifact_path": INPUT_EXAMPLE_FILE, **info, "serving_input_path": SERVING_INPUT_FILE}


def load_input_example(model_dir: str | Path, info: Mapping[str, Any] | None) -> Any:
    """The saved example, rebuilt as the type it was saved from; None when there is none."""
    if not info or not info.get("artifact_path"):
        return None
    path = Path(model_dir) / str(info["artifact_path"])
    if not path.is_file():
        return None
    content = json.loads(path.read_text(encoding="utf-8"))
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if info.get("pandas_orient", "split") == "records":
            return pd.DataFrame.from_records(content)
        return pd.DataFrame(content.get("data", []), columns=content.get("columns"))
    if kind == "ndarray":
        import numpy as np

        if isinstance(content, dict):
            return {k: np.asarray(v) for k, v in content.items()}
        return np.asarray(content)
    return content
