"""The PyTorch flavor: save, log and load ``torch.nn.Module`` models, natively and as pyfunc."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

import runlab  # noqa: E402
import runlab.pyfunc  # noqa: E402
import runlab.pytorch  # noqa: E402
from runlab.errors import AlreadyExists, InvalidParameter  # noqa: E402
from runlab.models.flavors.framework_import import MissingFramework  # noqa: E402

X = np.random.default_rng(0).random((6, 3), dtype=np.float32)


def _net() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def _forward(module: Any, array: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(array)).numpy()


class _Branchy(torch.nn.Module):
    """Python control flow on a tensor's value: torch.export cannot trace it."""

    def forward(self, x: Any) -> Any:
        return x * 2 if bool(x.sum() > 0) else x


def test_pt2_round_trip(tmp_path: Path) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", input_example=X[:2])
    assert (tmp_path / "m" / "data" / "model.pt2").is_file()
    loaded = runlab.pytorch.load_model(tmp_path / "m")
    assert isinstance(loaded, torch.nn.Module)
    # The batch dimension is dynamic: six rows through a model traced with two.
    np.testing.assert_allclose(_forward(loaded, X), _forward(net, X), rtol=1e-6)
    mlmodel = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert mlmodel["flavors"]["pytorch"]["model_data"] == "data"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.pytorch"


def test_one_row_example_still_takes_any_batch_size(tmp_path: Path) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", input_example=X[:1])
    predicted = runlab.pyfunc.load_model(tmp_path / "m").predict(X)
    np.testing.assert_allclose(predicted, _forward(net, X), rtol=1e-6)
    assert json.loads((tmp_path / "m" / "input_example.json").read_text()) == X[:1].tolist()


def test_pickle_round_trip_gives_the_class_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    net = _net()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        runlab.pytorch.save_model(net, tmp_path / "m")  # no example to trace: a pickle
    assert "pickle" in caplog.text
    assert (tmp_path / "m" / "data" / "model.pth").is_file()
    loaded = runlab.pytorch.load_model(tmp_path / "m", trusted=True)
    assert type(loaded) is torch.nn.Sequential
    assert not loaded.training
    np.testing.assert_allclose(_forward(loaded, X), _forward(net, X), rtol=1e-6)


def test_pickle_module_named_in_the_model_is_not_imported(tmp_path: Path) -> None:
    runlab.pytorch.save_model(_net(), tmp_path / "m", serialization_format="pickle")
    (tmp_path / "m" / "data" / "pickle_module_info.txt").write_text("no_such_module_x9")
    assert runlab.pytorch.load_model(tmp_path / "m", trusted=True) is not None
    assert "no_such_module_x9" not in sys.modules


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_pyfunc_predicts_frames_and_arrays(tmp_path: Path, fmt: str) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", serialization_format=fmt, input_example=X[:2])
    # Only the pickle runs code when loaded, so only it needs the caller's trust.
    trusted = fmt == "pickle"
    model = runlab.pyfunc.load_model(tmp_path / "m", trusted=trusted)
    expected = _forward(net, X)
    out = model.predict(X)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected, rtol=1e-6)

    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=[10, 11, 12, 13, 14, 15])
    unsigned = tmp_path / "frame"
    runlab.pytorch.save_model(net, unsigned, serialization_format=fmt, input_example=frame)
    predicted = runlab.pyfunc.load_model(unsigned, trusted=trusted).predict(frame)
    assert isinstance(predicted, pd.DataFrame)
    assert list(predicted.index) == [10, 11, 12, 13, 14, 15]
    np.testing.assert_allclose(predicted.to_numpy(), expected, rtol=1e-6)
    assert isinstance(model.get_raw_model(), torch.nn.Module)


def test_pyfunc_casts_float64_to_the_models_dtype(tmp_path: Path) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", serialization_format="pickle")
    out = runlab.pyfunc.load_model(tmp_path / "m", trusted=True).predict(X.astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _forward(net, X), rtol=1e-6)


def test_pyfunc_device_comes_from_model_config(tmp_path: Path) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", input_example=X[:2])
    model = runlab.pyfunc.load_model(tmp_path / "m", model_config={"device": "cpu"})
    assert model.model_config == {"device": "cpu"}
    np.testing.assert_allclose(model.predict(X), _forward(net, X), rtol=1e-6)


def test_pyfunc_refuses_lists(tmp_path: Path) -> None:
    runlab.pytorch.save_model(_net(), tmp_path / "m", serialization_format="pickle")
    with pytest.raises(InvalidParameter, match="DataFrame or a numpy array"):
        runlab.pyfunc.load_model(tmp_path / "m", trusted=True).predict([[1.0, 2.0, 3.0]])


def test_signature_is_inferred_from_the_input_example(tmp_path: Path) -> None:
    model = runlab.pytorch.save_model(_net(), tmp_path / "m", input_example=X[:2])
    assert model.signature is not None
    assert model.signature.to_dict()["inputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
    )
    assert model.signature.to_dict()["outputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]'
    )
    assert (tmp_path / "m" / "input_example.json").is_file()


def test_torch_tensor_example(tmp_path: Path) -> None:
    net = _net()
    runlab.pytorch.save_model(net, tmp_path / "m", input_example=torch.from_numpy(X[:2]))
    assert json.loads((tmp_path / "m" / "input_example.json").read_text())[0][0] == pytest.approx(
        float(X[0, 0])
    )
    np.testing.assert_allclose(
        runlab.pyfunc.load_model(tmp_path / "m").predict(X), _forward(net, X), rtol=1e-6
    )


def test_log_model_registers_and_loads_by_name(tracking_uri: str) -> None:
    net = _net()
    with runlab.start_run():
        info = runlab.pytorch.log_model(
            net, name="net", input_example=X[:2], registered_model_name="torch-net"
        )
    assert info.registered_model_version == 1
    assert "pytorch" in info.flavors
    model = runlab.pyfunc.load_model("models:/torch-net/1")
    np.testing.assert_allclose(model.predict(X), _forward(net, X), rtol=1e-6)
    native = runlab.pytorch.load_model(info.model_uri)
    np.testing.assert_allclose(_forward(native, X), _forward(net, X), rtol=1e-6)


def test_log_model_accepts_artifact_path(tracking_uri: str) -> None:
    with runlab.start_run() as run:
        info = runlab.pytorch.log_model(_net(), artifact_path="older/net", input_example=X[:2])
    assert info.artifact_path == "older/net"
    assert info.model_uri == f"runs:/{run.info.run_id}/older/net"
    assert runlab.pyfunc.load_model(info.model_uri).predict(X).shape == (6, 1)


@pytest.mark.parametrize("not_a_model", [object(), "net", lambda x: x])
def test_saving_a_non_module_is_refused(tmp_path: Path, not_a_model: object) -> None:
    with pytest.raises(InvalidParameter, match=r"torch\.nn\.Module"):
        runlab.pytorch.save_model(not_a_model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_over_an_existing_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        runlab.pytorch.save_model(_net(), target, input_example=X[:2])
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left behind


def test_untraceable_model_is_refused_for_pt2_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="serialization_format='pickle'"):
        runlab.pytorch.save_model(_Branchy(), tmp_path / "m", input_example=X[:2])
    assert list(tmp_path.iterdir()) == []


def test_pt2_without_an_example_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="input_example"):
        runlab.pytorch.save_model(_net(), tmp_path / "m", serialization_format="pt2")


def test_unknown_serialization_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="serialization_format"):
        runlab.pytorch.save_model(_net(), tmp_path / "m", serialization_format="onnx")


@pytest.mark.parametrize("loader", ["native", "pyfunc"])
def test_model_data_outside_the_folder_is_refused(tmp_path: Path, loader: str) -> None:
    runlab.pytorch.save_model(_net(), tmp_path / "m", input_example=X[:2])
    mlmodel_path = tmp_path / "m" / "MLmodel"
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    mlmodel["flavors"]["pytorch"]["model_data"] = "../../etc/passwd"
    mlmodel_path.write_text(yaml.safe_dump(mlmodel))
    load: Callable[[Path], Any] = (
        runlab.pytorch.load_model if loader == "native" else runlab.pyfunc.load_model
    )
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        load(tmp_path / "m")


_CALLS: list[str] = []


def _ran() -> None:
    _CALLS.append("ran")


class _Payload:
    """Unpickles by calling ``_ran``: the code a crafted archive would run."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ran, ())


def _rewrite_pt2(path: Path, edit: Callable[[dict[str, bytes]], None]) -> None:
    with zipfile.ZipFile(path) as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    edit(records)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in records.items():
            archive.writestr(name, content)


def _pickled_weight(records: dict[str, bytes]) -> None:
    config_name = "model/data/weights/model_weights_config.json"
    config = json.loads(records[config_name])
    config["config"]["0.weight"]["use_pickle"] = True
    records[config_name] = json.dumps(config).encode()
    buffer = io.BytesIO()
    torch.save({"w": _Payload()}, buffer)
    records["model/data/weights/weight_0"] = buffer.getvalue()


def _opaque_constant(records: dict[str, bytes]) -> None:
    records["model/data/constants/model_constants_config.json"] = json.dumps(
        {"config": {"c": {"path_name": "opaque_obj_0", "use_pickle": True}}}
    ).encode()
    records["model/data/constants/opaque_obj_0"] = b"\x80\x04."


def _native_code(records: dict[str, bytes]) -> None:
    records["model/data/aotinductor/model/model.so"] = b"\x7fELF"


@pytest.mark.parametrize(
    "edit", [_pickled_weight, _opaque_constant, _native_code], ids=lambda f: f.__name__
)
def test_pt2_records_that_could_run_code_are_refused(
    tmp_path: Path, edit: Callable[[dict[str, bytes]], None]
) -> None:
    runlab.pytorch.save_model(_net(), tmp_path / "m", input_example=X[:2])
    _rewrite_pt2(tmp_path / "m" / "data" / "model.pt2", edit)
    with pytest.raises(InvalidParameter, match="could run code"):
        runlab.pytorch.load_model(tmp_path / "m")
    assert _CALLS == []


def test_missing_torch_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` does when absent
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[pytorch\]'"):
        runlab.pytorch.save_model(object(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_importing_the_flavor_does_not_import_torch() -> None:
    code = "import sys, runlab.pytorch; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
