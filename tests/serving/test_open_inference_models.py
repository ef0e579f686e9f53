"""Models for the Open Inference Protocol tests (importable, so that their pickles also load in
a server subprocess with the tests folder on PYTHONPATH). No tests here.

- ``Total``: a tensor signature (one unnamed float32 ``[-1, 3]`` tensor) answering each row's
  sum as the output named ``total``;
- ``Pair``: two named tensors ``a`` (float64 ``[-1, 2]``) and ``b`` (int32 ``[-1]``), answering
  a dict of two outputs;
- ``Columns``: a column of every scalar column type (and an array and an optional column),
  answering its input frame as it got it, so the tests see what the request became;
- ``Describe``: no signature; says what input it was given (and answers an array input back
  as ``echo``); behind two unnamed double columns, it shows what such a signature receives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import runlab.pyfunc
from runlab.models import ColSpec, ModelSignature, Schema, TensorSpec
from runlab.models.schema import Array
from runlab.models.trust import TRUSTED_SOURCES_ENV
from runlab.serving import ScoringSettings
from serving.scoring_support import scoring_api
from support.asgi_api import Api

COLUMN_TYPES = {
    "flag": "boolean",
    "small": "integer",
    "count": "long",
    "ratio": "float",
    "amount": "double",
    "label": "string",
    "blob": "binary",
    "when": "datetime",
}


class Total(runlab.pyfunc.PythonModel):
    """Each row's sum."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input.sum(axis=1)


class Pair(runlab.pyfunc.PythonModel):
    """Two outputs from two named tensors."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        a, b = model_input["a"], model_input["b"]
        return {"sum": a.sum(axis=1) + b, "b_twice": b * 2}


class Columns(runlab.pyfunc.PythonModel):
    """Its input frame, as it got it."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input


class Describe(runlab.pyfunc.PythonModel):
    """What it was given: the input's type, shape or columns, and the params."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(model_input, pd.DataFrame):
            shape = f"columns={list(model_input.columns)} rows={len(model_input)}"
        elif isinstance(model_input, dict):
            shape = f"keys={sorted(model_input)}"
        else:
            shape = f"shape={list(model_input.shape)} dtype={model_input.dtype}"
        described = {
            "type": np.array([type(model_input).__name__]),
            "shape": np.array([shape]),
            "params": np.array([json.dumps(params, sort_keys=True)]),
        }
        if isinstance(model_input, np.ndarray):
            described["echo"] = model_input
        return described


def save_total_model(path: Path) -> Path:
    signature = ModelSignature(
        inputs=Schema([TensorSpec("float32", (-1, 3))]),
        outputs=Schema([TensorSpec("float32", (-1,), "total")]),
    )
    runlab.pyfunc.save_model(path, python_model=Total(), signature=signature)
    return path


def save_pair_model(path: Path) -> Path:
    signature = ModelSignature(
        inputs=Schema([TensorSpec("float64", (-1, 2), "a"), TensorSpec("int32", (-1,), "b")]),
        outputs=Schema(
            [TensorSpec("float64", (-1,), "sum"), TensorSpec("int32", (-1,), "b_twice")]
        ),
    )
    runlab.pyfunc.save_model(path, python_model=Pair(), signature=signature)
    return path


def save_columns_model(path: Path) -> Path:
    specs = [ColSpec(kind, name) for name, kind in COLUMN_TYPES.items()]
    specs += [ColSpec(Array("double"), "vector"), ColSpec("double", "optional", required=False)]
    signature = ModelSignature(inputs=Schema(specs))
    runlab.pyfunc.save_model(path, python_model=Columns(), signature=signature)
    return path


def save_describe_model(path: Path, signature: ModelSignature | None = None) -> Path:
    runlab.pyfunc.save_model(path, python_model=Describe(), signature=signature)
    return path


def save_positional_model(path: Path) -> Path:
    """``Describe`` behind a signature of two unnamed double columns."""
    return save_describe_model(
        path, ModelSignature(inputs=Schema([ColSpec("double"), ColSpec("double")]))
    )


def v2_api(
    portal: Any,
    model_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    settings: ScoringSettings | None = None,
) -> Api:
    """An in-process client of the scoring app serving ``model_path`` (loaded as trusted: the
    session wrote it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TRUSTED_SOURCES_ENV, str(tmp_path_factory.getbasetemp()))
        return scoring_api(portal, model_path, settings)


def infer(api: Api, body: Any, name: str = "model", **kwargs: Any) -> httpx.Response:
    """POST ``body`` (JSON) to the model's v2 infer route."""
    return api.post(f"/v2/models/{name}/infer", json=body, **kwargs)


def tensor(name: str, datatype: str, data: Any, shape: list[int] | None = None) -> dict[str, Any]:
    """A request input; the shape defaults to the data's (flat: its length)."""
    return {
        "name": name,
        "shape": shape if shape is not None else list(np.shape(data)),
        "datatype": datatype,
        "data": data,
    }


def outputs_of(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """A successful inference response's outputs by name (after checking the status)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return {o["name"]: o for o in response.json()["outputs"]}


def v2_error(response: httpx.Response, status: int = 400) -> str:
    """The message of a protocol error response (``{"error": ...}``), after its status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    return message
