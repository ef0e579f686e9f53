"""PyTorch and Keras models load both ways between runlab and the real MLflow (3.17.2).

A model runlab saves loads with ``mlflow.pytorch`` / ``mlflow.keras`` and ``mlflow.pyfunc``; one
MLflow saves loads with runlab's flavors and ``runlab.pyfunc``; predictions agree.
"""

from __future__ import annotations

import os

# Keras picks its backend when first imported and defaults to TensorFlow, which the test
# environment does not have: use torch unless the caller chose a backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab.keras
import runlab.pyfunc
import runlab.pytorch

mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")

X = np.random.default_rng(0).random((6, 3), dtype=np.float32)
# Given to MLflow's savers so they skip inferring requirements in a subprocess (slow).
_REQUIREMENTS = ["torch"]


def _torch_net() -> Any:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def _torch_forward(module: Any, array: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(array)).numpy()


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_runlab_pytorch_model_loads_in_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    mlflow_pytorch = pytest.importorskip("mlflow.pytorch")
    if fmt == "pickle":
        # MLflow 3 refuses pickles unless told to trust them; a pt2 archive passes its own check.
        monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    else:
        monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    net = _torch_net()
    runlab.pytorch.save_model(net, tmp_path / "m", serialization_format=fmt, input_example=X[:2])
    expected = _torch_forward(net, X)
    native = mlflow_pytorch.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(_torch_forward(native, X), expected, rtol=1e-6)
    predicted = mlflow_pyfunc.load_model(str(tmp_path / "m")).predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_mlflow_pytorch_model_loads_in_runlab(tmp_path: Path, fmt: str) -> None:
    mlflow_pytorch = pytest.importorskip("mlflow.pytorch")
    net = _torch_net()
    mlflow_pytorch.save_model(
        net,
        str(tmp_path / "m"),
        serialization_format=fmt,
        input_example=X[:2],
        pip_requirements=_REQUIREMENTS,
    )
    expected = _torch_forward(net, X)
    # As MLflow 3 itself, runlab loads the pickle only when told to trust it.
    trusted = fmt == "pickle"
    native = runlab.pytorch.load_model(tmp_path / "m", trusted=trusted)
    np.testing.assert_allclose(_torch_forward(native, X), expected, rtol=1e-6)
    predicted = runlab.pyfunc.load_model(tmp_path / "m", trusted=trusted).predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


# torch deprecates TorchScript: scripting and loading warn, MLflow's TorchScript models remain.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_an_mlflow_torchscript_model_loads_in_runlab_without_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    mlflow_pytorch = pytest.importorskip("mlflow.pytorch")
    monkeypatch.delenv("RUNLAB_TRUSTED_MODEL_SOURCES", raising=False)
    net = _torch_net()
    scripted = torch.jit.script(net)
    # MLflow writes a ScriptModule as a TorchScript archive in data/model.pth.
    mlflow_pytorch.save_model(
        scripted,
        str(tmp_path / "m"),
        serialization_format="pickle",
        pip_requirements=_REQUIREMENTS,
    )
    expected = _torch_forward(net, X)
    native = runlab.pytorch.load_model(tmp_path / "m")
    assert isinstance(native, torch.jit.ScriptModule)
    np.testing.assert_allclose(_torch_forward(native, X), expected, rtol=1e-6)
    predicted = runlab.pyfunc.load_model(tmp_path / "m").predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


# Keras' torch backend converts tensors with np.array(x) when saving weights, which numpy 2
# deprecates for torch's __array__; it is Keras' code, nothing either side can avoid.
_KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _keras_net() -> Any:
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )


@pytest.mark.filterwarnings(_KERAS_SAVE_WARNING)
def test_runlab_keras_model_loads_in_mlflow(tmp_path: Path) -> None:
    mlflow_keras = pytest.importorskip("mlflow.keras")
    net = _keras_net()
    runlab.keras.save_model(net, tmp_path / "m", input_example=X[:2])
    expected = net.predict(X, verbose=0)
    native = mlflow_keras.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(native.predict(X, verbose=0), expected, rtol=1e-6)
    predicted = mlflow_pyfunc.load_model(str(tmp_path / "m")).predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


@pytest.mark.filterwarnings(_KERAS_SAVE_WARNING)
def test_mlflow_keras_model_loads_in_runlab(tmp_path: Path) -> None:
    mlflow_keras = pytest.importorskip("mlflow.keras")
    net = _keras_net()
    # MLflow 3.17's Keras saver writes its input example before creating the folder.
    (tmp_path / "m").mkdir()
    mlflow_keras.save_model(
        net, str(tmp_path / "m"), input_example=X[:2], pip_requirements=["keras"]
    )
    expected = net.predict(X, verbose=0)
    native = runlab.keras.load_model(tmp_path / "m")
    np.testing.assert_allclose(native.predict(X, verbose=0), expected, rtol=1e-6)
    predicted = runlab.pyfunc.load_model(tmp_path / "m").predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)
