"""Models logged by the real MLflow client (3.x) for the compat tests, with its warnings muted."""

from __future__ import annotations

import warnings
from typing import Any


def log_mlflow_multiplier(factor: float, registered_model_name: str | None = None) -> Any:
    """Log, with MLflow's client into its active run, a PythonModel that multiplies its input by
    ``factor`` (named ``model``, no requirement inference); returns MLflow's ModelInfo."""
    import mlflow.pyfunc

    # MLflow asks for type hints on predict (a UserWarning) when such a class is defined and
    # again when it is logged; the tests are about where the files go, not about hints.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        class Multiplier(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
                return model_input * factor

        return mlflow.pyfunc.log_model(
            name="model",
            python_model=Multiplier(),
            registered_model_name=registered_model_name,
            pip_requirements=[],
        )
