"""Training metrics of a fitted scikit-learn estimator, with MLflow's names.

Computed in the background on the snapshot of the estimator and the copy of its training data.
Classifiers get ``training_accuracy_score``, ``training_precision_score``,
``training_recall_score``, ``training_f1_score`` (weighted over the classes, or binary for
``pos_label``) and, with ``predict_proba``, ``training_log_loss`` and ``training_roc_auc``;
regressors ``training_mean_squared_error``, ``training_root_mean_squared_error``,
``training_mean_absolute_error`` and ``training_r2_score``; any estimator with ``score()``
``training_score``. Every metric is weighted by the ``sample_weight`` fit() was given.

A metric that does not apply to the data (ROC AUC with one class present, say) is left out and
named in one warning; the others are logged all the same.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "training_metrics"]

PREFIX = "training_"


@dataclass
class Outcome:
    """What the estimator predicts for its own training data, kept for the plots."""

    y_true: Any
    y_pred: Any = None
    #: predict_proba's output, else decision_function's, else None.
    scores: Any = None
    classes: Any = None
    sample_weight: Any = None
    #: Metrics that could not be computed: name -> reason.
    skipped: dict[str, str] = field(default_factory=dict)


def raw(function: Callable[..., Any]) -> Callable[..., Any]:
    """A sklearn.metrics function without runlab's patch (ours are not post-training calls)."""
    if getattr(function, "__runlab_autolog__", None) is not None:
        unwrapped: Callable[..., Any] = function.__wrapped__  # type: ignore[attr-defined]
        return unwrapped
    return function


def training_metrics(
    model: Any, X: Any, y: Any, sample_weight: Any, pos_label: Any
) -> tuple[dict[str, float], Outcome]:
    """The training metrics of ``model`` on ``X``/``y``, and its predictions for the plots."""
    import numpy as np
    from sklearn.base import is_classifier, is_regressor

    outcome = Outcome(y_true=np.asarray(y), sample_weight=sample_weight)
    metrics: dict[str, float] = {}
    if not hasattr(model, "predict"):
        pass
    elif is_classifier(model):
        _classifier(model, X, outcome, pos_label, metrics)
    elif is_regressor(model):
        _regressor(model, X, outcome, metrics)
    if hasattr(model, "score"):
        _add(metrics, outcome, "score", lambda: _score(model, X, y, sample_weight))
    return metrics, outcome


def _add(
    metrics: dict[str, float], outcome: Outcome, name: str, compute: Callable[[], Any]
) -> None:
    key = PREFIX + name
    try:
        value = float(compute())
    except (ValueError, TypeError, ArithmeticError, AttributeError, IndexError) as err:
        outcome.skipped[key] = f"{type(err).__name__}: {err}"
        return
    if math.isnan(value):
        outcome.skipped[key] = "the value is not a number"
        return
    metrics[key] = value


def _weights(outcome: Outcome) -> dict[str, Any]:
    return {} if outcome.sample_weight is None else {"sample_weight": outcome.sample_weight}


def _classifier(
    model: Any, X: Any, outcome: Outcome, pos_label: Any, metrics: dict[str, float]
) -> None:
    import numpy as np
    from sklearn import metrics as sk

    y_true = outcome.y_true
    outcome.y_pred = y_pred = model.predict(X)
    outcome.classes = getattr(model, "classes_", None)
    if outcome.classes is None:
        outcome.classes = np.unique(np.concatenate([np.ravel(y_true), np.ravel(y_pred)]))
    weights = _weights(outcome)
    # Weighted over the classes (MLflow's default), or the one class the user names.
    averaging: dict[str, Any] = (
        {"average": "weighted"}
        if pos_label is None
        else {"average": "binary", "pos_label": pos_label}
    )
    _add(
        metrics,
        outcome,
        "accuracy_score",
        lambda: raw(sk.accuracy_score)(y_true, y_pred, **weights),
    )
    for name, function in (
        ("precision_score", sk.precision_score),
        ("recall_score", sk.recall_score),
        ("f1_score", sk.f1_score),
    ):
        _add(
            metrics,
            outcome,
            name,
            functools.partial(
                raw(function), y_true, y_pred, zero_division=0, **averaging, **weights
            ),
        )
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        outcome.scores = proba
        classes = list(outcome.classes)
        _add(
            metrics,
            outcome,
            "log_loss",
            lambda: raw(sk.log_loss)(y_true, proba, labels=classes, **weights),
        )
        _add(
            metrics,
            outcome,
            "roc_auc",
            lambda: _roc_auc(y_true, proba, classes, pos_label, weights),
        )
    elif hasattr(model, "decision_function"):
        outcome.scores = model.decision_function(X)


def _roc_auc(
    y_true: Any, proba: Any, classes: list[Any], pos_label: Any, weights: dict[str, Any]
) -> float:
    import numpy as np
    from sklearn import metrics as sk

    present = np.unique(y_true)
    if len(present) < 2:
        raise ValueError("only one class is present in the training labels")
    if len(classes) == 2:
        positive = classes[1] if pos_label is None else pos_label
        column = classes.index(positive)
        return float(raw(sk.roc_auc_score)(y_true == positive, proba[:, column], **weights))
    return float(
        raw(sk.roc_auc_score)(
            y_true, proba, multi_class="ovr", average="weighted", labels=classes, **weights
        )
    )


def _regressor(model: Any, X: Any, outcome: Outcome, metrics: dict[str, float]) -> None:
    from sklearn import metrics as sk

    y_true = outcome.y_true
    outcome.y_pred = y_pred = model.predict(X)
    weights = _weights(outcome)
    mse = raw(sk.mean_squared_error)
    _add(metrics, outcome, "mean_squared_error", lambda: mse(y_true, y_pred, **weights))
    _add(
        metrics,
        outcome,
        "root_mean_squared_error",
        lambda: raw(sk.root_mean_squared_error)(y_true, y_pred, **weights),
    )
    _add(
        metrics,
        outcome,
        "mean_absolute_error",
        lambda: raw(sk.mean_absolute_error)(y_true, y_pred, **weights),
    )
    if len(y_true) >= 2:  # R² of one sample is undefined (and scikit-learn warns about it)
        _add(metrics, outcome, "r2_score", lambda: raw(sk.r2_score)(y_true, y_pred, **weights))
    else:
        outcome.skipped[PREFIX + "r2_score"] = "R² needs at least two samples"


def _score(model: Any, X: Any, y: Any, sample_weight: Any) -> Any:
    score = model.score
    if sample_weight is not None and "sample_weight" in _parameter_names(score):
        return score(X, y, sample_weight=sample_weight)
    return score(X, y)


def _parameter_names(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()
