"""What MLflow 3.17.2's ``mlflow.models.evaluate`` logs, recorded from runs of it on the data the
``binary_data`` / ``multiclass_data`` fixtures build (seed 0), so name drift is caught here even
where MLflow is not installed. tests/compat/test_evaluate_compat.py checks against MLflow itself.
"""

from __future__ import annotations

#: A scikit-learn classifier with predict_proba, binary labels 0/1.
BINARY_MODEL_METRICS = {
    "score": 0.9666666666666667,
    "true_negatives": 35,
    "false_positives": 0,
    "false_negatives": 2,
    "true_positives": 23,
    "example_count": 60,
    "accuracy_score": 0.9666666666666667,
    "recall_score": 0.92,
    "precision_score": 1.0,
    "f1_score": 0.9583333333333334,
    "log_loss": 0.17167692753496036,
    "roc_auc": 0.9954285714285714,
    "precision_recall_auc": 0.994114285714286,
}
BINARY_MODEL_ARTIFACTS = {
    "calibration_curve_plot",
    "confusion_matrix",
    "lift_curve_plot",
    "precision_recall_curve_plot",
    "roc_curve_plot",
}
#: A plain function (no scores): the confusion counts and label metrics only.
BINARY_FUNCTION_METRICS = {
    "true_negatives",
    "false_positives",
    "false_negatives",
    "true_positives",
    "example_count",
    "accuracy_score",
    "recall_score",
    "precision_score",
    "f1_score",
}
#: A scikit-learn classifier on three classes (weighted averages, one-vs-rest ROC AUC).
MULTICLASS_MODEL_METRICS = {
    "accuracy_score": 0.9666666666666667,
    "example_count": 60,
    "f1_score": 0.9666058763931105,
    "log_loss": 0.3075843687899705,
    "precision_score": 0.9673611111111112,
    "recall_score": 0.9666666666666667,
    "roc_auc": 0.9958470665787739,
    "score": 0.9666666666666667,
}
MULTICLASS_MODEL_ARTIFACTS = {
    "calibration_curve_plot",
    "confusion_matrix",
    "per_class_metrics",
    "precision_recall_curve_plot",
    "roc_curve_plot",
}
MULTICLASS_FUNCTION_ARTIFACTS = {"confusion_matrix", "per_class_metrics"}
PER_CLASS_COLUMNS = [
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
]
#: A scikit-learn regressor.
REGRESSOR_MODEL_METRICS = {
    "example_count",
    "max_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_on_target",
    "mean_squared_error",
    "r2_score",
    "root_mean_squared_error",
    "score",
    "sum_on_target",
}
