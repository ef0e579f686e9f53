"""The Keras 3 flavor: save, log and load ``keras.Model`` models, natively and as pyfunc."""

from __future__ import annotations

import os

# Keras picks its backend when first imported and defaults to TensorFlow, which the test
# environment does not have: use torch unless the caller chose a backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

keras = pytest.importorskip("keras")
pd = pytest.importorskip("pandas")

import runlab  # noqa: E402
import runlab.keras  # noqa: E402
import runlab.pyfunc  # noqa: E402
from runlab.errors import AlreadyExists, InvalidParameter  # noqa: E402
from runlab.models.flavors.framework_import import MissingFramework  # noqa: E402
from runlab.models.trust import TRUSTED_SOURCES_ENV, UntrustedModelError  # noqa: E402

# Keras' torch backend converts tensors with np.array(x) when saving weights, which numpy 2
# deprecates for torch's __array__; it is Keras' code, nothing the flavor can avoid.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

X = np.random.default_rng(0).random((6, 3), dtype=np.float32)


def _net() -> Any:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )


def _predict(model: Any, array: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(array, verbose=0))


def test_round_trip(tmp_path: Path) -> None:
    net = _net()
    runlab.keras.save_model(net, tmp_path / "m")
    assert (tmp_path / "m" / "data" / "model.keras").is_file()
    loaded = runlab.keras.load_model(tmp_path / "m")
    assert isinstance(loaded, keras.Model)
    np.testing.assert_allclose(_predict(loaded, X), _predict(net, X), rtol=1e-6)
    flavor = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["keras"]
    assert flavor["data"] == "data"
    assert flavor["keras_backend"] == keras.backend.backend()
    assert flavor["save_exported_model"] is False


def test_pyfunc_predicts_frames_and_arrays(tmp_path: Path) -> None:
    net = _net()
    runlab.keras.save_model(net, tmp_path / "m")
    model = runlab.pyfunc.load_model(tmp_path / "m")
    expected = _predict(net, X)
    out = model.predict(X)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=list("uvwxyz"))
    predicted = model.predict(frame)
    assert isinstance(predicted, pd.DataFrame)
    assert list(predicted.index) == list("uvwxyz")
    np.testing.assert_allclose(predicted.to_numpy(), expected, rtol=1e-6)
    assert isinstance(model.get_raw_model(), keras.Model)


def test_signature_is_inferred_from_the_input_example(tmp_path: Path) -> None:
    model = runlab.keras.save_model(_net(), tmp_path / "m", input_example=X[:2])
    assert model.signature is not None
    assert model.signature.to_dict()["inputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
    )
    assert model.signature.to_dict()["outputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]'
    )
    assert runlab.pyfunc.load_model(tmp_path / "m").predict(X).shape == (6, 1)


def test_log_model_registers_and_loads_by_name(tracking_uri: str) -> None:
    net = _net()
    with runlab.start_run():
        info = runlab.keras.log_model(
            net, name="net", input_example=X[:2], registered_model_name="keras-net"
        )
    assert info.registered_model_version == 1
    assert "keras" in info.flavors
    model = runlab.pyfunc.load_model("models:/keras-net/1")
    np.testing.assert_allclose(model.predict(X), _predict(net, X), rtol=1e-6)
    native = runlab.keras.load_model(info.model_uri)
    np.testing.assert_allclose(_predict(native, X), _predict(net, X), rtol=1e-6)


def test_log_model_accepts_artifact_path(tracking_uri: str) -> None:
    with runlab.start_run() as run:
        info = runlab.keras.log_model(_net(), artifact_path="older/net")
    assert info.artifact_path == "older/net"
    assert info.model_uri == f"runs:/{run.info.run_id}/older/net"
    assert runlab.pyfunc.load_model(info.model_uri).predict(X).shape == (6, 1)


def test_lambda_layers_are_refused_unless_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TRUSTED_SOURCES_ENV, raising=False)
    net = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)])
    runlab.keras.save_model(net, tmp_path / "m")
    for load in (runlab.keras.load_model, runlab.pyfunc.load_model):
        with pytest.raises(UntrustedModelError, match="Keras Lambda-layer format") as refused:
            load(tmp_path / "m")
        assert refused.value.model_format == "Keras Lambda-layer"
        assert "trusted=True" in refused.value.message
        assert TRUSTED_SOURCES_ENV in refused.value.message
    # Each way of trusting the model loads its Lambda layer.
    trusted = runlab.keras.load_model(tmp_path / "m", trusted=True)
    np.testing.assert_allclose(_predict(trusted, X), X * 2, rtol=1e-6)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m", trusted=True)
    np.testing.assert_allclose(pyfunc.predict(X), X * 2, rtol=1e-6)
    unsafe = runlab.keras.load_model(tmp_path / "m", load_model_kwargs={"safe_mode": False})
    np.testing.assert_allclose(_predict(unsafe, X), X * 2, rtol=1e-6)
    # Safe mode asked for explicitly wins over trust, and the error says which option refused.
    with pytest.raises(InvalidParameter, match="safe_mode"):
        runlab.keras.load_model(tmp_path / "m", trusted=True, load_model_kwargs={"safe_mode": True})
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, str(tmp_path))
    from_source = runlab.keras.load_model(tmp_path / "m")
    np.testing.assert_allclose(_predict(from_source, X), X * 2, rtol=1e-6)


def test_unknown_load_options_are_refused(tmp_path: Path) -> None:
    runlab.keras.save_model(_net(), tmp_path / "m")
    with pytest.raises(InvalidParameter, match="load_model_kwargs"):
        runlab.keras.load_model(tmp_path / "m", load_model_kwargs={"exec": "print(1)"})


@pytest.mark.parametrize("not_a_model", [object(), "net", keras.layers.Dense(2)])
def test_saving_a_non_model_is_refused(tmp_path: Path, not_a_model: object) -> None:
    with pytest.raises(InvalidParameter, match=r"keras\.Model"):
        runlab.keras.save_model(not_a_model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_over_an_existing_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        runlab.keras.save_model(_net(), target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left behind


@pytest.mark.parametrize("loader", ["native", "pyfunc"])
def test_data_path_outside_the_folder_is_refused(tmp_path: Path, loader: str) -> None:
    runlab.keras.save_model(_net(), tmp_path / "m")
    mlmodel_path = tmp_path / "m" / "MLmodel"
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    mlmodel["flavors"]["keras"]["data"] = "../../etc/passwd"
    mlmodel_path.write_text(yaml.safe_dump(mlmodel))
    load: Callable[[Path], Any] = (
        runlab.keras.load_model if loader == "native" else runlab.pyfunc.load_model
    )
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        load(tmp_path / "m")


def test_tensorflow_exports_are_refused_clearly(tmp_path: Path) -> None:
    runlab.keras.save_model(_net(), tmp_path / "m")
    mlmodel_path = tmp_path / "m" / "MLmodel"
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    mlmodel["flavors"]["keras"]["save_exported_model"] = True
    mlmodel_path.write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="SavedModel"):
        runlab.keras.load_model(tmp_path / "m")


def test_missing_keras_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "keras", None)  # what `import keras` does when absent
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[keras\]'"):
        runlab.keras.save_model(object(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def _run_fresh(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter, where Keras has not picked a backend yet."""
    clean = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env}
    )


@pytest.mark.slow  # a fresh interpreter imports torch and Keras
def test_backend_defaults_to_torch_when_unset(tmp_path: Path) -> None:
    runlab.keras.save_model(_net(), tmp_path / "m")
    code = (
        "import os, sys, numpy as np, runlab.keras\n"
        "assert 'keras' not in sys.modules\n"  # importing the flavor imports no Keras
        f"m = runlab.keras.load_model({str(tmp_path / 'm')!r})\n"
        "print(os.environ['KERAS_BACKEND'], m.predict(np.zeros((2, 3)), verbose=0).shape)\n"
    )
    # An empty KERAS_HOME: no keras.json naming a backend.
    result = _run_fresh(code, {"KERAS_HOME": str(tmp_path / "keras-home")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torch", "(2,", "1)"]


def test_a_chosen_backend_is_not_overridden(tmp_path: Path) -> None:
    code = (
        "import os, runlab.keras\n"
        "try:\n"
        "    runlab.keras.save_model(object(), 'm')\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, os.environ['KERAS_BACKEND'], err)\n"
    )
    result = _run_fresh(code, {"KERAS_BACKEND": "jax", "KERAS_HOME": str(tmp_path)})
    error, backend, message = result.stdout.split(" ", 2)
    assert backend == "jax", result.stderr
    if error == "MissingFramework":  # jax absent: the hint names the backend, not Keras
        assert "Keras is installed but cannot start with its 'jax' backend" in message
    else:  # jax installed: Keras started on it and refused the object
        assert error == "InvalidParameter"
