"""The interface every deployment target implements: MLflow's ``BaseDeploymentClient`` methods.

A target is a class deriving :class:`BaseDeploymentClient`. The method names and arguments are
MLflow's, so a plugin written for MLflow ports by changing its imports (and the entry-point group,
see :mod:`runlab.deployments.targets`). A target without endpoints leaves the endpoint methods
as they are here: they raise :class:`~runlab.errors.InvalidParameter` naming the target.
"""

from __future__ import annotations

import abc
import json
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["BaseDeploymentClient", "PredictionsResponse"]


class PredictionsResponse(dict[str, Any]):
    """What ``predict`` returns: the target's JSON answer, with ``get_predictions()``."""

    def get_predictions(self, predictions_format: str = "dataframe", dtype: Any = None) -> Any:
        """The ``predictions`` as a pandas DataFrame (default) or a numpy array (``ndarray``)."""
        if "predictions" not in self:
            raise InvalidParameter(
                f"The response has no 'predictions' key (keys: {sorted(self)}); read it as a "
                "dict instead."
            )
        predictions = self["predictions"]
        if predictions_format == "ndarray":
            import numpy as np

            return np.array(predictions, dtype=dtype)
        if predictions_format == "dataframe":
            import pandas as pd

            frame = pd.DataFrame(predictions)
            return frame.astype(dtype) if dtype is not None else frame
        raise InvalidParameter(
            f"predictions_format must be 'dataframe' or 'ndarray', got {predictions_format!r}."
        )

    def to_json(self, path: str | None = None) -> str | None:
        """The response as JSON text, or written to ``path``."""
        text = json.dumps(dict(self))
        if path is None:
            return text
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return None

    @classmethod
    def from_json(cls, text: str) -> PredictionsResponse:
        """A response parsed from JSON text (an object)."""
        value = json.loads(text)
        if not isinstance(value, dict):
            raise InvalidParameter("A predictions response must be a JSON object.")
        return cls(value)


class BaseDeploymentClient(abc.ABC):
    """A deployment target, addressed by ``target_uri`` (``sagemaker:/us-west-2``, ``kserve``)."""

    def __init__(self, target_uri: str) -> None:
        self.target_uri = target_uri

    # -- deployments ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``model_uri`` as ``name``; returns a dict with at least ``name`` and ``flavor``."""

    @abc.abstractmethod
    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Change a deployment's model and/or configuration; returns it as ``create`` does."""

    @abc.abstractmethod
    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Delete a deployment and what the target created for it; no error if it is gone."""

    @abc.abstractmethod
    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Every deployment of the target: dicts with at least ``name``."""

    @abc.abstractmethod
    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """One deployment; :class:`~runlab.errors.NotFound` if it does not exist."""

    @abc.abstractmethod
    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` (a DataFrame, an array, or a JSON-able dict) on a deployment."""

    def explain(
        self, deployment_name: str | None = None, df: Any = None, endpoint: str | None = None
    ) -> Any:
        """Explain predictions, for targets that can."""
        raise self._unsupported("explain")

    # -- endpoints (targets that have them) ----------------------------------------------------
    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create an endpoint deployments can be put behind."""
        raise self._unsupported("create_endpoint")

    def update_endpoint(self, endpoint: str, config: dict[str, Any] | None = None) -> None:
        """Change an endpoint's configuration (traffic split, …)."""
        raise self._unsupported("update_endpoint")

    def delete_endpoint(self, endpoint: str) -> None:
        """Delete an endpoint."""
        raise self._unsupported("delete_endpoint")

    def list_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint of the target."""
        raise self._unsupported("list_endpoints")

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        """One endpoint."""
        raise self._unsupported("get_endpoint")

    def _unsupported(self, method: str) -> InvalidParameter:
        return InvalidParameter(
            f"The deployment target {self.target_uri!r} does not support {method}()."
        )
