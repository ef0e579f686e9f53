"""Running the model over the data and computing everything an evaluation reports, in memory.

Nothing here touches a run: :mod:`runlab.evaluation.recording` logs the outcome afterwards, so a
model that fails, returns the wrong number of rows, or a metric that raises leaves no trace.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import InvalidParameter
from runlab.evaluation.custom_metrics import EvaluationMetric, run_extra_metrics
from runlab.evaluation.inputs import EvaluationData
from runlab.evaluation.model_source import EvaluationModel

__all__ = ["EvaluationOutcome", "compute_evaluation"]

#: The per-class table of a multiclass evaluation (MLflow's artifact name).
PER_CLASS_FILE = "per_class_metrics.csv"


@dataclass
class EvaluationOutcome:
    """Metrics, artifact files (name -> bytes) and the per-row table of one model."""

    metrics: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    table: Any = None


def _one_column(output: Any, predictions: str | None, description: str) -> Any:
    """The model's output as a 1-D array; ``predictions`` picks a column of a table output."""
    import numpy as np

    columns = getattr(output, "columns", None)
    if columns is not None:  # a DataFrame
        if predictions is not None:
            if predictions not in columns:
                raise InvalidParameter(
                    f"predictions={predictions!r} names an output column, but {description} "
                    f"returned columns {[str(c) for c in columns]}."
                )
            return np.asarray(output[predictions])
        if len(columns) != 1:
            raise InvalidParameter(
                f"{description} returned {len(columns)} columns "
                f"{[str(c) for c in columns]}; pass predictions='<column>' to say which holds "
                "the predictions."
            )
        return np.asarray(output.iloc[:, 0])
    if isinstance(output, dict):
        raise InvalidParameter(
            f"{description} returned a dict; return an array, a Series or a DataFrame of "
            "predictions."
        )
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidParameter(
            f"{description} returned predictions of shape {array.shape}; one prediction per "
            "row (a 1-D array) is needed."
        )
    return array


def _probability_matrix(output: Any, predictions: str | None) -> Any:
    """The output as an (n, k) array when it is a table of class probabilities, else None.

    A classifier function may return ``predict_proba``'s output instead of labels: two or more
    columns of numbers between 0 and 1.
    """
    import numpy as np

    if predictions is not None or isinstance(output, dict):
        return None
    try:
        array = np.asarray(output)
    except (TypeError, ValueError):
        return None
    if array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind != "f":
        return None
    if np.isnan(array).any() or array.min() < 0 or array.max() > 1:
        return None
    return array


def _labels_of_scores(
    matrix: Any, data: EvaluationData, config: Mapping[str, Any], description: str
) -> list[Any]:
    """The label of each probability column: ``label_list``, else the targets' labels sorted."""
    import numpy as np

    from runlab.evaluation.classifier import sorted_labels

    classes = list(config.get("label_list") or sorted_labels(np.unique(data.targets).tolist()))
    if matrix.shape[1] != len(classes):
        raise InvalidParameter(
            f"{description} returned {matrix.shape[1]} probability columns, but the targets "
            f"have {len(classes)} labels {classes}; give evaluator_config={{'label_list': "
            "[...]}} with one label per column, in column order."
        )
    return classes


def model_predictions(
    model: EvaluationModel,
    data: EvaluationData,
    predictions: str | None,
    model_type: str,
    config: Mapping[str, Any],
) -> tuple[Any, tuple[Any, list[Any]] | None]:
    """Run ``model`` on the data: its predictions, and ``(scores, classes)`` when a
    classifier's output is a table of probabilities (the predictions are then the most
    probable classes). InvalidParameter unless there is one prediction per row."""
    try:
        output = model.predict(data.model_input)
    except InvalidParameter:
        raise
    except Exception as exc:
        raise InvalidParameter(
            f"{model.description} failed to predict on the evaluation data: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    found = None
    matrix = _probability_matrix(output, predictions) if model_type == "classifier" else None
    if matrix is not None:
        import numpy as np

        classes = _labels_of_scores(matrix, data, config, model.description)
        values = np.asarray(classes)[matrix.argmax(axis=1)]
        found = (matrix, classes)
    else:
        values = _one_column(output, predictions, model.description)
    if len(values) != data.row_count:
        raise InvalidParameter(
            f"{model.description} returned {len(values)} predictions for {data.row_count} rows "
            "of data; it must return exactly one per row."
        )
    return values, found


def _aligned_scores(found: tuple[Any, list[Any]] | None, labels: Sequence[Any]) -> Any:
    """Probability columns reordered to ``labels`` (a label the model never saw scores 0)."""
    if found is None:
        return None
    import numpy as np

    scores, classes = found
    position = {label: index for index, label in enumerate(classes)}
    if not set(classes) <= set(labels):
        return None  # the model's classes are not the data's labels: no sound mapping
    aligned = np.zeros((scores.shape[0], len(labels)))
    for column, label in enumerate(labels):
        if label in position:
            aligned[:, column] = scores[:, position[label]]
    return aligned


def _per_class_csv(rows: list[dict[str, Any]]) -> bytes:
    from runlab.evaluation.classifier import PER_CLASS_COLUMNS

    columns = [c for c in PER_CLASS_COLUMNS if any(c in row for row in rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue().encode("utf-8")


def _classifier(
    model: EvaluationModel | None,
    data: EvaluationData,
    predicted: Any,
    found: tuple[Any, list[Any]] | None,
    config: Mapping[str, Any],
    with_plots: bool,
) -> tuple[dict[str, Any], dict[str, bytes], Any, list[Any]]:
    from runlab.evaluation import classifier

    if found is None and model is not None:
        found = model.probabilities(data.model_input)
    seen_config = dict(config)
    if found is not None and "label_list" not in seen_config:
        import numpy as np

        everything = (
            set(np.unique(data.targets).tolist())
            | set(np.unique(predicted).tolist())
            | set(found[1])
        )
        seen_config["label_list"] = classifier.sorted_labels(list(everything))
    labels = classifier.classifier_labels(data.targets, predicted, seen_config)
    scores = _aligned_scores(found, labels.labels)
    metrics: dict[str, Any] = {}
    if model is not None:
        score = model.sklearn_score(data.model_input, data.targets)
        if score is not None:
            metrics["score"] = score
    metrics.update(classifier.classifier_metrics(data.targets, predicted, scores, labels))
    files: dict[str, bytes] = {}
    if not labels.is_binary:
        rows = classifier.per_class_table(data.targets, predicted, scores, labels)
        files[PER_CLASS_FILE] = _per_class_csv(rows)
    if with_plots:
        from runlab.evaluation.plots import classifier_plots

        files.update(classifier_plots(data.targets, predicted, scores, labels))
    return metrics, files, scores, list(labels.labels)


def _regressor(
    model: EvaluationModel | None,
    data: EvaluationData,
    predicted: Any,
    with_plots: bool,
) -> tuple[dict[str, Any], dict[str, bytes], Any]:
    from runlab.evaluation.regressor import numeric_targets, regressor_metrics

    y_true = numeric_targets(data.targets, "targets")
    y_pred = numeric_targets(predicted, "predictions")
    metrics: dict[str, Any] = {}
    if model is not None:
        score = model.sklearn_score(data.model_input, y_true)
        if score is not None:
            metrics["score"] = score
    metrics.update(regressor_metrics(y_true, y_pred))
    files: dict[str, bytes] = {}
    if with_plots:
        from runlab.evaluation.plots import regressor_plots

        files.update(regressor_plots(y_true, y_pred))
    return metrics, files, y_pred


def compute_evaluation(
    model: EvaluationModel | None,
    data: EvaluationData,
    model_type: str,
    config: Mapping[str, Any],
    extra_metrics: Sequence[EvaluationMetric],
    predictions: str | None,
    *,
    with_artifacts: bool = True,
) -> EvaluationOutcome:
    """Predict (or take the given predictions), then compute metrics, plots and the table.

    ``with_artifacts=False`` computes metrics only (for a baseline model).
    """
    import pandas as pd

    found = None
    if model is None:
        predicted = data.predictions
    else:
        predicted, found = model_predictions(model, data, predictions, model_type, config)
    scores = None
    labels: list[Any] = []
    if model_type == "classifier":
        metrics, files, scores, labels = _classifier(
            model, data, predicted, found, config, with_artifacts
        )
    else:
        metrics, files, predicted = _regressor(model, data, predicted, with_artifacts)
    extra = run_extra_metrics(
        extra_metrics,
        pd.Series(predicted, name="prediction"),
        pd.Series(data.targets, name=data.target_name),
        data.features,
        metrics,
    )
    metrics.update(extra.metrics)
    prefix = config.get("metric_prefix") or ""
    if prefix:
        metrics = {f"{prefix}{name}": value for name, value in metrics.items()}
    table = None
    if with_artifacts:
        from runlab.evaluation.table import results_table

        table = results_table(
            data.features,
            data.target_name,
            data.targets,
            predicted,
            scores,
            labels,
            extra.score_columns,
        )
    return EvaluationOutcome(metrics=metrics, files=files, table=table)
