"""What the xgboost and lightgbm flavors both promise, checked on each: pyfunc on frames and
arrays, the signature from an input example, logging and registering, and the inputs and model
files they refuse. A flavor's cases skip only when its own framework is missing; what is
particular to one format lives in test_xgboost.py and test_lightgbm.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import runlab
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from runlab.models import infer_signature
from runlab.models.flavors.framework_import import MissingFramework
from support.boosting_models import (
    KINDS,
    BoostingCase,
    frame_and_target,
    lightgbm_case,
    read_mlmodel,
    rewrite_flavor,
    xgboost_case,
)


@pytest.fixture(params=["xgboost", "lightgbm"])
def case(request: pytest.FixtureRequest) -> BoostingCase:
    """Each boosting flavor in turn."""
    return xgboost_case() if request.param == "xgboost" else lightgbm_case()


@pytest.mark.parametrize("kind", KINDS)
def test_pyfunc_predicts_dataframes_and_arrays(
    tmp_path: Path, case: BoostingCase, kind: str
) -> None:
    features, _ = frame_and_target()
    model = case.make[kind]()
    case.module.save_model(model, tmp_path / "m", input_example=features.head(3))

    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    expected = case.predict(model, features)
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    np.testing.assert_array_equal(pyfunc.predict(features.to_numpy()), expected)
    assert type(pyfunc.get_raw_model()) is type(model)
    conf = read_mlmodel(tmp_path / "m")["flavors"]["python_function"]
    assert conf["loader_module"] == f"mlflow.{case.flavor}"


@pytest.mark.parametrize("kind", ["booster", "classifier"])
def test_signature_is_inferred_from_the_input_example(
    tmp_path: Path, case: BoostingCase, kind: str
) -> None:
    features, _ = frame_and_target()
    model = case.make[kind]()
    case.module.save_model(model, tmp_path / "m", input_example=features.head(2))

    saved = runlab.models.Model.load(tmp_path / "m")
    assert saved.signature is not None and saved.signature.inputs is not None
    assert saved.signature.inputs.input_names() == ["a", "b", "c"]
    # A 1-D prediction for a table is recorded as one unnamed column, as MLflow records it.
    predicted = pd.Series(case.predict(model, features.head(2)))
    expected = infer_signature(features.head(2), predicted)
    assert saved.signature == expected
    assert (tmp_path / "m" / "input_example.json").is_file()


def test_log_model_registers_and_loads_by_registry_uri(
    tracking_uri: str, case: BoostingCase
) -> None:
    features, _ = frame_and_target()
    model = case.make["classifier"]()
    name = f"{case.flavor}-classifier"
    with runlab.start_run():
        info = case.module.log_model(
            model, name="model", registered_model_name=name, input_example=features.head(2)
        )
    assert info.registered_model_version == 1
    assert info.flavors[case.flavor]["model_class"].endswith(type(model).__name__)
    expected = case.predict(model, features)
    pyfunc = runlab.pyfunc.load_model(f"models:/{name}/1")
    np.testing.assert_array_equal(pyfunc.predict(features), expected)
    loaded = case.module.load_model(info.model_uri)
    np.testing.assert_array_equal(case.predict(loaded, features), expected)


def test_log_model_takes_the_older_artifact_path_spelling(
    tracking_uri: str, case: BoostingCase
) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    with runlab.start_run() as run:
        info = case.module.log_model(booster, artifact_path="boosted")
    assert info.artifact_path == "boosted"
    assert info.model_uri == f"runs:/{run.info.run_id}/boosted"
    loaded = case.module.load_model(info.model_uri)
    np.testing.assert_array_equal(case.predict(loaded, features), case.predict(booster, features))


@pytest.mark.parametrize("not_a_model", [object(), {"trees": []}, "model.ubj"])
def test_saving_something_else_is_refused(
    tmp_path: Path, case: BoostingCase, not_a_model: object
) -> None:
    with pytest.raises(InvalidParameter, match=r"\.Booster or a scikit-learn-API model"):
        case.module.save_model(not_a_model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_an_unfitted_estimator_is_refused(tmp_path: Path, case: BoostingCase) -> None:
    with pytest.raises(InvalidParameter, match="not fitted; call fit"):
        case.module.save_model(case.unfitted(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kind", ["booster", "classifier"])
def test_saving_over_an_existing_folder_is_refused_and_writes_nothing(
    tmp_path: Path, case: BoostingCase, kind: str
) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        case.module.save_model(case.make[kind](), target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("kind", ["booster", "classifier"])
@pytest.mark.parametrize("data", ["../../etc/passwd", "/etc/passwd"])
def test_a_data_path_leaving_the_model_folder_is_refused(
    tmp_path: Path, case: BoostingCase, kind: str, data: str
) -> None:
    case.module.save_model(case.make[kind](), tmp_path / "m")
    rewrite_flavor(tmp_path / "m", case.flavor, data=data)
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        case.module.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_a_missing_data_file_is_reported(tmp_path: Path, case: BoostingCase) -> None:
    case.module.save_model(case.make["booster"](), tmp_path / "m")
    (tmp_path / "m" / case.booster_file).unlink()
    with pytest.raises(NotFound, match=f"'{case.booster_file}' is missing"):
        case.module.load_model(tmp_path / "m")


def test_a_model_with_only_a_pyfunc_entry_loads_from_its_data(
    tmp_path: Path, case: BoostingCase
) -> None:
    features, _ = frame_and_target()
    booster = case.make["booster"]()
    case.module.save_model(booster, tmp_path / "m")
    mlmodel = read_mlmodel(tmp_path / "m")
    del mlmodel["flavors"][case.flavor]
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(pyfunc.predict(features), case.predict(booster, features))


def test_a_missing_framework_gives_an_install_hint(
    tmp_path: Path, case: BoostingCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster = case.make["booster"]()
    case.module.save_model(booster, tmp_path / "m")
    # None in sys.modules makes the framework's import fail as if it were not installed.
    monkeypatch.setitem(sys.modules, case.flavor, None)
    hint = rf"{case.flavor}, which is not installed: pip install 'runlab\[{case.flavor}\]'"
    with pytest.raises(MissingFramework, match=hint):
        case.module.save_model(booster, tmp_path / "again")
    with pytest.raises(MissingFramework, match=hint):
        case.module.load_model(tmp_path / "m")
    with pytest.raises(ImportError, match=hint):
        runlab.pyfunc.load_model(tmp_path / "m")
    assert not (tmp_path / "again").exists()
