"""Saved models: the ``MLmodel`` file, signatures and their enforcement at predict time.

``import runlab`` does not load this package; numpy, pandas and yaml load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runlab.models.model import Model
from runlab.models.schema import (
    Array,
    ColSpec,
    OtherType,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)
from runlab.models.schema_enforcement import (
    SchemaEnforcementError,
    enforce_params,
    enforce_schema,
)
from runlab.models.signature import ModelSignature, infer_signature

if TYPE_CHECKING:
    from runlab.evaluation import (
        EvaluationArtifact,
        EvaluationMetric,
        EvaluationResult,
        MetricThreshold,
        MetricValue,
        ModelValidationFailedException,
        evaluate,
        make_metric,
        validate_evaluation_results,
    )

# MLflow keeps evaluation under mlflow.models; here it lives in runlab.evaluation and loads on
# first use, so loading a model never imports the evaluation code.
_EVALUATION_EXPORTS = frozenset(
    {
        "EvaluationArtifact",
        "EvaluationMetric",
        "EvaluationResult",
        "MetricThreshold",
        "MetricValue",
        "ModelValidationFailedException",
        "evaluate",
        "make_metric",
        "validate_evaluation_results",
    }
)

__all__ = [
    "Array",
    "ColSpec",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "MetricValue",
    "Model",
    "ModelSignature",
    "ModelValidationFailedException",
    "OtherType",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "SchemaEnforcementError",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "evaluate",
    "infer_signature",
    "make_metric",
    "validate_evaluation_results",
]


def __getattr__(name: str) -> Any:
    if name in _EVALUATION_EXPORTS:
        value = getattr(importlib.import_module("runlab.evaluation"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
