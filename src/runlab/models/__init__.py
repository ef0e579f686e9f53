"""Saved models: the ``MLmodel`` file, signatures and their enforcement at predict time.

``import runlab`` does not load this package; numpy, pandas and yaml load on first use.
"""

from __future__ import annotations

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

__all__ = [
    "Array",
    "ColSpec",
    "Model",
    "ModelSignature",
    "OtherType",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "SchemaEnforcementError",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "infer_signature",
]
