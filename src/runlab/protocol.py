"""Constants and value codecs of MLflow's REST protocol shared by the server and the REST store.

Imports nothing from runlab, so both edges (``server`` and ``store.rest``) may use it.
"""

from __future__ import annotations

import math
from typing import Any

#: Prefix of MLflow's REST API (also served under ``/ajax-api/2.0/mlflow``).
API = "/api/2.0/mlflow"
#: Prefix of the artifact proxy.
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"
#: Prefix of runlab's own endpoints.
RUNLAB_API = "/api/2.0/runlab"

_SPECIAL = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
}


def encode_double(value: float) -> float | str:
    """A double as proto3 JSON writes it: NaN and the infinities become strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_double(value: Any) -> float:
    """A proto3 JSON double: a number, or "NaN"/"Infinity"/"-Infinity" (any case).

    Raises ValueError for anything else; callers turn that into their own error.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is not None:
            return special
        return float(value)
    raise ValueError(f"{value!r} is not a number")
