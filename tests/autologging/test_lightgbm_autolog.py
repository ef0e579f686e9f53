"""LightGBM autologging, trained for real (tiny models) and read back through the store.

``lightgbm.train``, ``lightgbm.cv`` and the scikit-learn API (logged once, where MLflow logs it
twice): params, per-round metrics with their steps, early stopping's metrics, split and gain
importance as JSON and PNG, the model loaded through pyfunc, datasets; and the failure paths:
the user's error, a run deleted mid-training, disable/re-enable, enabling twice, ``exclusive``
and the user's own run.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import lightgbm as lgb
import lightgbm.engine
import lightgbm.sklearn
import numpy as np
import pandas as pd
import pytest

import runlab
import runlab.lightgbm
from runlab.autologging.options import STRICT_ENV
from runlab.tracking import deferred
from support.tracking_state import tracking_uri

__all__ = ["tracking_uri"]

PARAMS = {
    "objective": "binary",
    "num_leaves": 4,
    "min_data_in_leaf": 5,
    "num_threads": 1,
    "verbose": -1,
}


def _data(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((rows, 3)), columns=["a", "b", "c"])
    return features, ((features["a"] + features["b"]) > 1.0).astype(int)


def _datasets() -> tuple[Any, Any]:
    """A training Dataset, and a validation one whose labels are flipped (it gets worse)."""
    features, target = _data()
    train = lgb.Dataset(features, label=target)
    return train, lgb.Dataset(features[:20], label=1 - target[:20], reference=train)


def _last_run() -> Any:
    run = runlab.last_active_run()
    assert run is not None
    return run


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    points = runlab.MlflowClient().get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in points)


def _artifacts(run_id: str) -> list[str]:
    return sorted(f.path for f in runlab.MlflowClient().list_artifacts(run_id))


def _runs_of(run: Any) -> list[Any]:
    return runlab.MlflowClient().search_runs([run.info.experiment_id])


def test_train_logs_params_metrics_importance_model_and_datasets(tracking: str) -> None:
    runlab.lightgbm.autolog()
    train, valid = _datasets()
    evals_result: dict[str, Any] = {}
    booster = lgb.train(
        PARAMS,
        train,
        num_boost_round=4,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(evals_result)],
    )
    run = _last_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params == {
        **{key: str(value) for key, value in PARAMS.items()},
        "num_boost_round": "4",
        "keep_training_booster": "False",
    }
    for data in ("train", "valid"):
        values = evals_result[data]["binary_logloss"]
        assert _history(run_id, f"{data}-binary_logloss") == [
            (i, pytest.approx(v)) for i, v in enumerate(values)
        ]
    assert "stopped_iteration" not in run.data.metrics
    assert _artifacts(run_id) == [
        "feature_importance_gain.json",
        "feature_importance_gain.png",
        "feature_importance_split.json",
        "feature_importance_split.png",
        "model",
    ]
    for kind in ("split", "gain"):
        logged = runlab.artifacts.load_dict(f"runs:/{run_id}/feature_importance_{kind}.json")
        expected = booster.feature_importance(importance_type=kind).tolist()
        assert logged == pytest.approx(dict(zip(["a", "b", "c"], expected, strict=True)))
    model = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    features, _ = _data()
    np.testing.assert_allclose(model.predict(features), booster.predict(features))
    assert model.metadata.get_input_schema().input_names() == ["a", "b", "c"]
    # The Datasets' raw data was freed once built (free_raw_data): it was taken before.
    inputs = sorted((d.tags[0].value, d.dataset.name) for d in run.inputs.dataset_inputs)
    assert inputs == [("eval", "valid"), ("train", "dataset")]


@pytest.mark.parametrize("how", ["params", "callback"])
def test_early_stopping_logs_stopped_and_best_iteration_and_the_best_round(
    tracking_uri: str, how: str
) -> None:
    runlab.lightgbm.autolog()
    train, valid = _datasets()
    params = {**PARAMS, "early_stopping_round": 2} if how == "params" else PARAMS
    callbacks = [lgb.early_stopping(2, verbose=False)] if how == "callback" else None
    booster = lgb.train(params, train, 10, valid_sets=[valid], callbacks=callbacks)
    assert booster.best_iteration == 1  # the flipped labels only get worse
    run = _last_run()
    # LightGBM counts from 1: rounds 0, 1 and 2 ran, round 0 was the best.
    assert run.data.metrics["stopped_iteration"] == 3
    assert run.data.metrics["best_iteration"] == 1
    history = _history(run.info.run_id, "valid_0-binary_logloss")
    assert [step for step, _ in history] == [0, 1, 2, 3]
    assert history[3][1] == history[0][1]


def test_cv_logs_params_and_mean_and_stdv_per_round_and_no_model(tracking_uri: str) -> None:
    runlab.lightgbm.autolog()
    features, target = _data()
    result = lgb.cv(PARAMS, lgb.Dataset(features, label=target), num_boost_round=3, nfold=3)
    run = _last_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params["nfold"] == "3"
    assert run.data.params["num_boost_round"] == "3"
    assert run.data.params["objective"] == "binary"
    for stat in ("mean", "stdv"):
        values = result[f"valid binary_logloss-{stat}"]
        assert _history(run_id, f"valid-binary_logloss-{stat}") == [
            (i, pytest.approx(v)) for i, v in enumerate(values)
        ]
    assert _artifacts(run_id) == []
    assert [d.tags[0].value for d in run.inputs.dataset_inputs] == ["train"]


def test_cv_early_stopping(tracking_uri: str) -> None:
    runlab.lightgbm.autolog()
    features, _ = _data()
    noise = np.random.default_rng(1).integers(0, 2, len(features))  # nothing to learn
    params = {**PARAMS, "early_stopping_round": 2}
    result = lgb.cv(params, lgb.Dataset(features, label=noise), num_boost_round=20, nfold=3)
    run = _last_run()
    kept = len(result["valid binary_logloss-mean"])
    history = _history(run.info.run_id, "valid-binary_logloss-mean")
    rounds = len(history) - 1  # the rounds run, then the best one again
    assert run.data.metrics["best_iteration"] == kept
    assert run.data.metrics["stopped_iteration"] == rounds
    assert history[-1] == (rounds, history[kept - 1][1])


def test_sklearn_api_logs_once_into_one_run_with_the_estimator_as_model(tracking: str) -> None:
    runlab.lightgbm.autolog()
    features, target = _data()
    estimator = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, n_jobs=1, verbose=-1)
    estimator.fit(features, target, eval_X=(features[:20],), eval_y=(1 - target[:20],))
    run = _last_run()
    run_id = run.info.run_id
    assert [r.info.run_id for r in _runs_of(run)] == [run_id]
    assert run.data.params["num_boost_round"] == "3"
    assert run.data.params["num_leaves"] == "4"
    values = estimator.evals_result_["valid_0"]["binary_logloss"]
    assert _history(run_id, "valid_0-binary_logloss") == [
        (i, pytest.approx(v)) for i, v in enumerate(values)
    ]  # each round once
    assert "feature_importance_split.json" in _artifacts(run_id)
    loaded = runlab.lightgbm.load_model(f"runs:/{run_id}/model")
    assert type(loaded) is lgb.LGBMClassifier
    model = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(model.predict(features), estimator.predict(features))
    assert model.metadata.get_input_schema().input_names() == ["a", "b", "c"]
    inputs = sorted((d.tags[0].value, d.dataset.name) for d in run.inputs.dataset_inputs)
    assert inputs == [("eval", "valid_0"), ("train", "dataset")]


def test_rounds_given_in_params_are_the_ones_logged(tracking_uri: str) -> None:
    runlab.lightgbm.autolog()
    train, _ = _datasets()
    booster = lgb.train({**PARAMS, "num_iterations": 3}, train)  # overrides num_boost_round
    run = _last_run()
    assert booster.current_iteration() == 3
    assert run.data.params["num_iterations"] == "3"
    assert "num_boost_round" not in run.data.params


def test_model_is_the_booster_as_trained_not_as_changed_afterwards(tracking_uri: str) -> None:
    runlab.lightgbm.autolog()
    train, _ = _datasets()
    gate = threading.Event()
    deferred.submit(lambda: gate.wait(30))  # hold the background work until the booster changed
    try:
        booster = lgb.train(PARAMS, train, 2, keep_training_booster=True)
        for _ in range(3):
            booster.update()  # the user trains the returned booster further
    finally:
        gate.set()
    run = _last_run()
    loaded = runlab.lightgbm.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.current_iteration(), booster.current_iteration()) == (2, 5)


# -- failure paths -------------------------------------------------------------------------------
def test_the_users_error_propagates_and_the_run_fails(tracking: str) -> None:
    runlab.lightgbm.autolog()
    train, _ = _datasets()
    error = RuntimeError("user's callback failed")

    def boom(env: Any) -> None:
        if env.iteration == 2:
            raise error

    with pytest.raises(RuntimeError) as raised:
        lgb.train(PARAMS, train, 5, valid_sets=[train], callbacks=[boom])
    assert raised.value is error
    run = _last_run()
    assert run.info.status == "FAILED"
    # The user's callbacks run before runlab's: round 2 was not recorded.
    assert [s for s, _ in _history(run.info.run_id, "training-binary_logloss")] == [0, 1]


def test_run_deleted_mid_training_is_warned_about_and_training_finishes(
    tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    features, target = _data()
    bare = lgb.train(PARAMS, lgb.Dataset(features, label=target), 6).predict(features)
    runlab.lightgbm.autolog()

    def delete_run(env: Any) -> None:
        if env.iteration == 1:
            active = runlab.active_run()
            assert active is not None
            runlab.MlflowClient().delete_run(active.info.run_id)
        if env.iteration == 3:
            time.sleep(0.5)  # the background writer tries round 2's metrics, and fails

    train = lgb.Dataset(features, label=target)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        booster = lgb.train(PARAMS, train, 6, valid_sets=[train], callbacks=[delete_run])
        runlab.flush()
    assert booster.current_iteration() == 6
    np.testing.assert_array_equal(booster.predict(features), bare)
    assert "lightgbm autologging failed" in caplog.text


def test_disable_restores_the_originals_and_enabling_again_patches(tracking_uri: str) -> None:
    owners = [lgb, lightgbm.engine, lightgbm.sklearn]
    functions = {
        (o.__name__, name): vars(o)[name]
        for o in owners
        for name in ("train", "cv")
        if name in vars(o)
    }
    classes = [lgb.LGBMModel, lgb.LGBMClassifier, lgb.LGBMRegressor, lgb.LGBMRanker]
    fits = {cls: cls.__dict__["fit"] for cls in classes}
    runlab.lightgbm.autolog()
    assert lgb.train is not functions[("lightgbm", "train")]
    assert lgb.cv is not functions[("lightgbm", "cv")]
    assert lgb.LGBMClassifier.__dict__["fit"] is not fits[lgb.LGBMClassifier]
    runlab.lightgbm.autolog(disable=True)
    for (owner, name), original in functions.items():
        assert vars(__import__(owner, fromlist=["_"]))[name] is original
    for cls, fit in fits.items():
        assert cls.__dict__["fit"] is fit
    train, _ = _datasets()
    lgb.train(PARAMS, train, 2)
    assert runlab.last_active_run() is None  # nothing logged while disabled
    runlab.lightgbm.autolog()
    lgb.train(PARAMS, train, 2)
    assert _last_run().data.params["num_boost_round"] == "2"


def test_enabling_twice_logs_once(tracking_uri: str) -> None:
    runlab.lightgbm.autolog()
    runlab.lightgbm.autolog()
    # runlab.autolog() enables it once more (the other frameworks are not this test's concern).
    runlab.autolog(exclude_flavors=["sklearn", "xgboost", "pytorch", "keras", "transformers"])
    train, _ = _datasets()
    lgb.train(PARAMS, train, 3, valid_sets=[train])
    run = _last_run()
    assert len(_runs_of(run)) == 1
    assert [s for s, _ in _history(run.info.run_id, "training-binary_logloss")] == [0, 1, 2]


def test_exclusive_logs_nothing_into_the_users_run(tracking: str) -> None:
    runlab.lightgbm.autolog(exclusive=True)
    features, target = _data()
    with runlab.start_run() as user_run:
        lgb.LGBMRegressor(n_estimators=2, n_jobs=1, verbose=-1).fit(features, target)
        lgb.train(PARAMS, lgb.Dataset(features, label=target), 2)
        lgb.cv(PARAMS, lgb.Dataset(features, label=target), 2, nfold=2)
    run = runlab.get_run(user_run.info.run_id)
    assert run.data.params == {}
    assert run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert _artifacts(user_run.info.run_id) == []
    assert len(_runs_of(run)) == 1


def test_the_users_run_is_logged_into_and_left_open(tracking: str) -> None:
    runlab.lightgbm.autolog()
    features, target = _data()
    with runlab.start_run() as user_run:
        lgb.LGBMRegressor(n_estimators=2, n_jobs=1, verbose=-1).fit(features, target)
        active = runlab.active_run()
        assert active is not None and active.info.run_id == user_run.info.run_id
        runlab.flush()
        run = runlab.get_run(user_run.info.run_id)
        assert run.info.status == "RUNNING"
        assert run.data.params["num_boost_round"] == "2"
        assert run.data.tags["mlflow.autologging"] == "lightgbm"
        assert "model" in _artifacts(run.info.run_id)
    assert runlab.get_run(user_run.info.run_id).info.status == "FINISHED"
