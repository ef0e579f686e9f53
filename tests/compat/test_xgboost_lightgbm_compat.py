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
import yaml

import runlab
import runlab.lightgbm
import runlab.xgboost

mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")
pd = pytest.importorskip("pandas")


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


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    return features, (features["a"] + features["b"] > 1.0).astype(int)


# --- XGBoost ---------------------------------------------------------------------------------


def _xgb_models() -> dict[str, Callable[[], Any]]:
    xgb = pytest.importorskip("xgboost")
    features, target = _data()

    def booster() -> Any:
        params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
        return xgb.train(params, xgb.DMatrix(features, label=target), num_boost_round=4)

    return {
        "booster": booster,
        "classifier": lambda: xgb.XGBClassifier(n_estimators=4, n_jobs=1).fit(features, target),
        "regressor": lambda: xgb.XGBRegressor(n_estimators=4, n_jobs=1).fit(features, target),
    }


def _xgb_predict(model: Any, features: Any) -> Any:
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(features))
    return model.predict(features)


XGB_CASES = [("booster", "ubj"), ("booster", "json"), ("classifier", "ubj"), ("regressor", "json")]


@pytest.mark.parametrize(("kind", "model_format"), XGB_CASES)
def test_runlab_xgboost_model_loads_in_mlflow(tmp_path: Path, kind: str, model_format: str) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = _data()
    model = _xgb_models()[kind]()
    runlab.xgboost.save_model(
        model, tmp_path / "m", model_format=model_format, input_example=features.head(2)
    )
    expected = _xgb_predict(model, features)
    theirs = _quiet(mlflow_xgboost.load_model, str(tmp_path / "m"))
    assert type(theirs) is type(model)
    np.testing.assert_array_equal(_xgb_predict(theirs, features), expected)
    pyfunc = _quiet(mlflow_pyfunc.load_model, str(tmp_path / "m"))
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    assert pyfunc.metadata.signature.inputs.input_names() == ["a", "b", "c"]


@pytest.mark.parametrize(("kind", "model_format"), XGB_CASES)
def test_mlflow_xgboost_model_loads_in_runlab(tmp_path: Path, kind: str, model_format: str) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = _data()
    model = _xgb_models()[kind]()
    _quiet(
        mlflow_xgboost.save_model,
        model,
        str(tmp_path / "m"),
        model_format=model_format,
        input_example=features.head(2),
        **_MLFLOW_REQUIREMENTS,
    )
    expected = _xgb_predict(model, features)
    ours = runlab.xgboost.load_model(tmp_path / "m")
    assert type(ours) is type(model)
    np.testing.assert_array_equal(_xgb_predict(ours, features), expected)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    # The signature MLflow wrote is enforced by runlab: a wrong column type is refused.
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'a'"):
        pyfunc.predict(features.assign(a="x"))


def test_an_old_mlflow_xgboost_model_without_model_class_loads_as_a_booster(
    tmp_path: Path,
) -> None:
    mlflow_xgboost = _mlflow_flavor("xgboost")
    features, _ = _data()
    booster = _xgb_models()["booster"]()
    _quiet(mlflow_xgboost.save_model, booster, str(tmp_path / "m"), **_MLFLOW_REQUIREMENTS)
    _drop_flavor_keys(tmp_path / "m", "xgboost", "model_class", "model_format")
    ours = runlab.xgboost.load_model(tmp_path / "m")
    np.testing.assert_array_equal(_xgb_predict(ours, features), _xgb_predict(booster, features))


# --- LightGBM --------------------------------------------------------------------------------


def _lgb_models() -> dict[str, Callable[[], Any]]:
    lgb = pytest.importorskip("lightgbm")
    pytest.importorskip("skops.io")
    features, target = _data()
    quiet = {"verbose": -1, "n_jobs": 1, "min_child_samples": 5}

    def booster() -> Any:
        params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
        return lgb.train(params, lgb.Dataset(features, label=target), num_boost_round=4)

    return {
        "booster": booster,
        "classifier": lambda: lgb.LGBMClassifier(n_estimators=4, **quiet).fit(features, target),
        "regressor": lambda: lgb.LGBMRegressor(n_estimators=4, **quiet).fit(features, target),
    }


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
    features, _ = _data()
    model = _lgb_models()[kind]()
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
    features, _ = _data()
    model = _lgb_models()[kind]()
    _quiet(
        mlflow_lightgbm.save_model,
        model,
        str(tmp_path / "m"),
        serialization_format=serialization_format,
        input_example=features.head(2),
        **_MLFLOW_REQUIREMENTS,
    )
    expected = model.predict(features)
    ours = runlab.lightgbm.load_model(tmp_path / "m")
    assert type(ours) is type(model)
    np.testing.assert_array_equal(ours.predict(features), expected)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'a'"):
        pyfunc.predict(features.assign(a="x"))


def test_an_mlflow_2_lightgbm_pickle_without_a_format_entry_loads(tmp_path: Path) -> None:
    # MLflow 2 wrote estimators as model.pkl and recorded no serialization_format.
    mlflow_lightgbm = _mlflow_flavor("lightgbm")
    features, _ = _data()
    model = _lgb_models()["classifier"]()
    _quiet(
        mlflow_lightgbm.save_model,
        model,
        str(tmp_path / "m"),
        serialization_format="cloudpickle",
        **_MLFLOW_REQUIREMENTS,
    )
    _drop_flavor_keys(tmp_path / "m", "lightgbm", "serialization_format", "skops_trusted_types")
    ours = runlab.lightgbm.load_model(tmp_path / "m")
    np.testing.assert_array_equal(ours.predict_proba(features), model.predict_proba(features))


def _drop_flavor_keys(path: Path, flavor: str, *keys: str) -> None:
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    for key in keys:
        mlmodel["flavors"][flavor].pop(key, None)
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
