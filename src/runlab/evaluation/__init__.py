"""Model evaluation: :func:`evaluate` (MLflow's ``mlflow.models.evaluate``), custom metrics and
validation thresholds.

::

    import runlab

    with runlab.start_run():
        result = runlab.evaluate(
            "models:/fraud/3", frame, targets="label", model_type="classifier"
        )
    print(result.metrics["f1_score"], result.artifacts["roc_curve_plot"].uri)

Importing this package loads neither numpy, pandas, scikit-learn nor matplotlib; an evaluation
loads them when it runs.
"""

from runlab.evaluation.api import MODEL_TYPES, evaluate
from runlab.evaluation.custom_metrics import (
    EvaluationMetric,
    MetricComputationError,
    MetricValue,
    make_metric,
)
from runlab.evaluation.recording import EVAL_CONTEXT, EVALUATED_MODEL_TAG
from runlab.evaluation.result import EvaluationArtifact, EvaluationResult
from runlab.evaluation.thresholds import (
    MetricThreshold,
    ModelValidationFailedException,
    ThresholdFailure,
    validate_evaluation_results,
)

__all__ = [
    "EVALUATED_MODEL_TAG",
    "EVAL_CONTEXT",
    "MODEL_TYPES",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricComputationError",
    "MetricThreshold",
    "MetricValue",
    "ModelValidationFailedException",
    "ThresholdFailure",
    "evaluate",
    "make_metric",
    "validate_evaluation_results",
]
