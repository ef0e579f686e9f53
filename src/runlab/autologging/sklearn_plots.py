"""The plots and the HTML page scikit-learn autologging records, with MLflow's file names.

``training_confusion_matrix.png`` (normalized over the true labels, as MLflow draws it) for
every classifier; ``training_roc_curve.png`` and ``training_precision_recall_curve.png`` for
binary ones; ``estimator.html``, scikit-learn's own diagram of the estimator.

The figures are drawn on the background thread with matplotlib's object API and the Agg canvas,
never through ``pyplot``: pyplot keeps global state and may drive a GUI backend, neither of which
may be touched from a thread the user's code does not know about. Without matplotlib, the plots
are left out.
"""

from __future__ import annotations

import html
import logging
from typing import Any

__all__ = ["classifier_figures", "estimator_html"]

_logger = logging.getLogger("runlab")

#: Above this many classes the confusion matrix cells carry no numbers (they would overlap).
_ANNOTATED_CLASSES = 12


def classifier_figures(
    y_true: Any, y_pred: Any, scores: Any, classes: Any, sample_weight: Any, pos_label: Any
) -> dict[str, Any]:
    """The figures for a classifier's training data: artifact file name -> matplotlib Figure."""
    try:
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        _logger.debug("runlab: matplotlib is not installed; no plots for this classifier")
        return {}
    import numpy as np

    labels = list(classes)
    figures = {
        "training_confusion_matrix.png": _confusion_matrix(y_true, y_pred, labels, sample_weight)
    }
    if len(labels) == 2 and scores is not None and len(np.unique(y_true)) == 2:
        positive = labels[1] if pos_label is None else pos_label
        scores = np.asarray(scores)
        column = scores[:, labels.index(positive)] if scores.ndim == 2 else scores
        if scores.ndim == 1 and positive != labels[1]:
            column = -column  # decision_function scores the second class
        is_positive = np.asarray(y_true) == positive
        figures["training_roc_curve.png"] = _roc_curve(is_positive, column, sample_weight, positive)
        figures["training_precision_recall_curve.png"] = _pr_curve(
            is_positive, column, sample_weight, positive
        )
    return figures


def _new_figure(width: float = 6.4, height: float = 4.8) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _confusion_matrix(y_true: Any, y_pred: Any, labels: list[Any], sample_weight: Any) -> Any:
    import numpy as np
    from sklearn.metrics import confusion_matrix

    from runlab.autologging.sklearn_metrics import raw

    matrix = raw(confusion_matrix)(
        y_true, y_pred, labels=labels, sample_weight=sample_weight, normalize="true"
    )
    matrix = np.nan_to_num(matrix)
    size = max(4.8, 0.45 * len(labels) + 2.5)
    figure = _new_figure(size * 1.2, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes)
    ticks = range(len(labels))
    names = [str(label) for label in labels]
    axes.set_xticks(ticks, names, rotation=45 if len(labels) > 6 else 0)
    axes.set_yticks(ticks, names)
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")
    axes.set_title("Confusion matrix (normalized over true labels)")
    if len(labels) <= _ANNOTATED_CLASSES:
        for row in ticks:
            for column in ticks:
                value = matrix[row, column]
                axes.text(
                    column,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    color="white" if value > 0.5 else "black",
                )
    return figure


def _roc_curve(is_positive: Any, scores: Any, sample_weight: Any, positive: Any) -> Any:
    from sklearn.metrics import auc, roc_curve

    from runlab.autologging.sklearn_metrics import raw

    fpr, tpr, _ = raw(roc_curve)(is_positive, scores, sample_weight=sample_weight)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(fpr, tpr, label=f"ROC curve (AUC = {auc(fpr, tpr):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Chance level")
    axes.set_xlabel(f"False positive rate (positive label: {positive})")
    axes.set_ylabel(f"True positive rate (positive label: {positive})")
    axes.set_title("ROC curve on the training data")
    axes.legend(loc="lower right")
    return figure


def _pr_curve(is_positive: Any, scores: Any, sample_weight: Any, positive: Any) -> Any:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from runlab.autologging.sklearn_metrics import raw

    precision, recall, _ = raw(precision_recall_curve)(
        is_positive, scores, sample_weight=sample_weight
    )
    average = raw(average_precision_score)(is_positive, scores, sample_weight=sample_weight)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.step(recall, precision, where="post", label=f"AP = {average:.3f}")
    axes.set_xlabel(f"Recall (positive label: {positive})")
    axes.set_ylabel(f"Precision (positive label: {positive})")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.05)
    axes.set_title("Precision-recall curve on the training data")
    axes.legend(loc="lower left")
    return figure


def estimator_html(estimator: Any) -> str:
    """A standalone HTML page with scikit-learn's diagram of the estimator."""
    from sklearn.utils import estimator_html_repr

    title = html.escape(type(estimator).__name__)
    # The charset is declared so the diagram's arrow glyphs survive any viewer's default.
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="UTF-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n"
        f"{estimator_html_repr(estimator)}\n</body>\n</html>\n"
    )
