"""Default metrics for regressors, under MLflow's metric names."""

from __future__ import annotations

import math
import warnings
from typing import Any

from runlab.errors import InvalidParameter
from runlab.evaluation.sklearn_import import sklearn_metrics

__all__ = ["numeric_targets", "regressor_metrics"]


def numeric_targets(values: Any, role: str) -> Any:
    """``values`` as a float array; InvalidParameter when they are not numbers (e.g. strings)."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        try:
            return array.astype(float)
        except (TypeError, ValueError):
            sample = next((v for v in array.ravel()[:20] if not _is_number(v)), array.ravel()[0])
            raise InvalidParameter(
                f"A regressor's {role} must be numbers, but they hold {sample!r} "
                f"({type(sample).__name__}); use model_type='classifier' for labels, or convert "
                f"the {role} to numbers."
            ) from None
    return array.astype(float)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def regressor_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """example_count, the error metrics, r2_score and the sum and mean of the targets."""
    m = sklearn_metrics()
    with warnings.catch_warnings():
        # r2 of fewer than two rows warns and is NaN; that NaN is the honest answer.
        warnings.simplefilter("ignore")
        mse = float(m.mean_squared_error(y_true, y_pred))
        return {
            "example_count": len(y_true),
            "mean_absolute_error": float(m.mean_absolute_error(y_true, y_pred)),
            "mean_squared_error": mse,
            "root_mean_squared_error": math.sqrt(mse),
            "sum_on_target": float(y_true.sum()),
            "mean_on_target": float(y_true.mean()),
            "r2_score": float(m.r2_score(y_true, y_pred)),
            "max_error": float(m.max_error(y_true, y_pred)),
            "mean_absolute_percentage_error": float(
                m.mean_absolute_percentage_error(y_true, y_pred)
            ),
        }
