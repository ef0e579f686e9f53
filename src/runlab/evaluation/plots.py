"""The evaluation's plots, as PNG bytes under MLflow's artifact file names.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot: no global figure
state, no GUI backend, nothing to close), small and at a fixed size and resolution, so a plot
costs tens of milliseconds and the same data gives the same picture. Scatter plots of many rows
are thinned to an even sample first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from runlab.errors import InvalidParameter
from runlab.evaluation.classifier import ClassifierLabels
from runlab.evaluation.sklearn_import import sklearn_metrics

__all__ = ["classifier_plots", "regressor_plots"]

_SIZE = (6.0, 4.5)
_DPI = 90
#: At most this many points in a scatter plot.
_MAX_SCATTER = 5000
#: Buckets of a calibration curve.
_CALIBRATION_BINS = 10


def _figure() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidParameter(
            "runlab.evaluate draws its plots with matplotlib, which is not installed; install "
            "it with `pip install 'runlab[plots]'`."
        ) from None
    figure = Figure(figsize=_SIZE, dpi=_DPI)
    FigureCanvasAgg(figure)
    # Fixed margins rather than tight_layout(), which measures every label and would cost
    # about as much as drawing the figure.
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.14, top=0.92)
    return figure


def _png(draw: Callable[[Any], None]) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    draw(axes)
    buffer = io.BytesIO()
    # No "Software" entry: the bytes then depend on the picture, not on matplotlib's version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _unit_square(ax: Any) -> None:
    """Axes from 0 to 1 with fixed ticks: tick placement is most of a small plot's cost."""
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)


def _label_text(label: Any) -> str:
    return str(label)


def _confusion_matrix(y_true: Any, y_pred: Any, labels: ClassifierLabels) -> bytes:
    matrix = sklearn_metrics().confusion_matrix(y_true, y_pred, labels=list(labels.labels))
    names = [_label_text(label) for label in labels.labels]

    def draw(ax: Any) -> None:
        ax.imshow(matrix, cmap="Blues", interpolation="nearest")
        ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 4 else 0)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        ax.set_title("Confusion matrix")
        middle = matrix.max() / 2 if matrix.size else 0
        if len(names) <= 20:  # past that the numbers would not be readable
            for (row, col), count in _cells(matrix):
                ax.text(
                    col,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    color="white" if count > middle else "black",
                )

    return _png(draw)


def _cells(matrix: Any) -> list[tuple[tuple[int, int], int]]:
    return [
        ((r, c), int(matrix[r, c])) for r in range(matrix.shape[0]) for c in range(matrix.shape[1])
    ]


def _one_vs_rest(y_true: Any, scores: Any, labels: ClassifierLabels) -> list[tuple[str, Any, Any]]:
    """(name, is-this-label, score-of-this-label) per curve: one for binary, one per class."""
    import numpy as np

    y = np.asarray(y_true)
    if labels.is_binary:
        index = labels.labels.index(labels.pos_label)
        return [(f"positive class {labels.pos_label}", y == labels.pos_label, scores[:, index])]
    return [
        (f"class {label}", y == label, scores[:, index])
        for index, label in enumerate(labels.labels)
        if (y == label).any()
    ]


def _roc_curve(y_true: Any, scores: Any, labels: ClassifierLabels) -> bytes:
    m = sklearn_metrics()
    curves = []
    for name, truth, score in _one_vs_rest(y_true, scores, labels):
        if truth.all():  # no negatives: no false-positive rate to draw
            continue
        fpr, tpr, _ = m.roc_curve(truth, score)
        curves.append((name, fpr, tpr, m.auc(fpr, tpr)))

    def draw(ax: Any) -> None:
        for name, fpr, tpr, area in curves:
            ax.plot(fpr, tpr, label=f"{name} (AUC={area:.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        _unit_square(ax)
        ax.set_xlabel("False positive rate")
        ax.set_ylabel("True positive rate")
        ax.set_title("ROC curve")
        if curves:
            ax.legend(loc="lower right", fontsize="small")

    return _png(draw)


def _precision_recall_curve(y_true: Any, scores: Any, labels: ClassifierLabels) -> bytes:
    m = sklearn_metrics()
    curves = []
    for name, truth, score in _one_vs_rest(y_true, scores, labels):
        precision, recall, _ = m.precision_recall_curve(truth, score)
        curves.append((name, recall, precision, m.average_precision_score(truth, score)))

    def draw(ax: Any) -> None:
        for name, recall, precision, area in curves:
            ax.plot(recall, precision, drawstyle="steps-post", label=f"{name} (AP={area:.3f})")
        ax.set_xlabel("Recall")
        ax.set_ylabel("Precision")
        _unit_square(ax)
        ax.set_title("Precision-recall curve")
        if curves:
            ax.legend(loc="lower left", fontsize="small")

    return _png(draw)


def _lift_curve(y_true: Any, scores: Any, labels: ClassifierLabels) -> bytes:
    import numpy as np

    ((name, truth, score),) = _one_vs_rest(y_true, scores, labels)
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(truth[order])
    counts = np.arange(1, len(truth) + 1)
    rate = truth.mean() if len(truth) else 0.0
    lift = (hits / counts) / rate if rate else np.zeros(len(counts))
    fraction = counts / len(counts)

    def draw(ax: Any) -> None:
        ax.plot(fraction, lift, label=name)
        ax.axhline(1.0, linestyle="--", color="grey", linewidth=1, label="baseline")
        ax.set_xlabel("Fraction of examples (highest scores first)")
        ax.set_ylabel("Lift")
        ax.set_title("Lift curve")
        ax.legend(loc="upper right", fontsize="small")

    return _png(draw)


def _calibration_curve(y_true: Any, scores: Any, labels: ClassifierLabels) -> bytes:
    import numpy as np

    curves = []
    edges = np.linspace(0.0, 1.0, _CALIBRATION_BINS + 1)
    for name, truth, score in _one_vs_rest(y_true, scores, labels):
        bucket = np.clip(np.digitize(score, edges[1:-1]), 0, _CALIBRATION_BINS - 1)
        counts = np.bincount(bucket, minlength=_CALIBRATION_BINS)
        filled = counts > 0
        mean_score = np.bincount(bucket, weights=score, minlength=_CALIBRATION_BINS)[filled]
        positives = np.bincount(bucket, weights=truth, minlength=_CALIBRATION_BINS)[filled]
        curves.append((name, mean_score / counts[filled], positives / counts[filled]))

    def draw(ax: Any) -> None:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
        for name, predicted, observed in curves:
            ax.plot(predicted, observed, marker="o", label=name)
        _unit_square(ax)
        ax.set_xlabel("Mean predicted probability")
        ax.set_ylabel("Fraction of positives")
        ax.set_title("Calibration curve")
        ax.legend(loc="upper left", fontsize="small")

    return _png(draw)


def classifier_plots(
    y_true: Any, y_pred: Any, scores: Any, labels: ClassifierLabels
) -> dict[str, bytes]:
    """File name -> PNG: the confusion matrix always; ROC, precision-recall and calibration
    curves with scores; the lift curve for binary data with scores."""
    plots = {"confusion_matrix.png": _confusion_matrix(y_true, y_pred, labels)}
    if scores is None:
        return plots
    plots["roc_curve_plot.png"] = _roc_curve(y_true, scores, labels)
    plots["precision_recall_curve_plot.png"] = _precision_recall_curve(y_true, scores, labels)
    if labels.is_binary:
        plots["lift_curve_plot.png"] = _lift_curve(y_true, scores, labels)
    plots["calibration_curve_plot.png"] = _calibration_curve(y_true, scores, labels)
    return plots


def regressor_plots(y_true: Any, y_pred: Any) -> dict[str, bytes]:
    """File name -> PNG: residuals (target - prediction) against the predictions."""
    import numpy as np

    step = max(1, len(y_true) // _MAX_SCATTER)  # an even, repeatable thinning
    predicted = np.asarray(y_pred)[::step]
    residuals = (np.asarray(y_true) - np.asarray(y_pred))[::step]

    def draw(ax: Any) -> None:
        ax.scatter(predicted, residuals, s=8, alpha=0.6)
        ax.axhline(0.0, linestyle="--", color="grey", linewidth=1)
        ax.set_xlabel("Prediction")
        ax.set_ylabel("Residual (target - prediction)")
        ax.set_title("Residuals")

    return {"residuals_plot.png": _png(draw)}
