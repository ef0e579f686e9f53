"""The lightgbm flavor: Boosters as LightGBM text models, scikit-learn-API estimators as skops
(or, when asked, pickles), loaded natively and as pyfunc, logged and registered; and the inputs
and files it refuses."""

from __future__ import annotations

import fractions
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import runlab
import runlab.lightgbm
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from runlab.models import infer_signature
from runlab.models.flavors.framework_import import MissingFramework

lgb = pytest.importorskip("lightgbm")
pd = pytest.importorskip("pandas")
pytest.importorskip("skops.io")

_QUIET = {"verbose": -1, "n_jobs": 1, "min_child_samples": 5}


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    return features, (features["a"] + features["b"] > 1.0).astype(int)


def _booster() -> Any:
    features, target = _data()
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    return lgb.train(params, lgb.Dataset(features, label=target), num_boost_round=4)


def _classifier() -> Any:
    features, target = _data()
    return lgb.LGBMClassifier(n_estimators=4, **_QUIET).fit(features, target)


def _regressor() -> Any:
    features, target = _data()
    return lgb.LGBMRegressor(n_estimators=4, **_QUIET).fit(features, target * 2.5)


def _mlmodel(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((path / "MLmodel").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _rewrite(path: Path, **entries: Any) -> None:
    mlmodel = _mlmodel(path)
    mlmodel["flavors"]["lightgbm"].update(entries)
    mlmodel["flavors"]["python_function"].update(entries)
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_booster_round_trip_as_a_text_model(tmp_path: Path) -> None:
    features, _ = _data()
    booster = _booster()
    runlab.lightgbm.save_model(booster, tmp_path / "m")

    conf = _mlmodel(tmp_path / "m")["flavors"]
    assert conf["lightgbm"]["data"] == "model.lgb"
    assert conf["lightgbm"]["model_class"] == "lightgbm.basic.Booster"
    assert conf["lightgbm"]["lgb_version"] == lgb.__version__
    assert conf["python_function"]["loader_module"] == "mlflow.lightgbm"
    assert conf["python_function"]["data"] == "model.lgb"
    assert (tmp_path / "m" / "model.lgb").read_text().startswith("tree\n")

    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    assert type(loaded) is lgb.Booster
    np.testing.assert_array_equal(loaded.predict(features), booster.predict(features))


@pytest.mark.parametrize("make", [_classifier, _regressor], ids=["classifier", "regressor"])
def test_sklearn_api_round_trip_in_skops(tmp_path: Path, make: Any) -> None:
    features, _ = _data()
    estimator = make()
    runlab.lightgbm.save_model(estimator, tmp_path / "m")

    conf = _mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert conf["data"] == "model.skops"
    assert conf["serialization_format"] == "skops"
    assert conf["model_class"] == f"lightgbm.sklearn.{type(estimator).__name__}"
    assert conf["skops_trusted_types"] == sorted(
        ["collections.OrderedDict", "lightgbm.basic.Booster", conf["model_class"]]
    )
    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))


@pytest.mark.parametrize("serialization_format", ["cloudpickle", "pickle"])
def test_sklearn_api_as_a_pickle_when_asked(tmp_path: Path, serialization_format: str) -> None:
    features, _ = _data()
    estimator = _classifier()
    runlab.lightgbm.save_model(estimator, tmp_path / "m", serialization_format=serialization_format)
    conf = _mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert conf["data"] == "model.pkl"
    assert conf["serialization_format"] == serialization_format
    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(features), estimator.predict_proba(features))


@pytest.mark.parametrize("make", [_booster, _classifier, _regressor])
def test_pyfunc_predicts_dataframes_and_arrays(tmp_path: Path, make: Any) -> None:
    features, _ = _data()
    model = make()
    runlab.lightgbm.save_model(model, tmp_path / "m", input_example=features.head(3))

    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    expected = model.predict(features)
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    np.testing.assert_array_equal(pyfunc.predict(features.to_numpy()), expected)
    assert isinstance(pyfunc.get_raw_model(), type(model))


def test_signature_is_inferred_from_the_input_example(tmp_path: Path) -> None:
    features, _ = _data()
    model = _regressor()
    runlab.lightgbm.save_model(model, tmp_path / "m", input_example=features.head(2))

    saved = runlab.models.Model.load(tmp_path / "m")
    assert saved.signature is not None and saved.signature.inputs is not None
    assert saved.signature.inputs.input_names() == ["a", "b", "c"]
    assert saved.signature == infer_signature(features.head(2), model.predict(features.head(2)))
    assert (tmp_path / "m" / "input_example.json").is_file()


def test_log_model_registers_and_loads_by_registry_uri(tracking_uri: str) -> None:
    features, _ = _data()
    model = _classifier()
    with runlab.start_run():
        info = runlab.lightgbm.log_model(
            model, name="model", registered_model_name="lgb-clf", input_example=features.head(2)
        )
    assert info.registered_model_version == 1
    assert info.flavors["lightgbm"]["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    expected = model.predict(features)
    pyfunc = runlab.pyfunc.load_model("models:/lgb-clf/1")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    loaded = runlab.lightgbm.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(features), expected)


def test_log_model_takes_the_older_artifact_path_spelling(tracking_uri: str) -> None:
    features, _ = _data()
    booster = _booster()
    with runlab.start_run() as run:
        info = runlab.lightgbm.log_model(booster, artifact_path="boosted")
    assert info.artifact_path == "boosted"
    assert info.model_uri == f"runs:/{run.info.run_id}/boosted"
    loaded = runlab.lightgbm.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(features), booster.predict(features))


@pytest.mark.parametrize("not_a_model", [object(), {"trees": []}, "model.lgb"])
def test_saving_something_else_is_refused(tmp_path: Path, not_a_model: object) -> None:
    with pytest.raises(InvalidParameter, match=r"lightgbm\.Booster or a scikit-learn-API model"):
        runlab.lightgbm.save_model(not_a_model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_an_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="not fitted"):
        runlab.lightgbm.save_model(lgb.LGBMClassifier(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_an_unknown_serialization_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="serialization_format must be one of"):
        runlab.lightgbm.save_model(_classifier(), tmp_path / "m", serialization_format="joblib")
    assert not (tmp_path / "m").exists()


def test_saving_over_an_existing_folder_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        runlab.lightgbm.save_model(_classifier(), target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("make", [_booster, _classifier])
def test_a_data_path_leaving_the_model_folder_is_refused(tmp_path: Path, make: Any) -> None:
    runlab.lightgbm.save_model(make(), tmp_path / "m")
    _rewrite(tmp_path / "m", data="../../etc/passwd")
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.lightgbm.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_a_missing_data_file_is_reported(tmp_path: Path) -> None:
    runlab.lightgbm.save_model(_booster(), tmp_path / "m")
    (tmp_path / "m" / "model.lgb").unlink()
    with pytest.raises(NotFound, match=r"'model\.lgb' is missing"):
        runlab.lightgbm.load_model(tmp_path / "m")


def test_a_booster_is_read_as_text_whatever_the_format_entry_says(tmp_path: Path) -> None:
    features, _ = _data()
    booster = _booster()
    runlab.lightgbm.save_model(booster, tmp_path / "m")
    _rewrite(tmp_path / "m", serialization_format="cloudpickle")
    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(features), booster.predict(features))


def test_a_skops_file_asking_for_other_types_is_refused_unless_trusted(tmp_path: Path) -> None:
    features, _ = _data()
    estimator = _classifier()
    estimator.note_ = fractions.Fraction(1, 3)  # a type LightGBM's estimators are not made of
    runlab.lightgbm.save_model(estimator, tmp_path / "m")
    # The saver vouches for it in MLmodel (MLflow trusts that list), but runlab's loader does not
    # trust a type just because the file lists it.
    assert (
        "fractions.Fraction"
        in _mlmodel(tmp_path / "m")["flavors"]["lightgbm"]["skops_trusted_types"]
    )
    with pytest.raises(InvalidParameter, match=r"not trusted: fractions\.Fraction"):
        runlab.lightgbm.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameter, match=r"not trusted: fractions\.Fraction"):
        runlab.pyfunc.load_model(tmp_path / "m")
    loaded = runlab.lightgbm.load_model(tmp_path / "m", skops_trusted_types=["fractions.Fraction"])
    assert loaded.note_ == fractions.Fraction(1, 3)
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))


def test_a_pickle_that_is_not_a_lightgbm_model_is_refused(tmp_path: Path) -> None:
    runlab.lightgbm.save_model(_classifier(), tmp_path / "m", serialization_format="pickle")
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(InvalidParameter, match="holds a dict, not a LightGBM model"):
        runlab.lightgbm.load_model(tmp_path / "m")


def test_an_unknown_serialization_format_in_mlmodel_is_refused(tmp_path: Path) -> None:
    runlab.lightgbm.save_model(_classifier(), tmp_path / "m")
    _rewrite(tmp_path / "m", serialization_format="marshal")
    with pytest.raises(InvalidParameter, match="Unknown lightgbm serialization_format 'marshal'"):
        runlab.lightgbm.load_model(tmp_path / "m")


def test_a_missing_lightgbm_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster = _booster()
    runlab.lightgbm.save_model(booster, tmp_path / "m")
    # None in sys.modules makes ``import lightgbm`` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[lightgbm\]'"):
        runlab.lightgbm.save_model(booster, tmp_path / "again")
    with pytest.raises(MissingFramework, match=r"pip install 'runlab\[lightgbm\]'"):
        runlab.lightgbm.load_model(tmp_path / "m")
    with pytest.raises(ImportError, match="lightgbm, which is not installed"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_a_missing_skops_gives_an_install_hint_instead_of_a_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estimator = _classifier()
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingFramework, match=r"needs skops.*pip install skops"):
        runlab.lightgbm.save_model(estimator, tmp_path / "m")
    assert not (tmp_path / "m").exists()
