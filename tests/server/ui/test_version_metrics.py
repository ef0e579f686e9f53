"""The rules of the version compare table: which way a metric is better, which point counts,
how datasets are labelled and grouped (pure functions, no store)."""

from __future__ import annotations

import math

import pytest

from runlab.entities import Metric
from runlab.server.ui.version_metrics import (
    NO_DATASET_GROUP,
    TRAINING_RUN_GROUP,
    build_groups,
    build_row,
    dataset_label,
    latest_per_dataset,
    metric_direction,
)


@pytest.mark.parametrize(
    "key",
    [
        "loss",
        "val_loss",
        "log_loss",
        "mean_squared_error",
        "root_mean_squared_error",
        "mean_absolute_percentage_error",
        "max_error",
        "eval/loss",
        "RMSE",
        "test.mae",
    ],
)
def test_errors_and_losses_are_lower_is_better(key: str) -> None:
    assert metric_direction(key) == "lower"


@pytest.mark.parametrize(
    "key",
    [
        "accuracy",
        "accuracy_score",
        "val_accuracy",
        "precision_score",
        "recall",
        "f1",
        "f1_score",
        "roc_auc",
        "precision_recall_auc",
        "r2_score",
        "eval/Accuracy",
    ],
)
def test_scores_people_maximise_are_higher_is_better(key: str) -> None:
    assert metric_direction(key) == "higher"


@pytest.mark.parametrize(
    "key", ["example_count", "sum_on_target", "score", "f10", "my_metric", "precisionish"]
)
def test_other_metrics_have_no_direction(key: str) -> None:
    assert metric_direction(key) is None


def test_the_latest_point_per_key_and_dataset_counts() -> None:
    points = [
        Metric("acc", 0.5, 100, 1, "test", "aaa"),
        Metric("acc", 0.9, 50, 3, "test", "aaa"),  # higher step wins over a newer time
        Metric("acc", 0.7, 60, 3, "test", "aaa"),  # same step, newer time wins
        Metric("acc", 0.1, 10, 0, "train", "bbb"),
        Metric("acc", 0.2, 10, 0),  # no dataset
    ]

    latest = latest_per_dataset(points)

    assert latest == {
        ("test", "aaa"): {"acc": 0.7},
        ("train", "bbb"): {"acc": 0.1},
        (None, None): {"acc": 0.2},
    }


def test_dataset_labels_show_the_digests_start() -> None:
    assert dataset_label(("test", "0123456789abcdef")) == "test (01234567)"
    assert dataset_label(("test", None)) == "test"
    assert dataset_label((None, "0123456789")) == "unnamed dataset (01234567)"
    assert dataset_label((None, None)) == NO_DATASET_GROUP


def test_rows_mark_differences_and_the_best_values() -> None:
    same = build_row("loss", [0.5, 0.5])
    assert not same.differs and not any(c.best for c in same.cells)

    lower = build_row("loss", [0.5, None, 0.25, 0.25])
    assert lower.differs
    assert [c.best for c in lower.cells] == [False, False, True, True]
    assert [c.text for c in lower.cells] == ["0.5", "—", "0.25", "0.25"]

    # A value of one version alone is not "best" of anything.
    alone = build_row("accuracy", [0.9, None])
    assert alone.differs and not any(c.best for c in alone.cells)

    # NaN and infinities are shown but never best; NaN against NaN is no difference.
    odd = build_row("accuracy", [math.nan, math.inf, 0.5, 0.4])
    assert [c.best for c in odd.cells] == [False, False, True, False]
    assert [c.text for c in odd.cells][:2] == ["NaN", "Infinity"]
    assert not build_row("accuracy", [math.nan, math.nan]).differs


def test_groups_are_datasets_in_natural_order_then_the_training_run() -> None:
    groups = build_groups(
        [
            {("fold10", "x"): {"acc": 1.0}, ("fold2", "y"): {"acc": 2.0}},
            None,
        ],
        [{"loss": 0.1}, None],
    )

    assert [(g.label, g.kind) for g in groups] == [
        ("fold2 (y)", "dataset"),
        ("fold10 (x)", "dataset"),
        (TRAINING_RUN_GROUP, "run"),
    ]
    assert [c.value for c in groups[0].rows[0].cells] == [2.0, None]
    assert [c.value for c in groups[2].rows[0].cells] == [0.1, None]


def test_no_metrics_no_groups() -> None:
    assert build_groups([None, {}], [None, {}]) == []
