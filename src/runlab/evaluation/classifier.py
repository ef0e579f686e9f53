"""Default metrics for classifiers, under MLflow's metric names.

Binary data (at most two labels) gets the confusion counts for the positive label, accuracy,
precision, recall and F1 of the positive label, and, when the model gives probability scores,
log loss, ROC AUC and the area under the precision-recall curve (average precision).
Multiclass data gets accuracy and precision, recall and F1 averaged over the classes
(``weighted`` unless ``evaluator_config["average"]`` says otherwise), log loss and a one-vs-rest
ROC AUC with the same averaging, plus a per-class table of the binary metrics.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runlab.errors import InvalidParameter
from runlab.evaluation.sklearn_import import sklearn_metrics

__all__ = [
    "ClassifierLabels",
    "classifier_labels",
    "classifier_metrics",
    "per_class_table",
    "sorted_labels",
]

_AVERAGES = ("micro", "macro", "weighted", "samples")


@dataclass(frozen=True)
class ClassifierLabels:
    """The labels an evaluation knows, in order, and which one is positive (binary only)."""

    labels: tuple[Any, ...]
    pos_label: Any
    average: str

    @property
    def is_binary(self) -> bool:
        """True for at most two labels."""
        return len(self.labels) <= 2


def sorted_labels(values: Sequence[Any]) -> list[Any]:
    """Labels in order: sorted, or by their repr when they cannot be compared (mixed types)."""
    try:
        return sorted(values)
    except TypeError:  # mixed types: keep a stable order that does not depend on hashing
        return sorted(values, key=repr)


def classifier_labels(
    y_true: Any, y_pred: Any, evaluator_config: Mapping[str, Any]
) -> ClassifierLabels:
    """The label list (``label_list`` from the config, else every label seen, sorted) and the
    positive label (``pos_label`` from the config, else the last label)."""
    import numpy as np

    configured = evaluator_config.get("label_list")
    if configured is not None:
        labels = tuple(configured)
        if not labels:
            raise InvalidParameter("evaluator_config['label_list'] must not be empty.")
        unknown = set(np.unique(y_true).tolist()) - set(labels)
        if unknown:
            raise InvalidParameter(
                f"The targets hold labels {sorted(map(str, unknown))} that "
                f"evaluator_config['label_list'] {list(labels)} does not list."
            )
    else:
        seen = set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist())
        labels = tuple(sorted_labels(list(seen)))
    average = evaluator_config.get("average", "weighted")
    if average not in _AVERAGES:
        raise InvalidParameter(
            f"evaluator_config['average'] must be one of {', '.join(_AVERAGES)}, got {average!r}."
        )
    pos_label = evaluator_config.get("pos_label", labels[-1])
    if len(labels) <= 2 and pos_label not in labels:
        raise InvalidParameter(
            f"evaluator_config['pos_label'] is {pos_label!r}, which is not one of the labels "
            f"{list(labels)}."
        )
    return ClassifierLabels(labels, pos_label, average)


def _quietly(fn: Any, *args: Any, **kwargs: Any) -> float:
    """Call a scikit-learn metric; its warnings on degenerate data (one class only) are not
    errors of the evaluation: the metric is NaN or 0 as scikit-learn decides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(fn(*args, **kwargs))
        except ValueError:  # e.g. ROC AUC with one class present: undefined, not an error
            return float("nan")


def _binary_counts(y_true: Any, y_pred: Any, pos_label: Any) -> dict[str, int]:
    import numpy as np

    truth = np.asarray(y_true) == pos_label
    predicted = np.asarray(y_pred) == pos_label
    return {
        "true_negatives": int(np.sum(~truth & ~predicted)),
        "false_positives": int(np.sum(~truth & predicted)),
        "false_negatives": int(np.sum(truth & ~predicted)),
        "true_positives": int(np.sum(truth & predicted)),
    }


def _binary_metrics(
    y_true: Any, y_pred: Any, positive_scores: Any, pos_label: Any
) -> dict[str, float]:
    """The binary metrics of one positive label (also one row of the per-class table)."""
    import numpy as np

    m = sklearn_metrics()
    truth = np.asarray(y_true) == pos_label
    predicted = np.asarray(y_pred) == pos_label
    out: dict[str, float] = {
        "example_count": len(truth),
        "accuracy_score": _quietly(m.accuracy_score, truth, predicted),
        "recall_score": _quietly(m.recall_score, truth, predicted, zero_division=0),
        "precision_score": _quietly(m.precision_score, truth, predicted, zero_division=0),
        "f1_score": _quietly(m.f1_score, truth, predicted, zero_division=0),
    }
    if positive_scores is not None:
        out["roc_auc"] = _quietly(m.roc_auc_score, truth, positive_scores)
        out["precision_recall_auc"] = _quietly(m.average_precision_score, truth, positive_scores)
    return out


def classifier_metrics(
    y_true: Any, y_pred: Any, probabilities: Any, labels: ClassifierLabels
) -> dict[str, float]:
    """The default metrics; ``probabilities`` is an (n, len(labels)) array in label order, or
    None when the model gives no scores."""
    m = sklearn_metrics()
    if labels.is_binary:
        pos_index = labels.labels.index(labels.pos_label)
        positive = None if probabilities is None else probabilities[:, pos_index]
        metrics: dict[str, float] = dict(_binary_counts(y_true, y_pred, labels.pos_label))
        metrics.update(_binary_metrics(y_true, y_pred, positive, labels.pos_label))
        if probabilities is not None:
            metrics["log_loss"] = _quietly(
                m.log_loss, y_true, probabilities, labels=list(labels.labels)
            )
        return metrics
    average = labels.average
    metrics = {
        "example_count": len(y_true),
        "accuracy_score": _quietly(m.accuracy_score, y_true, y_pred),
        "recall_score": _quietly(m.recall_score, y_true, y_pred, average=average, zero_division=0),
        "precision_score": _quietly(
            m.precision_score, y_true, y_pred, average=average, zero_division=0
        ),
        "f1_score": _quietly(m.f1_score, y_true, y_pred, average=average, zero_division=0),
    }
    if probabilities is not None:
        metrics["log_loss"] = _quietly(
            m.log_loss, y_true, probabilities, labels=list(labels.labels)
        )
        metrics["roc_auc"] = _quietly(
            m.roc_auc_score,
            y_true,
            probabilities,
            average=average,
            multi_class="ovr",
            labels=list(labels.labels),
        )
    return metrics


#: The per-class table's columns (MLflow's per_class_metrics.csv), score columns last.
PER_CLASS_COLUMNS = (
    "positive_class",
    "true_negatives",
    "false_positives",
    "false_negatives",
    "true_positives",
    "example_count",
    "accuracy_score",
    "recall_score",
    "precision_score",
    "f1_score",
    "roc_auc",
    "precision_recall_auc",
)


def per_class_table(
    y_true: Any, y_pred: Any, probabilities: Any, labels: ClassifierLabels
) -> list[dict[str, Any]]:
    """One row per label of a multiclass problem: that label against the rest."""
    rows: list[dict[str, Any]] = []
    for index, label in enumerate(labels.labels):
        row: dict[str, Any] = {"positive_class": label}
        row.update(_binary_counts(y_true, y_pred, label))
        scores = None if probabilities is None else probabilities[:, index]
        row.update(_binary_metrics(y_true, y_pred, scores, label))
        rows.append(row)
    return rows
