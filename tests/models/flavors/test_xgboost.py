"""The xgboost flavor: Boosters and the scikit-learn API saved as XGBoost model files, loaded
natively and as pyfunc, logged and registered; and the inputs it refuses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import runlab
import runlab.xgboost
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from runlab.models import ModelSignature, ParamSchema, ParamSpec, infer_signature
from runlab.models.flavors.framework_import import MissingFramework, import_framework

xgb = pytest.importorskip("xgboost")
pd = pytest.importorskip("pandas")


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    return features, (features["a"] + features["b"] > 1.0).astype(int)


def _booster() -> Any:
    features, target = _data()
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(features, label=target), num_boost_round=4)


def _classifier() -> Any:
    features, target = _data()
    return xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1).fit(features, target)


def _regressor() -> Any:
    features, target = _data()
    return xgb.XGBRegressor(n_estimators=4, max_depth=2, n_jobs=1).fit(features, target * 2.5)


def _native_predict(model: Any, features: Any) -> Any:
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(features))
    return model.predict(features)


def _mlmodel(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((path / "MLmodel").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("model_format", ["ubj", "json"])
def test_booster_round_trip_in_xgboost_format(tmp_path: Path, model_format: str) -> None:
    features, _ = _data()
    booster = _booster()
    runlab.xgboost.save_model(booster, tmp_path / "m", model_format=model_format)

    conf = _mlmodel(tmp_path / "m")["flavors"]
    assert conf["xgboost"]["data"] == f"model.{model_format}"
    assert conf["xgboost"]["model_format"] == model_format
    assert conf["xgboost"]["model_class"] == "xgboost.core.Booster"
    assert conf["xgboost"]["xgb_version"] == xgb.__version__
    assert conf["python_function"]["loader_module"] == "mlflow.xgboost"
    assert conf["python_function"]["data"] == f"model.{model_format}"
    assert not list((tmp_path / "m").glob("*.pkl"))

    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is xgb.Booster
    np.testing.assert_array_equal(
        _native_predict(loaded, features), booster.predict(xgb.DMatrix(features))
    )


@pytest.mark.parametrize("make", [_classifier, _regressor], ids=["classifier", "regressor"])
def test_sklearn_api_round_trip_keeps_the_estimator_class(tmp_path: Path, make: Any) -> None:
    features, _ = _data()
    estimator = make()
    runlab.xgboost.save_model(estimator, tmp_path / "m")

    conf = _mlmodel(tmp_path / "m")["flavors"]["xgboost"]
    assert conf["model_class"] == f"xgboost.sklearn.{type(estimator).__name__}"
    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))
    if isinstance(estimator, xgb.XGBClassifier):
        np.testing.assert_array_equal(
            loaded.predict_proba(features), estimator.predict_proba(features)
        )


def test_a_subclass_is_saved_as_its_xgboost_class(tmp_path: Path) -> None:
    features, target = _data()
    subclass = type("MyClassifier", (xgb.XGBClassifier,), {})  # a user's own estimator class
    estimator = subclass(n_estimators=2, n_jobs=1).fit(features, target)
    runlab.xgboost.save_model(estimator, tmp_path / "m")
    assert _mlmodel(tmp_path / "m")["flavors"]["xgboost"]["model_class"] == (
        "xgboost.sklearn.XGBClassifier"
    )
    loaded = runlab.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))


@pytest.mark.parametrize("make", [_booster, _classifier, _regressor])
def test_pyfunc_predicts_dataframes_and_arrays(tmp_path: Path, make: Any) -> None:
    features, _ = _data()
    model = make()
    runlab.xgboost.save_model(model, tmp_path / "m", input_example=features.head(3))

    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    expected = _native_predict(model, features)
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    np.testing.assert_array_equal(pyfunc.predict(features.to_numpy()), expected)
    assert isinstance(pyfunc.get_raw_model(), type(model))


def test_booster_without_signature_predicts_an_unnamed_array(tmp_path: Path) -> None:
    # Without a signature nothing names the array's columns, so the flavor gives it the names.
    features, _ = _data()
    booster = _booster()
    runlab.xgboost.save_model(booster, tmp_path / "m")
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    assert pyfunc.metadata.signature is None
    np.testing.assert_array_equal(
        pyfunc.predict(features.to_numpy()), booster.predict(xgb.DMatrix(features))
    )


def test_signature_is_inferred_from_the_input_example(tmp_path: Path) -> None:
    features, _ = _data()
    model = _classifier()
    runlab.xgboost.save_model(model, tmp_path / "m", input_example=features.head(2))

    saved = runlab.models.Model.load(tmp_path / "m")
    assert saved.signature is not None and saved.signature.inputs is not None
    assert saved.signature.inputs.input_names() == ["a", "b", "c"]
    expected = infer_signature(features.head(2), model.predict(features.head(2)))
    assert saved.signature == expected
    assert (tmp_path / "m" / "input_example.json").is_file()


def test_signature_params_reach_the_booster_predict(tmp_path: Path) -> None:
    features, _ = _data()
    booster = _booster()
    signature = ModelSignature(
        infer_signature(features).inputs,
        params=ParamSchema([ParamSpec("output_margin", "boolean", False)]),
    )
    runlab.xgboost.save_model(booster, tmp_path / "m", signature=signature)
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    margins = booster.predict(xgb.DMatrix(features), output_margin=True)
    np.testing.assert_allclose(pyfunc.predict(features, params={"output_margin": True}), margins)
    np.testing.assert_allclose(pyfunc.predict(features), booster.predict(xgb.DMatrix(features)))


def test_log_model_registers_and_loads_by_registry_uri(tracking_uri: str) -> None:
    features, _ = _data()
    model = _classifier()
    with runlab.start_run():
        info = runlab.xgboost.log_model(
            model, name="model", registered_model_name="xgb-clf", input_example=features.head(2)
        )
    assert info.registered_model_version == 1
    assert info.flavors["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    expected = model.predict(features)
    pyfunc = runlab.pyfunc.load_model("models:/xgb-clf/1")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    np.testing.assert_array_equal(
        runlab.xgboost.load_model(info.model_uri).predict(features), expected
    )


def test_log_model_takes_the_older_artifact_path_spelling(tracking_uri: str) -> None:
    features, _ = _data()
    booster = _booster()
    with runlab.start_run() as run:
        info = runlab.xgboost.log_model(booster, artifact_path="boosted")
    assert info.artifact_path == "boosted"
    assert info.model_uri == f"runs:/{run.info.run_id}/boosted"
    loaded = runlab.xgboost.load_model(info.model_uri)
    np.testing.assert_array_equal(
        _native_predict(loaded, features), booster.predict(xgb.DMatrix(features))
    )


@pytest.mark.parametrize("not_a_model", [object(), {"trees": []}, "model.ubj"])
def test_saving_something_else_is_refused(tmp_path: Path, not_a_model: object) -> None:
    with pytest.raises(InvalidParameter, match=r"xgboost\.Booster or a scikit-learn-API model"):
        runlab.xgboost.save_model(not_a_model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_an_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="not fitted"):
        runlab.xgboost.save_model(xgb.XGBClassifier(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_an_unknown_model_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="model_format must be one of ubj, json"):
        runlab.xgboost.save_model(_booster(), tmp_path / "m", model_format="xgb")
    assert not (tmp_path / "m").exists()


def test_saving_over_an_existing_folder_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        runlab.xgboost.save_model(_booster(), target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def _tamper(path: Path, **entries: Any) -> None:
    mlmodel = _mlmodel(path)
    mlmodel["flavors"]["xgboost"].update(entries)
    mlmodel["flavors"]["python_function"].update(entries)
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_a_data_path_leaving_the_model_folder_is_refused(tmp_path: Path) -> None:
    runlab.xgboost.save_model(_booster(), tmp_path / "m")
    _tamper(tmp_path / "m", data="../../etc/passwd")
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.xgboost.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_a_model_class_outside_xgboost_is_refused_not_imported(tmp_path: Path) -> None:
    runlab.xgboost.save_model(_booster(), tmp_path / "m")
    _tamper(tmp_path / "m", model_class="subprocess.Popen")
    with pytest.raises(InvalidParameter, match="never imports a class"):
        runlab.xgboost.load_model(tmp_path / "m")
    _tamper(tmp_path / "m", model_class="xgboost.core.DMatrix")
    with pytest.raises(InvalidParameter, match=r"'xgboost\.core\.DMatrix' is not one of"):
        runlab.xgboost.load_model(tmp_path / "m")


def test_a_missing_data_file_is_reported(tmp_path: Path) -> None:
    runlab.xgboost.save_model(_booster(), tmp_path / "m")
    (tmp_path / "m" / "model.ubj").unlink()
    with pytest.raises(NotFound, match=r"'model\.ubj' is missing"):
        runlab.xgboost.load_model(tmp_path / "m")


def test_a_missing_xgboost_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster = _booster()
    runlab.xgboost.save_model(booster, tmp_path / "m")
    # None in sys.modules makes ``import xgboost`` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[xgboost\]'"):
        runlab.xgboost.save_model(booster, tmp_path / "again")
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[xgboost\]'"):
        runlab.xgboost.load_model(tmp_path / "m")
    with pytest.raises(ImportError, match="xgboost, which is not installed"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_import_framework_names_the_extra_for_an_absent_module() -> None:
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[xgboost\]' \(or pip install"):
        import_framework("runlab_no_such_framework_xgb", "xgboost")
