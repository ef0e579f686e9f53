"""The metrics table of the version compare page, built from what the stores returned.

Pure functions over entities (no store, no request), so the rules of the table — which value
of a metric counts, how rows are grouped, which value is best — are tested on their own and
read in one place:

- A logged model keeps every metric point it was given, each with the dataset it was measured
  on. The table shows the latest point per (metric key, dataset): the highest step, then the
  newest timestamp. Each dataset is a group of rows, labelled "name (digest[:8])".
- The source run's latest metrics follow, in one "training run" group.
- A row differs when its versions do not all show the same value (a missing value differs from
  any number). In a row that differs, the best value is marked when the metric's name says
  which way is better (:func:`metric_direction`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from runlab.entities.metric import Metric
from runlab.server.ui.formatting import format_number

__all__ = [
    "NO_DATASET_GROUP",
    "TRAINING_RUN_GROUP",
    "Cell",
    "Direction",
    "Group",
    "MetricRow",
    "build_groups",
    "build_row",
    "dataset_label",
    "latest_per_dataset",
    "metric_direction",
]

Direction = Literal["lower", "higher"]

#: The label of the group holding the source runs' metrics.
TRAINING_RUN_GROUP = "training run"
#: The label of a logged model's metrics recorded without a dataset.
NO_DATASET_GROUP = "no dataset"

#: A dataset, as a logged model's metric names it: (name, digest), either may be None.
DatasetKey = tuple[str | None, str | None]

# Names whose smaller values are better: errors and losses in any spelling ("val_loss",
# "mean_squared_error", "log_loss", "max_error"), and their common abbreviations.
_LOWER_SUFFIXES = ("error", "loss")
_LOWER_NAMES = frozenset({"mse", "rmse", "mae", "mape", "msle", "rmsle"})
# Names whose larger values are better, as whole words at the end of the name ("val_accuracy",
# "f1_score", "precision_recall_auc"); a trailing "_score" is MLflow's spelling and says nothing.
_HIGHER_WORDS = ("accuracy", "precision", "recall", "f1", "roc_auc", "auc", "r2")


def metric_direction(key: str) -> Direction | None:
    """Whether lower or higher values of the metric ``key`` are better, or None if unknown.

    Judged by the last part of the name (after a ``/`` or ``.``), case-insensitively, so a
    prefix such as ``eval/`` or ``val_`` does not hide it. Errors and losses are lower-better;
    accuracy, precision, recall, F1, ROC AUC and R² are higher-better; anything else (counts,
    sums, custom scores) gets no mark rather than a guess.
    """
    name = re.split(r"[/.]", key.strip().lower())[-1]
    if name.endswith(_LOWER_SUFFIXES) or name in _LOWER_NAMES:
        return "lower"
    name = name.removesuffix("_score")
    for word in _HIGHER_WORDS:
        if name == word or name.endswith(f"_{word}"):
            return "higher"
    return None


def dataset_label(dataset: DatasetKey) -> str:
    """A dataset as the table labels its group: ``name (digest[:8])``."""
    name, digest = dataset
    if name is None and digest is None:
        return NO_DATASET_GROUP
    if digest is None:
        return name or ""
    return f"{name or 'unnamed dataset'} ({digest[:8]})"


def latest_per_dataset(metrics: Sequence[Metric]) -> dict[DatasetKey, dict[str, float]]:
    """Each dataset's metrics, key → the value of its latest point (highest step, then newest
    timestamp; among points alike in both, the last one given)."""
    latest: dict[tuple[DatasetKey, str], Metric] = {}
    for point in metrics:
        slot = ((point.dataset_name, point.dataset_digest), point.key)
        seen = latest.get(slot)
        if seen is None or (point.step, point.timestamp) >= (seen.step, seen.timestamp):
            latest[slot] = point
    grouped: dict[DatasetKey, dict[str, float]] = {}
    for (dataset, key), point in latest.items():
        grouped.setdefault(dataset, {})[key] = point.value
    return grouped


@dataclass(frozen=True)
class Cell:
    """One version's value in one row."""

    value: float | None
    #: What the cell shows: six significant digits, NaN, ±Infinity, or "—" for no value.
    text: str
    #: The full value for the tooltip ("" when there is none).
    exact: str
    best: bool


@dataclass(frozen=True)
class MetricRow:
    """One metric of one group: its value in each version, in the order compared."""

    key: str
    cells: list[Cell]
    direction: Direction | None
    differs: bool


@dataclass(frozen=True)
class Group:
    """The rows of one dataset (or of the training runs)."""

    label: str
    #: "dataset" for a logged model's evaluation data, "run" for the source runs' metrics.
    kind: Literal["dataset", "run"]
    rows: list[MetricRow]


def _natural_key(text: str) -> tuple[list[str | int], str]:
    # "m2" before "m10": runs of digits compare as numbers (split with a group alternates
    # text and digits, so each position compares like with like).
    parts = re.split(r"(\d+)", text)
    return [int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)], text


def _best_flags(values: list[float | None], direction: Direction | None) -> list[bool]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if direction is None or len(finite) < 2:
        return [False] * len(values)
    best = min(finite) if direction == "lower" else max(finite)
    return [v is not None and v == best for v in values]


def build_row(key: str, values: list[float | None]) -> MetricRow:
    """A row of ``values`` (None: the version has no value), with the differences marked."""
    # repr() tells NaN from NaN alike (NaN != NaN) and a missing value from any number.
    differs = len({repr(v) for v in values}) > 1
    direction = metric_direction(key)
    # Only a row that differs has a best value worth pointing at.
    best = _best_flags(values, direction) if differs else [False] * len(values)
    cells = [
        Cell(
            value=v,
            text=format_number(v),
            exact="" if v is None else repr(v),
            best=flag,
        )
        for v, flag in zip(values, best, strict=True)
    ]
    return MetricRow(key, cells, direction, differs)


def _rows(per_version: list[Mapping[str, float]]) -> list[MetricRow]:
    keys = sorted({key for metrics in per_version for key in metrics}, key=_natural_key)
    return [build_row(key, [metrics.get(key) for metrics in per_version]) for key in keys]


def build_groups(
    evaluations: list[dict[DatasetKey, dict[str, float]] | None],
    training: list[Mapping[str, float] | None],
) -> list[Group]:
    """The table's groups: one per dataset any version was evaluated on, then the training run.

    ``evaluations[i]`` is version i's logged-model metrics by dataset and ``training[i]`` its
    source run's latest metrics; None where the version has none to show (its cells are "—").
    """
    datasets = sorted(
        {dataset for found in evaluations if found for dataset in found},
        key=lambda d: _natural_key(dataset_label(d)),
    )
    groups = [
        Group(
            dataset_label(dataset),
            "dataset",
            _rows([(found or {}).get(dataset, {}) for found in evaluations]),
        )
        for dataset in datasets
    ]
    run_rows = _rows([metrics or {} for metrics in training])
    if run_rows:
        groups.append(Group(TRAINING_RUN_GROUP, "run", run_rows))
    return groups
