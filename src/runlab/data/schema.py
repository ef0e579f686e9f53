"""The schema a dataset records: MLflow's column spec or tensor spec, as JSON.

- a table (``from_pandas``): ``{"mlflow_colspec": [{"type": "long", "name": "age",
  "required": true}, ...]}``;
- arrays (``from_numpy``): ``{"mlflow_tensorspec": {"features": "<spec JSON>", "targets":
  "<spec JSON>" | null}}``, each spec a list of ``{"type": "tensor", "tensor-spec": {"dtype":
  ..., "shape": [-1, ...]}}`` (named for a dict of arrays).

The specs are inferred by :func:`runlab.models.infer_signature`, the same inference model
signatures use.
"""

from __future__ import annotations

import json
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["TensorDatasetSchema", "infer_schema"]


def infer_schema(data: Any) -> Any:
    """The :class:`runlab.models.Schema` of a DataFrame, an array or a dict of arrays, or None
    when no schema can be inferred (a column of only missing values, an object array, …)."""
    from runlab.models.signature import infer_signature

    try:
        return infer_signature(data).inputs
    except InvalidParameter:
        return None


class TensorDatasetSchema:
    """The tensor schema of array data: the features' specs and, optionally, the targets'."""

    def __init__(self, features: Any, targets: Any = None) -> None:
        self.features = features
        self.targets = targets

    def to_dict(self) -> dict[str, Any]:
        """MLflow's layout: each part is a JSON string."""
        return {
            "mlflow_tensorspec": {
                "features": self.features.to_json(),
                "targets": None if self.targets is None else self.targets.to_json(),
            }
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorDatasetSchema:
        """Read the layout :meth:`to_dict` writes."""
        from runlab.models.schema import Schema

        spec = data.get("mlflow_tensorspec") if isinstance(data, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("features"), str):
            raise InvalidParameter(
                "A tensor dataset schema needs 'mlflow_tensorspec' with a 'features' JSON string."
            )
        targets = spec.get("targets")
        return cls(
            Schema.from_json(spec["features"]),
            Schema.from_json(targets) if isinstance(targets, str) else None,
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorDatasetSchema)
            and self.features == other.features
            and self.targets == other.targets
        )

    def __repr__(self) -> str:
        return f"TensorDatasetSchema(features={self.features!r}, targets={self.targets!r})"
