"""The per-row results table: each example's inputs, target, prediction and scores.

Logged as ``eval_results_table.json`` in MLflow's table layout (``{"columns": [...], "data":
[[...], ...]}``, read back by :func:`runlab.load_table`), and returned as a DataFrame in
``EvaluationResult.tables["eval_results_table"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PREDICTION_COLUMN", "TABLE_FILE", "TABLE_NAME", "results_table"]

TABLE_NAME = "eval_results_table"
TABLE_FILE = f"{TABLE_NAME}.json"
#: The column holding the model's prediction.
PREDICTION_COLUMN = "prediction"


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2`` … when a feature column already has it."""
    candidate, number = name, 0
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


def results_table(
    features: Any,
    target_name: str,
    targets: Any,
    predictions: Any,
    scores: Any,
    score_labels: Sequence[Any],
    metric_scores: Mapping[str, Sequence[Any]],
) -> Any:
    """A DataFrame: the feature columns, the target, ``prediction``, then one
    ``probability_<label>`` column per class when the model gave scores, then the per-row scores
    of custom metrics (``<metric>/score``)."""
    table = features.reset_index(drop=True).copy()
    table.columns = [str(c) for c in table.columns]
    taken = set(table.columns)
    table[_free_name(target_name, taken)] = list(targets)
    table[_free_name(PREDICTION_COLUMN, taken)] = list(predictions)
    if scores is not None:
        for index, label in enumerate(score_labels):
            table[_free_name(f"probability_{label}", taken)] = scores[:, index]
    for name, values in metric_scores.items():
        table[_free_name(name, taken)] = list(values)
    return table
