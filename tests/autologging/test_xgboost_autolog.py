"""XGBoost autologging, trained for real (tiny models) and read back through the store.

``xgboost.train`` and the scikit-learn API: params, per-round metrics with their steps, early
stopping's metrics, feature importance JSON and PNG, the model loaded through pyfunc, datasets;
and the failure paths: the user's error, runlab's own failures, disable/re-enable, enabling
twice, ``exclusive`` and the user's own run.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import xgboost.sklearn
import xgboost.training

import runlab
import runlab.xgboost
from runlab.autologging.options import STRICT_ENV
from runlab.tracking import deferred
from support.tracking_state import tracking_uri

__all__ = ["tracking_uri"]

PARAMS = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}


def _data(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((rows, 3)), columns=["a", "b", "c"])
    return features, ((features["a"] + features["b"]) > 1.0).astype(int)


def _matrices() -> tuple[Any, Any]:
    """A training DMatrix, and a validation one whose labels are flipped (it gets worse)."""
    features, target = _data()
    return xgb.DMatrix(features, label=target), xgb.DMatrix(features[:20], label=1 - target[:20])


def _last_run() -> Any:
    run = runlab.last_active_run()
    assert run is not None
    return run


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    points = runlab.MlflowClient().get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in points)


def _artifacts(run_id: str, path: str | None = None) -> list[str]:
    return sorted(f.path for f in runlab.MlflowClient().list_artifacts(run_id, path))


def _runs_of(run: Any) -> list[Any]:
    return runlab.MlflowClient().search_runs([run.info.experiment_id])


def test_train_logs_params_metrics_importance_model_and_datasets(tracking: str) -> None:
    runlab.xgboost.autolog()
    dtrain, dvalid = _matrices()
    evals_result: dict[str, Any] = {}
    booster = xgb.train(
        PARAMS,
        dtrain,
        num_boost_round=4,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=evals_result,
        verbose_eval=False,
    )
    run = _last_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.params == {
        "objective": "binary:logistic",
        "max_depth": "2",
        "nthread": "1",
        "num_boost_round": "4",
        "early_stopping_rounds": "None",
        "maximize": "None",
        "verbose_eval": "False",
    }
    for data in ("train", "valid"):
        expected = [(i, pytest.approx(v)) for i, v in enumerate(evals_result[data]["logloss"])]
        assert _history(run_id, f"{data}-logloss") == expected
    assert "stopped_iteration" not in run.data.metrics
    assert _artifacts(run_id) == [
        "feature_importance_weight.json",
        "feature_importance_weight.png",
        "model",
    ]
    importance = runlab.artifacts.load_dict(f"runs:/{run_id}/feature_importance_weight.json")
    assert importance == booster.get_score(importance_type="weight")
    png = runlab.MlflowClient().download_artifacts(run_id, "feature_importance_weight.png")
    with open(png, "rb") as image:
        assert image.read(4) == b"\x89PNG"
    model = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    features, _ = _data()
    np.testing.assert_allclose(model.predict(features), booster.predict(dtrain))
    schema = model.metadata.get_input_schema()
    assert schema is not None and schema.input_names() == ["a", "b", "c"]
    assert model.metadata.saved_input_example_info is None  # log_input_examples is off
    inputs = {(d.tags[0].value, d.dataset.name): d.dataset for d in run.inputs.dataset_inputs}
    assert set(inputs) == {("train", "dataset"), ("eval", "valid")}
    assert '"num_rows": 60' in inputs[("train", "dataset")].profile


def test_early_stopping_logs_stopped_and_best_iteration_and_the_best_round(
    tracking_uri: str,
) -> None:
    runlab.xgboost.autolog()
    dtrain, dvalid = _matrices()
    evals = [(dtrain, "train"), (dvalid, "valid")]
    booster = xgb.train(
        PARAMS, dtrain, 10, evals=evals, early_stopping_rounds=2, verbose_eval=False
    )
    assert booster.best_iteration == 0  # the flipped labels only get worse
    run = _last_run()
    assert run.data.params["early_stopping_rounds"] == "2"
    assert run.data.metrics["stopped_iteration"] == 2
    assert run.data.metrics["best_iteration"] == 0
    valid = _history(run.info.run_id, "valid-logloss")
    assert [step for step, _ in valid] == [0, 1, 2, 3]  # rounds 0-2, then the best again
    assert valid[3][1] == valid[0][1]
    train = _history(run.info.run_id, "train-logloss")
    assert train[3] == (3, train[0][1])


def test_early_stopping_callback_counts_too(tracking_uri: str) -> None:
    runlab.xgboost.autolog()
    dtrain, dvalid = _matrices()
    stop = xgb.callback.EarlyStopping(rounds=2, data_name="valid")
    xgb.train(PARAMS, dtrain, 10, evals=[(dvalid, "valid")], callbacks=[stop], verbose_eval=False)
    run = _last_run()
    assert run.data.metrics["stopped_iteration"] == 2
    assert run.data.metrics["best_iteration"] == 0


def test_sklearn_api_logs_once_into_one_run_with_the_estimator_as_model(tracking: str) -> None:
    runlab.xgboost.autolog()
    features, target = _data()
    valid_features, valid_target = features[:20], 1 - target[:20]
    estimator = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1)
    estimator.fit(
        features,
        target,
        eval_set=[(features, target), (valid_features, valid_target)],
        verbose=False,
    )
    run = _last_run()
    run_id = run.info.run_id
    assert [r.info.run_id for r in _runs_of(run)] == [run_id]
    assert run.data.params["num_boost_round"] == "3"
    assert run.data.params["max_depth"] == "2"
    results = estimator.evals_result()
    for name in ("validation_0", "validation_1"):
        expected = [(i, pytest.approx(v)) for i, v in enumerate(results[name]["logloss"])]
        assert _history(run_id, f"{name}-logloss") == expected  # each round once
    assert "feature_importance_weight.json" in _artifacts(run_id)
    loaded = runlab.xgboost.load_model(f"runs:/{run_id}/model")
    assert type(loaded) is xgb.XGBClassifier
    model = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(model.predict(features), estimator.predict(features))
    assert model.metadata.get_input_schema().input_names() == ["a", "b", "c"]
    contexts = sorted((d.tags[0].value, d.dataset.name) for d in run.inputs.dataset_inputs)
    assert contexts == [("eval", "validation_1"), ("train", "dataset")]


def test_sklearn_api_early_stopping(tracking_uri: str) -> None:
    runlab.xgboost.autolog()
    features, target = _data()
    estimator = xgb.XGBRegressor(n_estimators=10, max_depth=2, n_jobs=1, early_stopping_rounds=2)
    estimator.fit(features, target, eval_set=[(features[:20], 1 - target[:20])], verbose=False)
    run = _last_run()
    assert run.data.metrics["best_iteration"] == estimator.best_iteration
    assert (
        run.data.metrics["stopped_iteration"]
        == len(estimator.evals_result()["validation_0"]["rmse"]) - 1
    )


def test_options_importance_types_model_format_example_and_registration(
    tracking_uri: str,
) -> None:
    runlab.xgboost.autolog(
        importance_types=["gain", "cover"],
        model_format="json",
        log_input_examples=True,
        registered_model_name="boosted",
        extra_tags={"team": "trees"},
    )
    dtrain, _ = _matrices()
    xgb.train(PARAMS, dtrain, 2)
    run = _last_run()
    run_id = run.info.run_id
    assert run.data.tags["team"] == "trees"
    names = _artifacts(run_id)
    assert "feature_importance_gain.json" in names
    assert "feature_importance_cover.png" in names
    assert "feature_importance_weight.json" not in names
    assert "model/model.json" in _artifacts(run_id, "model")
    model = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    assert model.metadata.saved_input_example_info is not None
    versions = runlab.MlflowClient().search_model_versions("name='boosted'")
    assert [v.run_id for v in versions] == [run_id]


def test_log_models_and_datasets_off(tracking_uri: str) -> None:
    runlab.xgboost.autolog(log_models=False, log_datasets=False)
    dtrain, _ = _matrices()
    xgb.train(PARAMS, dtrain, 2, evals=[(dtrain, "train")], verbose_eval=False)
    run = _last_run()
    assert _artifacts(run.info.run_id) == [
        "feature_importance_weight.json",
        "feature_importance_weight.png",
    ]
    assert run.inputs.dataset_inputs == []
    assert len(_history(run.info.run_id, "train-logloss")) == 2


def test_model_is_the_booster_as_trained_not_as_changed_afterwards(tracking_uri: str) -> None:
    runlab.xgboost.autolog()
    dtrain, _ = _matrices()
    gate = threading.Event()
    deferred.submit(lambda: gate.wait(30))  # hold the background work until the booster changed
    try:
        booster = xgb.train(PARAMS, dtrain, 2)
        for i in range(2, 5):
            booster.update(dtrain, i)  # the user trains the returned booster further
    finally:
        gate.set()
    run = _last_run()
    loaded = runlab.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.num_boosted_rounds(), booster.num_boosted_rounds()) == (2, 5)


def test_params_as_pairs_metric_names_the_store_refuses_and_unnamed_data(
    tracking_uri: str,
) -> None:
    runlab.xgboost.autolog()
    features, target = _data()
    dtrain = xgb.DMatrix(features.to_numpy(), label=target.to_numpy())  # no feature names
    params = [("objective", "binary:logistic"), ("eval_metric", "logloss")]
    params.append(("eval_metric", "error@0.7"))  # "@" cannot be in a metric key
    xgb.train(params, dtrain, 2, evals=[(dtrain, "train")], verbose_eval=False)
    run = _last_run()
    assert run.data.params["eval_metric"] == "['logloss', 'error@0.7']"
    assert set(run.data.metrics) == {"train-logloss", "train-error_0.7"}
    assert [s for s, _ in _history(run.info.run_id, "train-error_0.7")] == [0, 1]
    (train_input,) = run.inputs.dataset_inputs
    assert train_input.tags[0].value == "train"
    assert '"features_shape": [60, 3]' in train_input.dataset.profile
    model = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.predict(features.to_numpy()).shape == (60,)


def test_a_call_with_wrong_arguments_gets_xgboosts_error_and_no_run(tracking_uri: str) -> None:
    runlab.xgboost.autolog()
    with pytest.raises(TypeError):
        xgb.train(PARAMS, no_such_argument=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        xgb.XGBClassifier().fit()  # type: ignore[call-arg]
    assert runlab.last_active_run() is None


def test_model_format_must_be_known() -> None:
    with pytest.raises(runlab.exceptions.MlflowException, match="model_format"):
        runlab.xgboost.autolog(model_format="pickle")


# -- failure paths -------------------------------------------------------------------------------
class _Boom(xgb.callback.TrainingCallback):
    """The user's callback: raises its error at round ``at``."""

    def __init__(self, error: Exception, at: int) -> None:
        super().__init__()
        self.error, self.at = error, at

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if epoch == self.at:
            raise self.error
        return False


def test_the_users_error_propagates_and_the_run_fails(tracking: str) -> None:
    runlab.xgboost.autolog()
    dtrain, _ = _matrices()
    error = RuntimeError("user's callback failed")
    with pytest.raises(RuntimeError) as raised:
        xgb.train(
            PARAMS,
            dtrain,
            5,
            evals=[(dtrain, "train")],
            callbacks=[_Boom(error, 2)],
            verbose_eval=False,
        )
    assert raised.value is error
    run = _last_run()
    assert run.info.status == "FAILED"
    assert [s for s, _ in _history(run.info.run_id, "train-logloss")] == [0, 1, 2]


class _DeleteRun(xgb.callback.TrainingCallback):
    """The user's callback: deletes the run being logged to, in the middle of training.

    It then waits a little at a later round, so that the background writer has tried (and
    failed) to write that round's metrics before the next round logs more.
    """

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if epoch == 1:
            active = runlab.active_run()
            assert active is not None
            runlab.MlflowClient().delete_run(active.info.run_id)
        if epoch == 3:
            time.sleep(0.5)
        return False


def test_run_deleted_mid_training_is_warned_about_and_training_finishes(
    tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    dtrain, _ = _matrices()
    bare = xgb.train(PARAMS, dtrain, 6).predict(dtrain)
    runlab.xgboost.autolog()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        booster = xgb.train(
            PARAMS,
            dtrain,
            6,
            evals=[(dtrain, "train")],
            callbacks=[_DeleteRun()],
            verbose_eval=False,
        )
        runlab.flush()
    assert booster.num_boosted_rounds() == 6
    np.testing.assert_array_equal(booster.predict(dtrain), bare)
    assert "xgboost autologging failed" in caplog.text


def test_a_bad_importance_type_is_warned_about_and_the_rest_is_logged(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    runlab.xgboost.autolog(importance_types=["weight", "no_such_type"])
    dtrain, _ = _matrices()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        booster = xgb.train(PARAMS, dtrain, 3)
        run = _last_run()
    assert booster.num_boosted_rounds() == 3
    assert run.info.status == "FINISHED"
    names = _artifacts(run.info.run_id)
    assert "feature_importance_weight.json" in names and "model" in names
    assert "feature_importance_no_such_type.json" not in names
    assert "xgboost autologging failed" in caplog.text


def test_disable_restores_the_originals_and_enabling_again_patches(tracking_uri: str) -> None:
    originals = {
        "xgboost.train": xgb.train,
        "training.train": xgboost.training.train,
        "sklearn.train": xgboost.sklearn.train,
        "XGBModel.fit": xgb.XGBModel.__dict__["fit"],
        "XGBClassifier.fit": xgb.XGBClassifier.__dict__["fit"],
    }
    runlab.xgboost.autolog()
    assert xgb.train is not originals["xgboost.train"]
    assert xgb.XGBClassifier.__dict__["fit"] is not originals["XGBClassifier.fit"]
    assert "fit" not in xgb.XGBRegressor.__dict__  # it inherits the patched XGBModel.fit
    runlab.xgboost.autolog(disable=True)
    assert xgb.train is originals["xgboost.train"]
    assert xgboost.training.train is originals["training.train"]
    assert xgboost.sklearn.train is originals["sklearn.train"]
    assert xgb.XGBModel.__dict__["fit"] is originals["XGBModel.fit"]
    assert xgb.XGBClassifier.__dict__["fit"] is originals["XGBClassifier.fit"]
    dtrain, _ = _matrices()
    xgb.train(PARAMS, dtrain, 2)
    assert runlab.last_active_run() is None  # nothing logged while disabled
    runlab.xgboost.autolog()
    xgb.train(PARAMS, dtrain, 2)
    assert _last_run().data.params["num_boost_round"] == "2"


def test_enabling_twice_logs_once(tracking_uri: str) -> None:
    runlab.xgboost.autolog()
    runlab.xgboost.autolog()
    # runlab.autolog() enables it once more (the other frameworks are not this test's concern).
    runlab.autolog(exclude_flavors=["sklearn", "lightgbm", "pytorch", "keras", "transformers"])
    dtrain, _ = _matrices()
    xgb.train(PARAMS, dtrain, 3, evals=[(dtrain, "train")], verbose_eval=False)
    run = _last_run()
    assert len(_runs_of(run)) == 1
    assert [s for s, _ in _history(run.info.run_id, "train-logloss")] == [0, 1, 2]


def test_exclusive_logs_nothing_into_the_users_run(tracking: str) -> None:
    runlab.xgboost.autolog(exclusive=True)
    dtrain, _ = _matrices()
    with runlab.start_run() as user_run:
        xgb.XGBClassifier(n_estimators=2, n_jobs=1).fit(*_data())
        xgb.train(PARAMS, dtrain, 2)
    run = runlab.get_run(user_run.info.run_id)
    assert run.data.params == {}
    assert run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert _artifacts(user_run.info.run_id) == []
    assert len(_runs_of(run)) == 1


def test_the_users_run_is_logged_into_and_left_open(tracking: str) -> None:
    runlab.xgboost.autolog()
    dtrain, _ = _matrices()
    with runlab.start_run() as user_run:
        xgb.train(PARAMS, dtrain, 2, evals=[(dtrain, "train")], verbose_eval=False)
        active = runlab.active_run()
        assert active is not None and active.info.run_id == user_run.info.run_id
        runlab.flush()
        run = runlab.get_run(user_run.info.run_id)
        assert run.info.status == "RUNNING"
        assert run.data.params["num_boost_round"] == "2"
        assert run.data.tags["mlflow.autologging"] == "xgboost"
        assert "model" in _artifacts(run.info.run_id)
    assert runlab.get_run(user_run.info.run_id).info.status == "FINISHED"
