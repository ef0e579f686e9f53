"""Saved models: the ``MLmodel`` file, signatures and their enforcement at predict time.

``import runlab`` does not load this package; importing it loads numpy on first use of a signature.
"""

from __future__ import annotations

from runlab.models.model import Model
from runlab.models.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from runlab.models.signature import ModelSignature, infer_signature

__all__ = [
    "Array",
    "ColSpec",
    "Model",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "infer_signature",
]
