"""XGBoost's ``DMatrix`` as data runlab can record: input examples and datasets.

A ``DMatrix`` keeps no reference to the array or frame it was made from; what can be had back
is its content as a sparse matrix (``get_data()``), in which a missing value is an absent entry.
Rebuilt dense, with NaN where XGBoost sees a missing value, it is the data as XGBoost trained
on it. That is done for plain ``DMatrix`` objects of a reasonable size; a ``QuantileDMatrix``
(which keeps only bins), an external-memory matrix, categorical features or a matrix of more
than :data:`MAX_DATASET_CELLS` values are not recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.training_run import TrainingRun

__all__ = ["MAX_DATASET_CELLS", "dataset_logger", "example_rows", "matrix_for"]

#: The largest matrix (rows x columns) recorded as a dataset: densified as float64, 80 MB.
MAX_DATASET_CELLS = 10_000_000


def _plain_matrix(xgb: Any, matrix: Any) -> bool:
    # Only a plain DMatrix gives its data back; subclasses keep bins or pages instead.
    return type(matrix) is xgb.DMatrix


def _categorical(matrix: Any) -> bool:
    # Categories come back as their codes, which is not the data the user gave.
    return "c" in (matrix.feature_types or ())


def _dense(xgb: Any, matrix: Any) -> Any:
    import numpy as np

    # One thread: XGBoost's default thread pool costs ~15 ms to start for a few rows on a busy
    # machine, and in the background it would take cores from the user's training.
    with xgb.config_context(nthread=1):
        sparse = matrix.get_data().tocoo()
    dense = np.full(sparse.shape, np.nan)
    dense[sparse.row, sparse.col] = sparse.data
    return dense


def _framed(dense: Any, names: list[str] | None) -> Any:
    """The rows as a DataFrame with the matrix's feature names, or the array if it has none."""
    if not names:
        return dense
    import pandas as pd

    return pd.DataFrame(dense, columns=names)


def example_rows(xgb: Any, matrix: Any, rows: int) -> Any:
    """The first ``rows`` rows of a DMatrix as an array (a frame if it names its features).

    Cheap (slicing copies only those rows), so it is done when training starts. None when the
    matrix cannot give its data back.
    """
    if not _plain_matrix(xgb, matrix) or matrix.num_row() == 0 or _categorical(matrix):
        return None
    with xgb.config_context(nthread=1):
        part = matrix.slice(list(range(min(rows, matrix.num_row()))))
    return _framed(_dense(xgb, part), matrix.feature_names)


def matrix_for(xgb: Any, booster: Any, rows: Any) -> Any:
    """A DMatrix of ``rows`` (an example) that ``booster`` accepts for predict."""
    if hasattr(rows, "columns"):
        return xgb.DMatrix(rows)
    return xgb.DMatrix(rows, feature_names=booster.feature_names)


def dataset_logger(xgb: Any, run: TrainingRun, matrix: Any, context: str, name: str | None) -> None:
    """Record ``matrix`` as a dataset input of the run, in the background, if it can be had.

    The densifying and the digest happen on the background thread; the matrix is only read.
    """
    if not run.options.log_datasets or not _plain_matrix(xgb, matrix):
        return
    if matrix.num_row() * matrix.num_col() > MAX_DATASET_CELLS:
        return
    run_id = run.run_id

    def log() -> None:
        if _categorical(matrix):
            return
        from runlab import data
        from runlab.tracking.fluent_inputs import log_input

        features = _framed(_dense(xgb, matrix), matrix.feature_names)
        labels = matrix.get_label()
        targets = labels if len(labels) == matrix.num_row() else None
        if hasattr(features, "columns"):
            column = None
            if targets is not None:
                column = "label" if "label" not in features.columns else "label_target"
                features = features.assign(**{column: targets})
            dataset: Any = data.from_pandas(features, targets=column, name=name)
        else:
            dataset = data.from_numpy(features, targets=targets, name=name)
        log_input(dataset, context=context, run_id=run_id)

    run.defer(log)
