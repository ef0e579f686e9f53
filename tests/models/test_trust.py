"""The trust gate: formats that run code when loaded need a decision, safe formats do not.

Every unsafe model here carries a payload that creates a marker folder when it is unpickled, so
a refusal is checked to have run nothing, and a trusted load to have really unpickled the file.
The tracking environment is clean for each test (tests/models/conftest.py), so
RUNLAB_TRUSTED_MODEL_SOURCES is unset unless a test sets it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
import runlab.lightgbm
import runlab.pyfunc
import runlab.pytorch
import runlab.sklearn
import runlab.xgboost
from runlab.errors import InvalidParameter, PermissionDenied
from runlab.models.trust import (
    TRUSTED_SOURCES_ENV,
    ModelTrust,
    UntrustedModelError,
    trusted_source_prefixes,
)

X = np.random.default_rng(0).random((8, 3), dtype=np.float32)
Y = (X[:, 0] > 0.5).astype(int)


class MarkerPayload:
    """Unpickling this creates the folder ``marker``: the code a hostile model file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


class Identity(runlab.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


# -- the decision itself --------------------------------------------------------------------------
def test_without_a_decision_nothing_is_trusted() -> None:
    assert trusted_source_prefixes() == ()
    assert not ModelTrust.of("models:/churn/1", "s3://bucket/models/churn").allows()
    assert ModelTrust.of("models:/churn/1", trusted=True).allows()


@pytest.mark.parametrize(
    ("prefixes", "source", "trusted"),
    [
        ("models:/", "models:/churn/1", True),
        ("models:/", "runs:/abc/model", False),
        ("runs:/", "runs:/abc/model", True),
        ("models:/churn", "models:/churn/Production", True),
        ("models:/churn", "models:/churn@champion", True),
        ("models:/churn", "models:/churn-beta/1", False),
        ("s3://team-bucket/models/", "s3://team-bucket/models/churn/1", True),
        ("s3://team-bucket/models", "s3://team-bucket/models/churn", True),
        ("s3://team-bucket/models", "s3://team-bucket/models-old/churn", False),
        ("s3://team-bucket/models/", "s3://team-bucket/uploads/churn", False),
        ("s3://team-bucket/models/", "s3://team-bucket/models/../uploads/x", False),
        ("s3://team-bucket/models/", "s3://team-bucket/models/%2e%2e/uploads/x", False),
        # Compared as text: a URI spelt differently is not trusted.
        ("s3://team-bucket/models/", "S3://team-bucket/models/x", False),
        # Entries are trimmed, empty ones ignored; any entry may match.
        (" , models:/ ,", "models:/churn/1", True),
        ("s3://a/, runs:/", "runs:/abc/model", True),
        # A local prefix never matches a remote URI, nor the other way round.
        ("/srv/models", "s3://srv/models/x", False),
        ("s3://bucket/", "/s3:/bucket/x", False),
    ],
)
def test_uri_prefixes(
    monkeypatch: pytest.MonkeyPatch, prefixes: str, source: str, trusted: bool
) -> None:
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, prefixes)
    assert ModelTrust.of(source).allows() is trusted


def test_local_prefixes_match_whole_folders_after_resolving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "models"
    (store / "churn").mkdir(parents=True)
    (tmp_path / "models-old").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (store / "link").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, str(store))
    assert ModelTrust.of(store / "churn").allows()
    assert ModelTrust.of((store / "churn").as_uri()).allows()
    assert ModelTrust.of("models/churn").allows()  # relative to the working directory
    assert not ModelTrust.of(tmp_path / "models-old").allows()
    assert not ModelTrust.of(f"{store}/../elsewhere").allows()
    assert not ModelTrust.of(store / "link").allows()  # a symlink out of the trusted folder
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, store.as_uri())
    assert ModelTrust.of(store / "churn").allows()


def test_the_resolved_location_counts_as_much_as_the_uri_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, "s3://team-bucket/models/")
    assert ModelTrust.of("models:/churn/1", "s3://team-bucket/models/churn/v1").allows()
    assert not ModelTrust.of("models:/churn/1", "s3://team-bucket/scratch/churn").allows()


def test_the_error_is_a_permission_error_that_survives_pickling() -> None:
    with pytest.raises(UntrustedModelError) as refused:
        ModelTrust.of("models:/churn/1").require("cloudpickle", "/m/python_model.pkl")
    error = refused.value
    assert isinstance(error, PermissionDenied)
    assert error.error_code == "PERMISSION_DENIED"
    assert error.get_http_status_code() == 403
    assert (error.model_format, error.source) == ("cloudpickle", "models:/churn/1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.model_format, copy.source) == (
        error.message,
        "cloudpickle",
        "models:/churn/1",
    )


# -- unsafe formats -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnsafeCase:
    """A saved model whose code-running file was replaced by a marker payload."""

    model_format: str
    write: Callable[[Path, Path], None]  # (model folder, marker) -> None
    load: Callable[..., Any]  # the flavor's own load_model


def _python_model(folder: Path, marker: Path) -> None:
    runlab.pyfunc.save_model(folder, python_model=Identity())
    (folder / "python_model.pkl").write_bytes(pickle.dumps(MarkerPayload(marker)))


def _sklearn(fmt: str) -> Callable[[Path, Path], None]:
    def write(folder: Path, marker: Path) -> None:
        from sklearn.linear_model import LogisticRegression

        runlab.sklearn.save_model(LogisticRegression().fit(X, Y), folder, serialization_format=fmt)
        (folder / "model.pkl").write_bytes(pickle.dumps(MarkerPayload(marker)))

    return write


def _lightgbm(folder: Path, marker: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    estimator = lgb.LGBMClassifier(n_estimators=2, min_child_samples=1, verbose=-1).fit(X, Y)
    runlab.lightgbm.save_model(estimator, folder, serialization_format="cloudpickle")
    (folder / "model.pkl").write_bytes(pickle.dumps(MarkerPayload(marker)))


def _torch(folder: Path, marker: Path) -> None:
    torch = pytest.importorskip("torch")
    runlab.pytorch.save_model(torch.nn.Linear(3, 1), folder, serialization_format="pickle")
    torch.save(MarkerPayload(marker), folder / "data" / "model.pth")


UNSAFE = {
    "pyfunc-cloudpickle": UnsafeCase("cloudpickle", _python_model, runlab.pyfunc.load_model),
    "sklearn-cloudpickle": UnsafeCase(
        "cloudpickle", _sklearn("cloudpickle"), runlab.sklearn.load_model
    ),
    "sklearn-pickle": UnsafeCase("pickle", _sklearn("pickle"), runlab.sklearn.load_model),
    "lightgbm-cloudpickle": UnsafeCase("cloudpickle", _lightgbm, runlab.lightgbm.load_model),
    "pytorch-pickle": UnsafeCase("torch.save pickle", _torch, runlab.pytorch.load_model),
}


@pytest.mark.parametrize("case", UNSAFE.values(), ids=UNSAFE.keys())
def test_an_unsafe_format_is_refused_and_runs_nothing(tmp_path: Path, case: UnsafeCase) -> None:
    folder, marker = tmp_path / "model", tmp_path / "marker"
    case.write(folder, marker)
    for load in (case.load, runlab.pyfunc.load_model):
        with pytest.raises(UntrustedModelError) as refused:
            load(folder)
        message = refused.value.message
        assert f"in the {case.model_format} format" in message
        assert "runs code embedded in the file" in message
        for switch in ("trusted=True", "--trust-model", TRUSTED_SOURCES_ENV):
            assert switch in message
        assert refused.value.model_format == case.model_format
        assert not marker.exists()
    # The same file, trusted, is unpickled: the payload runs (and is then no model at all).
    with contextlib.suppress(AttributeError, InvalidParameter):
        case.load(folder, trusted=True)
    assert marker.exists()


@pytest.mark.parametrize("case", UNSAFE.values(), ids=UNSAFE.keys())
def test_a_trusted_source_prefix_trusts_an_unsafe_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: UnsafeCase
) -> None:
    folder, marker = tmp_path / "store" / "model", tmp_path / "marker"
    case.write(folder, marker)
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, f"s3://elsewhere/,{tmp_path / 'other'}")
    with pytest.raises(UntrustedModelError):
        runlab.pyfunc.load_model(folder)
    assert not marker.exists()
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, f"s3://elsewhere/,{tmp_path / 'store'}")
    with contextlib.suppress(AttributeError, InvalidParameter):
        runlab.pyfunc.load_model(folder)
    assert marker.exists()


def test_a_refused_model_puts_none_of_its_code_on_sys_path(tmp_path: Path) -> None:
    helper = tmp_path / "trust_test_helper_module.py"
    helper.write_text("VALUE = 1\n")
    runlab.pyfunc.save_model(tmp_path / "m", python_model=Identity(), code_paths=[helper])
    with pytest.raises(UntrustedModelError):
        runlab.pyfunc.load_model(tmp_path / "m")
    assert str((tmp_path / "m" / "code").resolve()) not in sys.path


# -- safe formats ---------------------------------------------------------------------------------
def _skops(folder: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    runlab.sklearn.save_model(RandomForestClassifier(n_estimators=3).fit(X, Y), folder)


def _xgboost(model_format: str, kind: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        xgb = pytest.importorskip("xgboost")
        if kind == "booster":
            model = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=Y), num_boost_round=2)
        else:
            model = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(X, Y)
        runlab.xgboost.save_model(model, folder, model_format=model_format)

    return write


def _lightgbm_booster(folder: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    booster = lgb.train(
        {"verbose": -1, "min_data_in_leaf": 1}, lgb.Dataset(X, label=Y), num_boost_round=2
    )
    runlab.lightgbm.save_model(booster, folder)


def _lightgbm_skops(folder: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    estimator = lgb.LGBMClassifier(n_estimators=2, min_child_samples=1, verbose=-1).fit(X, Y)
    runlab.lightgbm.save_model(estimator, folder)


def _pt2(folder: Path) -> None:
    torch = pytest.importorskip("torch")
    runlab.pytorch.save_model(torch.nn.Linear(3, 1), folder, input_example=X[:2])


def _torchscript(folder: Path) -> None:
    # MLflow's layout for a ScriptModule: a TorchScript archive as data/model.pth.
    torch = pytest.importorskip("torch")
    module = torch.nn.Linear(3, 1)
    runlab.pytorch.save_model(module, folder, serialization_format="pickle")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch deprecates writing these
        torch.jit.save(torch.jit.script(module), folder / "data" / "model.pth")


# torch deprecates TorchScript (loading it warns), but MLflow's TorchScript models still load.
_TORCHSCRIPT_LOAD_WARNING = "ignore:`torch.jit.load` is deprecated:DeprecationWarning"

SAFE = [
    pytest.param(_skops, runlab.sklearn.load_model, id="sklearn-skops"),
    pytest.param(_xgboost("ubj", "booster"), runlab.xgboost.load_model, id="xgboost-ubj"),
    pytest.param(_xgboost("json", "classifier"), runlab.xgboost.load_model, id="xgboost-json"),
    pytest.param(_lightgbm_booster, runlab.lightgbm.load_model, id="lightgbm-text-booster"),
    pytest.param(_lightgbm_skops, runlab.lightgbm.load_model, id="lightgbm-skops-estimator"),
    pytest.param(_pt2, runlab.pytorch.load_model, id="pytorch-pt2"),
    pytest.param(
        _torchscript,
        runlab.pytorch.load_model,
        id="pytorch-torchscript",
        marks=pytest.mark.filterwarnings(_TORCHSCRIPT_LOAD_WARNING),
    ),
]


@pytest.mark.parametrize(("write", "load"), SAFE)
def test_a_safe_format_loads_without_trust(
    tmp_path: Path, write: Callable[[Path], None], load: Callable[..., Any]
) -> None:
    write(tmp_path / "m")
    native = load(tmp_path / "m")
    assert native is not None
    predicted = runlab.pyfunc.load_model(tmp_path / "m").predict(X)
    assert len(predicted) == len(X)


def test_a_skops_model_puts_its_code_on_sys_path_only_for_types_the_caller_names(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    helper = tmp_path / "trust_test_skops_helper.py"
    helper.write_text("VALUE = 1\n")
    folder = tmp_path / "m"
    runlab.sklearn.save_model(LogisticRegression().fit(X, Y), folder, code_paths=[helper])
    code = str((folder / "code").resolve())
    assert runlab.sklearn.load_model(folder) is not None
    assert code not in sys.path
    try:
        # Naming a type to trust is vouching for the model's own code, which may define it.
        runlab.sklearn.load_model(folder, skops_trusted_types=["builtins.dict"])
        assert code in sys.path
    finally:
        if code in sys.path:
            sys.path.remove(code)


# -- sources named by model URIs --------------------------------------------------------------------
def test_registry_and_run_uris_match_their_own_prefixes(
    monkeypatch: pytest.MonkeyPatch, tracking_uri: str, tmp_path: Path
) -> None:
    with runlab.start_run() as run:
        info = runlab.pyfunc.log_model(
            "model", python_model=Identity(), registered_model_name="identity"
        )
    by_name, by_run = "models:/identity/1", f"runs:/{run.info.run_id}/model"
    assert info.model_uri == by_run
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, "models:/")
    assert runlab.pyfunc.load_model(by_name).predict([1]) == [1]
    with pytest.raises(UntrustedModelError, match="runs:/"):
        runlab.pyfunc.load_model(by_run)
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, "runs:/")
    assert runlab.pyfunc.load_model(by_run).predict([2]) == [2]
    with pytest.raises(UntrustedModelError, match="models:/identity/1"):
        runlab.pyfunc.load_model(by_name)
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, "models:/identity-beta")
    with pytest.raises(UntrustedModelError):
        runlab.pyfunc.load_model(by_name)
    # The location a URI resolves to counts too: here, the run's artifact folder.
    artifacts = runlab.MlflowClient().get_run(run.info.run_id).info.artifact_uri
    monkeypatch.setenv(TRUSTED_SOURCES_ENV, artifacts)
    assert runlab.pyfunc.load_model(by_name).predict([3]) == [3]
    assert runlab.pyfunc.load_model(by_run).predict([4]) == [4]
