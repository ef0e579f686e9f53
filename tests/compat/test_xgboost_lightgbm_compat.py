"""XGBoost and LightGBM models cross between runlab and the real MLflow (3.17.2) both ways.

Models runlab saves load with ``mlflow.xgboost`` / ``mlflow.lightgbm`` and ``mlflow.pyfunc`` and
predict the same; models MLflow saves load with runlab's, signature included. The layouts of
older MLflow versions (no ``model_class``, an unlabelled ``model.pkl``) load too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
import runlab.lightgbm
import runlab.xgboost
from support.boosting_models import frame_and_target, lightgbm_case, rewrite_flavor, xgboost_case

mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")


def _mlflow_flavor(name: str) -> Any:
    # MLflow imports the framework itself only when a model is saved or loaded.
    return pytest.importorskip(f"mlflow.{name}")


def _quiet(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # MLflow's own notes while saving and loading (pickle advice, environment checks) are not
    # what these tests are about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


# Given requirements spare MLflow's save from inferring them in a subprocess (seconds a model).
_MLFLOW_REQUIREMENTS = {"pip_requirements": ["xgboost", "lightgbm", "scikit-learn", "skops"]}


# --- XGBoost ---------------------------------------------------------------------------------


XGB_CASES = [("booster", "ubj"), ("booster", "json"), ("classifier", "ubj"), ("regressor", "json")]


@pytest.mark.parametrize(("kind", "model_format"), XGB_CASES)
def test_runlab_xgboost_model_loads_in_mlflow(tmp_path: Path, kind: str, model_format: str) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = frame_and_target()
    case = xgboost_case()
    model = case.make[kind]()
    runlab.xgboost.save_model(
        model, tmp_path / "m", model_format=model_format, input_example=features.head(2)
    )
    expected = case.predict(model, features)
    theirs = _quiet(mlflow_xgboost.load_model, str(tmp_path / "m"))
    assert type(theirs) is type(model)
    np.testing.assert_array_equal(case.predict(theirs, features), expected)
    pyfunc = _quiet(mlflow_pyfunc.load_model, str(tmp_path / "m"))
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    assert pyfunc.metadata.signature.inputs.input_names() == ["a", "b", "c"]


@pytest.mark.parametrize(("kind", "model_format"), XGB_CASES)
def test_mlflow_xgboost_model_loads_in_runlab(tmp_path: Path, kind: str, model_format: str) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = frame_and_target()
    case = xgboost_case()
    model = case.make[kind]()
    _quiet(
        mlflow_xgboost.save_model,
        model,
        str(tmp_path / "m"),
        model_format=model_format,
        input_example=features.head(2),
        **_MLFLOW_REQUIREMENTS,
    )
    expected = case.predict(model, features)
    ours = runlab.xgboost.load_model(tmp_path / "m")
    assert type(ours) is type(model)
    np.testing.assert_array_equal(case.predict(ours, features), expected)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    # The signature MLflow wrote is enforced by runlab: a wrong column type is refused.
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'a'"):
        pyfunc.predict(features.assign(a="x"))


def test_an_old_mlflow_xgboost_model_without_model_class_loads_as_a_booster(
    tmp_path: Path,
) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = frame_and_target()
    case = xgboost_case()
    booster = case.make["booster"]()
    _quiet(mlflow_xgboost.save_model, booster, str(tmp_path / "m"), **_MLFLOW_REQUIREMENTS)
    rewrite_flavor(tmp_path / "m", "xgboost", model_class=None, model_format=None)
    ours = runlab.xgboost.load_model(tmp_path / "m")
    np.testing.assert_array_equal(case.predict(ours, features), case.predict(booster, features))


# --- LightGBM --------------------------------------------------------------------------------


LGB_CASES = [
    ("booster", None),
    ("classifier", "skops"),
    ("regressor", "skops"),
    ("classifier", "cloudpickle"),
]


@pytest.mark.parametrize(("kind", "serialization_format"), LGB_CASES)
def test_runlab_lightgbm_model_loads_in_mlflow(
    tmp_path: Path, kind: str, serialization_format: str | None
) -> None:
    mlflow_lightgbm = _mlflow_flavor("lightgbm")
    features, _ = frame_and_target()
    model = lightgbm_case().make[kind]()
    runlab.lightgbm.save_model(
        model,
        tmp_path / "m",
        serialization_format=serialization_format,
        input_example=features.head(2),
    )
    expected = model.predict(features)
    theirs = _quiet(mlflow_lightgbm.load_model, str(tmp_path / "m"))
    assert type(theirs) is type(model)
    np.testing.assert_array_equal(theirs.predict(features), expected)
    pyfunc = _quiet(mlflow_pyfunc.load_model, str(tmp_path / "m"))
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    assert pyfunc.metadata.signature.inputs.input_names() == ["a", "b", "c"]


@pytest.mark.parametrize(("kind", "serialization_format"), LGB_CASES)
def test_mlflow_lightgbm_model_loads_in_runlab(
    tmp_path: Path, kind: str, serialization_format: str | None
) -> None:
    mlflow_lightgbm = _mlflow_flavor("lightgbm")
    features, _ = frame_and_target()
    model = lightgbm_case().make[kind]()
    _quiet(
        mlflow_lightgbm.save_model,
        model,
        str(tmp_path / "m"),
        serialization_format=serialization_format,
        input_example=features.head(2),
        **_MLFLOW_REQUIREMENTS,
    )
    expected = model.predict(features)
    # A pickle runs code when loaded: only that format needs the caller's trust.
    trusted = serialization_format in ("cloudpickle", "pickle")
    ours = runlab.lightgbm.load_model(tmp_path / "m", trusted=trusted)
    assert type(ours) is type(model)
    np.testing.assert_array_equal(ours.predict(features), expected)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m", trusted=trusted)
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'a'"):
        pyfunc.predict(features.assign(a="x"))


def test_an_mlflow_2_lightgbm_pickle_without_a_format_entry_loads(tmp_path: Path) -> None:
    # MLflow 2 wrote estimators as model.pkl and recorded no serialization_format.
    mlflow_lightgbm = _mlflow_flavor("lightgbm")
    features, _ = frame_and_target()
    model = lightgbm_case().make["classifier"]()
    _quiet(
        mlflow_lightgbm.save_model,
        model,
        str(tmp_path / "m"),
        serialization_format="cloudpickle",
        **_MLFLOW_REQUIREMENTS,
    )
    rewrite_flavor(tmp_path / "m", "lightgbm", serialization_format=None, skops_trusted_types=None)
    ours = runlab.lightgbm.load_model(tmp_path / "m", trusted=True)  # a pickle
    np.testing.assert_array_equal(ours.predict_proba(features), model.predict_proba(features))
