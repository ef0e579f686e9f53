"""The scikit-learn flavor: skops by default, pickles on request, the seed-style call, safety."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import runlab
from runlab.errors import AlreadyExists, InvalidParameter

sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
linear_model = pytest.importorskip("sklearn.linear_model")
pd = pytest.importorskip("pandas")


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(1)
    features = rng.random((40, 4))
    return features, (features[:, 0] > 0.5).astype(int)


def _forest() -> Any:
    features, target = _data()
    return sklearn_ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(
        features, target
    )


def _mlmodel(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())
    return data


def test_skops_is_the_default_and_trees_load_back(tmp_path: Path) -> None:
    features, _ = _data()
    forest = _forest()
    runlab.sklearn.save_model(forest, tmp_path / "m", input_example=features[:2])
    flavors = _mlmodel(tmp_path / "m")["flavors"]
    assert flavors["sklearn"]["serialization_format"] == "skops"
    assert flavors["sklearn"]["pickled_model"] == "model.skops"
    assert "sklearn.tree._tree.Tree" in flavors["sklearn"]["skops_trusted_types"]
    assert flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert flavors["python_function"]["predict_fn"] == "predict"
    requirements = (tmp_path / "m" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    assert "skops==" in requirements
    loaded = runlab.sklearn.load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict(features), forest.predict(features))
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    assert np.array_equal(pyfunc.predict(features), forest.predict(features))
    assert pyfunc.get_raw_model().n_estimators == 5


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle"])
def test_pickle_formats_round_trip(tmp_path: Path, fmt: str) -> None:
    features, target = _data()
    model = linear_model.LogisticRegression().fit(features, target)
    runlab.sklearn.save_model(model, tmp_path / "m", serialization_format=fmt)
    assert _mlmodel(tmp_path / "m")["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    # A pickle runs code when loaded: loading it is the caller's explicit decision.
    loaded = runlab.sklearn.load_model(f"file://{tmp_path / 'm'}", trusted=True)
    assert np.array_equal(loaded.predict(features), model.predict(features))


def test_predict_proba_as_the_pyfunc_method(tmp_path: Path) -> None:
    features, _ = _data()
    forest = _forest()
    runlab.sklearn.save_model(forest, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    proba = runlab.pyfunc.load_model(tmp_path / "m").predict(features[:3])
    assert np.allclose(proba, forest.predict_proba(features[:3]))


def test_a_dataframe_signature_is_enforced(tmp_path: Path) -> None:
    features, target = _data()
    frame = pd.DataFrame(features, columns=["a", "b", "c", "d"])
    model = linear_model.LogisticRegression().fit(frame, target)
    runlab.sklearn.save_model(model, tmp_path / "m", input_example=frame.head(3))
    pyfunc = runlab.pyfunc.load_model(tmp_path / "m")
    assert pyfunc.metadata.signature is not None
    assert pyfunc.metadata.signature.outputs is not None  # inferred from predict on the example
    assert len(pyfunc.predict(frame.to_dict(orient="list"))) == 40
    with pytest.raises(runlab.models.SchemaEnforcementError, match="'c'"):
        pyfunc.predict(frame.drop(columns=["c"]))


def test_seed_style_log_model_registers_out_of_the_box(tmp_path: Path, tracking_uri: str) -> None:
    features, target = _data()
    info = runlab.sklearn.log_model(
        sklearn_ensemble.RandomForestClassifier(n_estimators=5).fit(features, target),
        "model",
        registered_model_name="my-classifier",
    )
    assert info.registered_model_version == 1
    assert info.model_uri == f"runs:/{info.run_id}/model"
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    version = runlab.MlflowClient().get_model_version("my-classifier", "1")
    assert version.run_id == info.run_id
    assert version.source.endswith("/model")
    for uri in ("models:/my-classifier/1", "models:/my-classifier/latest", info.model_uri):
        assert runlab.pyfunc.load_model(uri).predict(features[:4]).shape == (4,)
    client = runlab.MlflowClient()
    client.set_registered_model_alias("my-classifier", "champion", "1")
    assert runlab.sklearn.load_model("models:/my-classifier@champion").n_estimators == 5
    client.transition_model_version_stage("my-classifier", "1", "Production")
    assert runlab.sklearn.load_model("models:/my-classifier/Production").n_estimators == 5


def test_log_model_with_artifact_path_spelling_and_a_second_version(tracking_uri: str) -> None:
    features, target = _data()
    model = linear_model.LogisticRegression().fit(features, target)
    with runlab.start_run() as run:
        first = runlab.sklearn.log_model(model, artifact_path="clf", registered_model_name="lr")
        second = runlab.sklearn.log_model(model, name="clf2", registered_model_name="lr")
    assert first.run_id == second.run_id == run.info.run_id
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    names = {f.path for f in runlab.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"clf", "clf2"} <= names


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"serialization_format": "joblib"}, "serialization_format"),
        ({"pyfunc_predict_fn": "fit"}, "pyfunc_predict_fn"),
        ({"pyfunc_predict_fn": "predict_log_proba", "sk_model": "not a model"}, "no predict"),
    ],
)
def test_bad_save_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    model = kwargs.pop("sk_model", None) or _forest()
    with pytest.raises(InvalidParameter, match=match):
        runlab.sklearn.save_model(model, tmp_path / "m", **kwargs)
    assert not (tmp_path / "m").exists()


def test_bad_log_arguments_leave_no_artifacts(tracking_uri: str) -> None:
    with runlab.start_run() as run:
        for name in ("../escape", "/abs", ""):
            with pytest.raises(InvalidParameter):
                runlab.sklearn.log_model(_forest(), name)
        with pytest.raises(InvalidParameter, match="registered_model_name"):
            runlab.sklearn.log_model(_forest(), "m", registered_model_name="  ")
    assert runlab.MlflowClient().list_artifacts(run.info.run_id) == []


def test_existing_model_folder_is_not_overwritten(tmp_path: Path) -> None:
    runlab.sklearn.save_model(_forest(), tmp_path / "m")
    before = sorted(p.name for p in (tmp_path / "m").iterdir())
    with pytest.raises(AlreadyExists):
        runlab.sklearn.save_model(_forest(), tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == before


def test_a_tampered_model_file_path_is_refused(tmp_path: Path) -> None:
    runlab.sklearn.save_model(_forest(), tmp_path / "m")
    mlmodel = _mlmodel(tmp_path / "m")
    mlmodel["flavors"]["sklearn"]["pickled_model"] = "../../etc/passwd"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="leaves the model folder"):
        runlab.sklearn.load_model(tmp_path / "m")


def test_a_tampered_predict_fn_is_refused(tmp_path: Path) -> None:
    runlab.sklearn.save_model(_forest(), tmp_path / "m")
    mlmodel = _mlmodel(tmp_path / "m")
    mlmodel["flavors"]["python_function"]["predict_fn"] = "__reduce__"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="predict_fn"):
        runlab.pyfunc.load_model(tmp_path / "m")


def test_skops_types_outside_sklearn_need_explicit_trust(tmp_path: Path) -> None:
    """A type vouched for only by the file itself is not trusted unless it is scikit-learn's."""
    features, target = _data()
    model = linear_model.LogisticRegression().fit(features, target)
    runlab.sklearn.save_model(model, tmp_path / "m")
    skops_io = pytest.importorskip("skops.io")
    # Replace the payload with one holding a type skops does not trust by default.
    skops_io.dump({"model": model, "extra": Path}, tmp_path / "m" / "model.skops")
    untrusted = skops_io.get_untrusted_types(file=tmp_path / "m" / "model.skops")
    assert untrusted
    mlmodel = _mlmodel(tmp_path / "m")
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = untrusted
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameter, match="not trusted"):
        runlab.sklearn.load_model(tmp_path / "m")
    loaded = runlab.sklearn.load_model(tmp_path / "m", skops_trusted_types=untrusted)
    assert loaded["extra"] is Path
