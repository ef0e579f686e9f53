"""The lightgbm flavor's own formats: Boosters as LightGBM text models, scikit-learn-API
estimators as skops (or, when asked, pickles), the skops types trusted on load, and the files it
refuses. What both boosting flavors promise is checked in test_boosting_flavors.py."""

from __future__ import annotations

import fractions
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.models.flavors.framework_import import MissingFramework
from support.boosting_models import frame_and_target, lightgbm_case, read_mlmodel, rewrite_flavor

lgb = pytest.importorskip("lightgbm")


@pytest.fixture
def case() -> Any:
    """The lightgbm models to save."""
    return lightgbm_case()


def test_booster_round_trip_as_a_text_model(tmp_path: Path, case: Any) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    runlab.lightgbm.save_model(booster, tmp_path / "m")

    conf = read_mlmodel(tmp_path / "m")["flavors"]
    assert conf["lightgbm"]["data"] == "model.lgb"
    assert conf["lightgbm"]["model_class"] == "lightgbm.basic.Booster"
    assert conf["lightgbm"]["lgb_version"] == lgb.__version__
    assert conf["python_function"]["data"] == "model.lgb"
    assert (tmp_path / "m" / "model.lgb").read_text().startswith("tree\n")

    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    assert type(loaded) is lgb.Booster
    np.testing.assert_array_equal(loaded.predict(features), booster.predict(features))


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sklearn_api_round_trip_in_skops(tmp_path: Path, case: Any, kind: str) -> None:
    features, _ = frame_and_target()
    estimator = case.make[kind]()
    runlab.lightgbm.save_model(estimator, tmp_path / "m")

    conf = read_mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
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
def test_sklearn_api_as_a_pickle_when_asked(
    tmp_path: Path, case: Any, serialization_format: str
) -> None:
    features, _ = frame_and_target()
    estimator = case.make["classifier"]()
    runlab.lightgbm.save_model(estimator, tmp_path / "m", serialization_format=serialization_format)
    conf = read_mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert conf["data"] == "model.pkl"
    assert conf["serialization_format"] == serialization_format
    # A pickle runs code when loaded: loading it is the caller's explicit decision.
    loaded = runlab.lightgbm.load_model(tmp_path / "m", trusted=True)
    np.testing.assert_array_equal(loaded.predict_proba(features), estimator.predict_proba(features))


def test_an_unknown_serialization_format_is_refused(tmp_path: Path, case: Any) -> None:
    with pytest.raises(InvalidParameter, match="serialization_format must be one of"):
        runlab.lightgbm.save_model(
            case.make["classifier"](), tmp_path / "m", serialization_format="joblib"
        )
    assert not (tmp_path / "m").exists()


def test_a_booster_is_read_as_text_whatever_the_format_entry_says(
    tmp_path: Path, case: Any
) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    runlab.lightgbm.save_model(booster, tmp_path / "m")
    rewrite_flavor(tmp_path / "m", "lightgbm", serialization_format="cloudpickle")
    loaded = runlab.lightgbm.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(features), booster.predict(features))


def test_a_skops_file_asking_for_other_types_is_refused_unless_trusted(
    tmp_path: Path, case: Any
) -> None:
    features, _ = frame_and_target()
    estimator = case.make["classifier"]()
    estimator.note_ = fractions.Fraction(1, 3)  # a type LightGBM's estimators are not made of
    runlab.lightgbm.save_model(estimator, tmp_path / "m")
    # The saver vouches for it in MLmodel (MLflow trusts that list), but runlab's loader does not
    # trust a type just because the file lists it.
    conf = read_mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert "fractions.Fraction" in conf["skops_trusted_types"]
    with pytest.raises(InvalidParameter, match=r"not trusted: fractions\.Fraction"):
        runlab.lightgbm.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameter, match=r"not trusted: fractions\.Fraction"):
        runlab.pyfunc.load_model(tmp_path / "m")
    loaded = runlab.lightgbm.load_model(tmp_path / "m", skops_trusted_types=["fractions.Fraction"])
    assert loaded.note_ == fractions.Fraction(1, 3)
    np.testing.assert_array_equal(loaded.predict(features), estimator.predict(features))


def test_a_pickle_that_is_not_a_lightgbm_model_is_refused(tmp_path: Path, case: Any) -> None:
    runlab.lightgbm.save_model(
        case.make["classifier"](), tmp_path / "m", serialization_format="pickle"
    )
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(InvalidParameter, match="holds a dict, not a LightGBM model"):
        runlab.lightgbm.load_model(tmp_path / "m", trusted=True)


def test_an_unknown_serialization_format_in_mlmodel_is_refused(tmp_path: Path, case: Any) -> None:
    runlab.lightgbm.save_model(case.make["classifier"](), tmp_path / "m")
    rewrite_flavor(tmp_path / "m", "lightgbm", serialization_format="marshal")
    with pytest.raises(InvalidParameter, match="Unknown lightgbm serialization_format 'marshal'"):
        runlab.lightgbm.load_model(tmp_path / "m")


def test_a_missing_skops_gives_an_install_hint_instead_of_a_pickle(
    tmp_path: Path, case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    estimator = case.make["classifier"]()
    # None in sys.modules makes ``import skops.io`` fail as if skops were not installed.
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingFramework, match=r"needs skops.*pip install skops"):
        runlab.lightgbm.save_model(estimator, tmp_path / "m")
    assert not (tmp_path / "m").exists()
