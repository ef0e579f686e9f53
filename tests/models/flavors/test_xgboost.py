"""The xgboost flavor's own format: Boosters and the scikit-learn API saved as XGBoost model files
(UBJSON or JSON), the class they load as, Booster predictions with params and unnamed arrays, and
the model classes and formats it refuses. What both boosting flavors promise is checked in
test_boosting_flavors.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.models import ModelSignature, ParamSchema, ParamSpec, infer_signature
from runlab.models.flavors.framework_import import MissingFramework, import_framework
from support.boosting_models import frame_and_target, read_mlmodel, rewrite_flavor, xgboost_case

xgb = pytest.importorskip("xgboost")


@pytest.fixture
def case() -> Any:
    """The xgboost models to save."""
    return xgboost_case()


@pytest.mark.parametrize("model_format", ["ubj", "json"])
def test_booster_round_trip_in_xgboost_format(tmp_path: Path, case: Any, model_format: str) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    runlab.xgboost.save_model(booster, tmp_path / "m", model_format=model_format)

    conf = read_mlmodel(tmp_path / "m")["flavors"]
    assert conf["xgboost"]["data"] == f"model.{model_format}"
    assert conf["xgboost"]["model_format"] == model_format
    assert conf["xgboost"]["model_class"] == "xgboost.core.Booster"
    assert conf["xgboost"]["xgb_version"] == xgb.__version__
    assert conf["python_function"]["data"] == f"model.{model_format}"
    assert not list((tmp_path / "m").glob("*.pkl"))

    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is xgb.Booster
    np.testing.assert_array_equal(case.predict(loaded, features), case.predict(booster, features))


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sklearn_api_round_trip_keeps_the_estimator_class(
    tmp_path: Path, case: Any, kind: str
) -> None:
    features, _ = frame_and_target()
    estimator = case.make[kind]()
    runlab.xgboost.save_model(estimator, tmp_path / "m")

    conf = read_mlmodel(tmp_path / "m")["flavors"]["xgboost"]
    assert conf["model_class"] == f"xgboost.sklearn.{type(estimator).__name__}"
    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))
    if kind == "classifier":
        np.testing.assert_array_equal(
            loaded.predict_proba(features), estimator.predict_proba(features)
        )


def test_a_subclass_is_saved_as_its_xgboost_class(tmp_path: Path) -> None:
    features, target = frame_and_target()
    subclass = type("MyClassifier", (xgb.XGBClassifier,), {})  # a user's own estimator class
    estimator = subclass(n_estimators=2, n_jobs=1).fit(features, target)
    runlab.xgboost.save_model(estimator, tmp_path / "m")
    conf = read_mlmodel(tmp_path / "m")["flavors"]["xgboost"]
    assert conf["model_class"] == "xgboost.sklearn.XGBClassifier"
    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))


def test_booster_without_signature_predicts_an_unnamed_array(tmp_path: Path, case: Any) -> None:
    # Without a signature nothing names the array's columns, so the flavor gives it the names.
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    runlab.xgboost.save_model(booster, tmp_path / "m")
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    assert pyfunc.metadata.signature is None
    np.testing.assert_array_equal(
        pyfunc.predict(features.to_numpy()), case.predict(booster, features)
    )


def test_signature_params_reach_the_booster_predict(
    tmp_path: Path, case: Any, caplog: pytest.LogCaptureFixture
) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    params = [
        ParamSpec("output_margin", "boolean", False),
        ParamSpec("threshold", "double", 0.5),  # not a parameter of Booster.predict
        ParamSpec("data", "string", "x"),  # the name of its input argument
    ]
    signature = ModelSignature(infer_signature(features).inputs, params=ParamSchema(params))
    runlab.xgboost.save_model(booster, tmp_path / "m", signature=signature)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    margins = booster.predict(xgb.DMatrix(features), output_margin=True)
    chosen = {"output_margin": True, "threshold": 0.9, "data": "y"}
    np.testing.assert_allclose(pyfunc.predict(features, params=chosen), margins)
    np.testing.assert_allclose(pyfunc.predict(features), case.predict(booster, features))
    assert "no parameters named data, threshold; they are ignored" in caplog.text


def test_an_unknown_model_format_is_refused(tmp_path: Path, case: Any) -> None:
    with pytest.raises(InvalidParameter, match="model_format must be one of ubj, json"):
        runlab.xgboost.save_model(case.make["booster"](), tmp_path / "m", model_format="xgb")
    assert not (tmp_path / "m").exists()


def test_a_model_class_outside_xgboost_is_refused_not_imported(tmp_path: Path, case: Any) -> None:
    runlab.xgboost.save_model(case.make["booster"](), tmp_path / "m")
    rewrite_flavor(tmp_path / "m", "xgboost", model_class="subprocess.Popen")
    with pytest.raises(InvalidParameter, match="never imports a class"):
        runlab.xgboost.load_model(tmp_path / "m")
    rewrite_flavor(tmp_path / "m", "xgboost", model_class="xgboost.core.DMatrix")
    with pytest.raises(InvalidParameter, match=r"'xgboost\.core\.DMatrix' is not one of"):
        runlab.xgboost.load_model(tmp_path / "m")


def test_import_framework_names_the_extra_for_an_absent_module() -> None:
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[xgboost\]' \(or pip install"):
        import_framework("runlab_no_such_framework_xgb", "xgboost")
