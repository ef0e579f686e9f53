"""What the PyTorch and Keras flavors share: the ``data`` folder and table-or-array predict I/O.

Both frameworks' pyfunc ``predict`` takes a pandas DataFrame or a numpy array, hands the model
an array, and gives back a DataFrame (same index) for a DataFrame and an array otherwise, as
MLflow's wrappers for these flavors do.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.model_paths import inside

__all__ = ["DATA_DIR", "as_array", "data_dir", "like_input"]

#: The folder inside a saved model that holds the framework's file (MLflow's name).
DATA_DIR = "data"


def data_dir(model_dir: Path, conf: Mapping[str, Any], key: str) -> Path:
    """The model's data folder named by ``conf[key]``, checked to stay inside ``model_dir``."""
    return inside(model_dir, str(conf.get(key) or DATA_DIR), key)


def as_array(data: Any, framework: str, frame_dtype: Any = None) -> tuple[Any, Any]:
    """``data`` as a numpy array, and the DataFrame index to give the output (or None).

    A DataFrame becomes an array of ``frame_dtype`` (all its columns are features); a numpy
    array is passed as it is. Other inputs are refused: a list or dict has no single tensor.
    """
    import numpy as np

    if isinstance(data, np.ndarray):
        return data, None
    # Only an already-imported pandas can have made a DataFrame: no import just to check.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return data.to_numpy(dtype=frame_dtype), data.index
    raise InvalidParameter(
        f"The {framework} flavor predicts for a pandas DataFrame or a numpy array, got "
        f"{type(data).__name__}."
    )


def like_input(predictions: Any, index: Any) -> Any:
    """Predictions as a DataFrame with ``index`` when the input was one, else the array."""
    if index is None:
        return predictions
    import pandas as pd

    return pd.DataFrame(predictions, index=index)
