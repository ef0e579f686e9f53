"""The data an evaluation reads: features, targets, an optional column of predictions, and the
dataset that the run records as its input.

``data`` may be a pandas DataFrame (``targets`` and ``predictions`` name columns), a numpy array
of features (``targets`` is then an array of labels or values), or a dataset from
:mod:`runlab.data` (``from_pandas`` / ``from_numpy``), whose own targets and predictions are used.
Everything is checked here, before a model runs or a run is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["EvaluationData", "evaluation_data"]


@dataclass(frozen=True)
class EvaluationData:
    """What the evaluation needs from ``data``.

    ``model_input`` is what the model is called with (the feature frame, or the array for numpy
    data); ``features`` is always a DataFrame (for the results table and custom metrics);
    ``targets`` is a numpy array; ``predictions`` the given column of predictions or None.
    """

    model_input: Any
    features: Any
    targets: Any
    target_name: str
    predictions: Any
    dataset: Any

    @property
    def row_count(self) -> int:
        """The number of examples."""
        return len(self.features)


def _is_pandas_frame(value: Any) -> bool:
    return any(
        c.__name__ == "DataFrame" and c.__module__.startswith("pandas") for c in type(value).__mro__
    )


def _is_numpy_array(value: Any) -> bool:
    return type(value).__name__ == "ndarray" and type(value).__module__ == "numpy"


def _column(frame: Any, name: Any, role: str) -> Any:
    """The column ``role`` (``targets`` or ``predictions``) names; InvalidParameter if absent."""
    try:
        present = name in frame.columns
    except TypeError:  # an unhashable "name", such as a list
        present = False
    if not present:
        raise InvalidParameter(
            f"The {role} column {name!r} ({role}={name!r}) is not in data; its columns are "
            f"{[str(c) for c in frame.columns]}."
        )
    return frame[name]


def _feature_columns(frame: Any, exclude: set[Any], feature_names: list[str] | None) -> list[Any]:
    if feature_names is None:
        return [c for c in frame.columns if c not in exclude]
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise InvalidParameter(
            f"feature_names lists {missing}, which data does not have; its columns are "
            f"{[str(c) for c in frame.columns]}."
        )
    return list(feature_names)


def _checked_feature_names(feature_names: Any) -> list[str] | None:
    if feature_names is None:
        return None
    if isinstance(feature_names, str) or not all(isinstance(n, str) for n in feature_names):
        raise InvalidParameter(
            f"feature_names must be a list of column names, got {feature_names!r}."
        )
    return list(feature_names)


def _from_frame(
    frame: Any,
    targets: Any,
    predictions: str | None,
    feature_names: list[str] | None,
    dataset: Any,
) -> EvaluationData:
    import numpy as np

    if len(frame) == 0:
        raise InvalidParameter("data has no rows; an evaluation needs at least one example.")
    if targets is None:
        raise InvalidParameter(
            "targets is required: name the column of data that holds the true labels or values "
            f"(data's columns are {[str(c) for c in frame.columns]})."
        )
    target_values = _column(frame, targets, "targets")
    given = None
    if predictions is not None:
        given = np.asarray(_column(frame, predictions, "predictions"))
    exclude = {targets} | ({predictions} if predictions is not None else set())
    columns = _feature_columns(frame, exclude, feature_names)
    features = frame[columns]
    return EvaluationData(
        model_input=features,
        features=features,
        targets=np.asarray(target_values),
        target_name=str(targets),
        predictions=given,
        dataset=dataset,
    )


def _from_arrays(
    features: Any, targets: Any, feature_names: list[str] | None, dataset: Any
) -> EvaluationData:
    import numpy as np
    import pandas as pd

    array = np.asarray(features)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidParameter(
            f"numpy data must be a 2-D array of features (rows x columns), got shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise InvalidParameter("data has no rows; an evaluation needs at least one example.")
    if targets is None:
        raise InvalidParameter(
            "targets is required: with numpy data, pass the true labels or values as an array "
            "of one entry per row."
        )
    if isinstance(targets, str):
        raise InvalidParameter(
            f"With numpy data, targets must be an array of labels or values, not a column name "
            f"({targets!r}); pass a DataFrame to name columns."
        )
    target_array = np.asarray(targets)
    if target_array.ndim != 1 or len(target_array) != array.shape[0]:
        raise InvalidParameter(
            f"targets must be a 1-D array with one entry per row of data ({array.shape[0]} "
            f"rows), got shape {target_array.shape}."
        )
    names = feature_names or [f"feature_{i + 1}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise InvalidParameter(
            f"feature_names has {len(names)} names for {array.shape[1]} feature columns."
        )
    frame = pd.DataFrame(array, columns=names)
    return EvaluationData(
        model_input=np.asarray(features),
        features=frame,
        targets=target_array,
        target_name="target",
        predictions=None,
        dataset=dataset,
    )


def evaluation_data(
    data: Any,
    targets: Any,
    predictions: str | None,
    feature_names: Any,
    dataset_path: str | None,
) -> EvaluationData:
    """Check ``data`` and its companions and split it into what the evaluation needs.

    The dataset for the run is made here too: a runlab dataset is used as given; a DataFrame or
    array becomes one named ``dataset`` whose source is ``dataset_path`` (or the running code).
    """
    from runlab.data import NumpyDataset, PandasDataset, from_numpy, from_pandas

    names = _checked_feature_names(feature_names)
    if predictions is not None and not isinstance(predictions, str):
        raise InvalidParameter(f"predictions must name a column of data, got {predictions!r}.")
    if isinstance(data, PandasDataset):
        if targets is not None and data.targets is not None and targets != data.targets:
            raise InvalidParameter(
                f"data is a dataset whose targets are {data.targets!r}, but targets={targets!r} "
                "was also given; give one."
            )
        return _from_frame(
            data.df,
            targets if targets is not None else data.targets,
            predictions if predictions is not None else data.predictions,
            names,
            data,
        )
    if isinstance(data, NumpyDataset):
        if isinstance(data.features, dict) or isinstance(data.targets, dict):
            raise InvalidParameter(
                "evaluate takes a numpy dataset of one feature array and one target array, not "
                "dicts of arrays."
            )
        if targets is not None and data.targets is not None:
            raise InvalidParameter(
                "data is a numpy dataset with targets, and targets was also given; give one."
            )
        chosen = data.targets if data.targets is not None else targets
        return _from_arrays(data.features, chosen, names, data)
    if predictions is not None and not _is_pandas_frame(data):
        raise InvalidParameter(
            "predictions names a column, so data must be a pandas DataFrame (or a dataset made "
            f"with runlab.data.from_pandas), got {type(data).__name__}."
        )
    if _is_pandas_frame(data):
        if len(data) == 0:
            raise InvalidParameter("data has no rows; an evaluation needs at least one example.")
        # Checked here too, before from_pandas, so the message is the same for every kind of data.
        if targets is not None:
            _column(data, targets, "targets")
        if predictions is not None:
            _column(data, predictions, "predictions")
        frame_dataset = from_pandas(
            data, source=dataset_path, targets=targets, predictions=predictions
        )
        return _from_frame(data, targets, predictions, names, frame_dataset)
    if _is_numpy_array(data) or isinstance(data, list):
        import numpy as np

        array = np.asarray(data)
        if array.size == 0:
            raise InvalidParameter("data has no rows; an evaluation needs at least one example.")
        target_array = None if targets is None or isinstance(targets, str) else np.asarray(targets)
        array_dataset = from_numpy(array, source=dataset_path, targets=target_array)
        return _from_arrays(array, targets, names, array_dataset)
    raise InvalidParameter(
        "data must be a pandas DataFrame, a numpy array, or a dataset from runlab.data "
        f"(from_pandas / from_numpy), got {type(data).__name__}."
    )
