"""Models and helpers for the scoring-server tests (importable, so that a model pickled here
loads in a server subprocess too, with this folder's parent on PYTHONPATH)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

import runlab.pyfunc
import runlab.sklearn
from runlab.models import ColSpec, ModelSignature, ParamSchema, ParamSpec, Schema
from runlab.serving import ScoringSettings, build_scoring_app
from support.asgi_api import Api


class Outputs(runlab.pyfunc.PythonModel):
    """Returns an output of the kind its ``kind`` parameter names."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        kind = (params or {}).get("kind", "frame")
        scale = (params or {}).get("scale", 1.0)
        x = model_input["x"].to_numpy() * scale
        if kind == "frame":
            return pd.DataFrame({"doubled": x * 2, "label": [f"row{i}" for i in range(len(x))]})
        if kind == "series":
            return pd.Series(x + 1, name="plus_one")
        if kind == "unnamed_series":
            return pd.Series(x + 1)
        if kind == "array":
            return np.column_stack([x, x * 10])
        if kind == "dict":
            return {"total": float(x.sum()), "values": x}
        if kind == "string":
            return f"{len(x)} rows"
        if kind == "list":
            return [1, "two", None]
        if kind == "scalar":
            return np.int64(7)
        if kind == "nan":
            return np.array([np.nan, 1.5])
        if kind == "dates":
            return pd.DataFrame({"when": pd.to_datetime(["2026-11-27T10:00:00"] * len(x))})
        if kind == "unencodable":
            return {"obj": object()}
        raise ValueError(f"cannot produce {kind}")


class Echo(runlab.pyfunc.PythonModel):
    """Describes the input it was given (type, columns or shape) and the params."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        info: dict[str, Any] = {"type": type(model_input).__name__}
        if isinstance(model_input, pd.DataFrame):
            info["columns"] = [str(c) for c in model_input.columns]
            info["rows"] = len(model_input)
        elif isinstance(model_input, np.ndarray):
            info["shape"] = list(model_input.shape)
            info["dtype"] = model_input.dtype.kind
        elif isinstance(model_input, dict):
            info["keys"] = sorted(model_input)
        return {"input": info, "params": params}


class Gate(runlab.pyfunc.PythonModel):
    """Holds every prediction until the test opens the gate; says when one has started.

    The events are made at load time (they cannot be pickled); reach them through
    ``loaded.unwrap_python_model()``.
    """

    def load_context(self, context: Any) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        self.entered.set()
        # A bound, so that a broken test fails instead of hanging; the tests open it long before.
        if not self.opened.wait(timeout=120):
            raise TimeoutError("the test never opened the gate")
        return list(range(len(model_input)))


class Recorder(runlab.pyfunc.PythonModel):
    """Keeps each input it is given (as column lists) and answers ``x`` (+ ``y`` when sent)."""

    def load_context(self, context: Any) -> None:
        self.inputs: list[dict[str, list[Any]]] = []

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        self.inputs.append(model_input.to_dict(orient="list"))
        total = model_input["x"]
        if "y" in model_input:
            total = total + model_input["y"].fillna(0.0)
        return total.to_numpy()


def iris_features() -> pd.DataFrame:
    """The iris features as a DataFrame (bundled with scikit-learn, nothing downloads)."""
    from sklearn.datasets import load_iris

    features, _ = load_iris(return_X_y=True, as_frame=True)
    return features


def save_iris_model(path: Path, n_estimators: int = 5) -> Path:
    """Save a RandomForest fitted on iris at ``path``, with a signature from its input example."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, target = load_iris(return_X_y=True, as_frame=True)
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=0)
    runlab.sklearn.save_model(forest.fit(features, target), path, input_example=features.iloc[:2])
    return path


def save_outputs_model(path: Path) -> Path:
    """Save :class:`Outputs` at ``path`` with a column ``x`` and the ``kind``/``scale`` params."""
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "x")]),
        params=ParamSchema(
            [ParamSpec("kind", "string", "frame"), ParamSpec("scale", "double", 1.0)]
        ),
    )
    runlab.pyfunc.save_model(path, python_model=Outputs(), signature=signature)
    return path


def save_recorder_model(path: Path) -> Path:
    """Save :class:`Recorder` at ``path``: a required double ``x``, an optional double ``y``."""
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "x"), ColSpec("double", "y", required=False)])
    )
    runlab.pyfunc.save_model(path, python_model=Recorder(), signature=signature)
    return path


def load_for_serving(model_path: Path) -> Any:
    """The model at ``model_path``, loaded as the scoring server loads it."""
    return runlab.pyfunc.load_model(model_path)


def scoring_client(model: Any, settings: ScoringSettings | None = None) -> httpx.AsyncClient:
    """An async client of the scoring app for a loaded ``model``, in-process."""
    transport = httpx.ASGITransport(app=build_scoring_app(model, settings))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


def scoring_api(portal: Any, model_path: Path, settings: ScoringSettings | None = None) -> Api:
    """A synchronous client of the scoring app for the model at ``model_path``, in-process."""
    return Api(portal, scoring_client(load_for_serving(model_path), settings))


def post_json(api: Api, body: Any) -> httpx.Response:
    """POST ``body`` as JSON to /invocations."""
    return api.post(
        "/invocations", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def error_of(response: httpx.Response, status: int, code: str = "BAD_REQUEST") -> str:
    """The message of an MLflow-shaped error response, after checking its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    message: str = body["message"]
    return message
