"""Keras 3 autologging: ``runlab.keras.autolog()`` on the torch backend, read back from the store.

Every model is a tiny Sequential net trained on 32 rows for two or three epochs.
"""

from __future__ import annotations

import os

# Keras picks its backend when first imported and defaults to TensorFlow, which the test
# environment does not have: use torch unless the caller chose a backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

import logging
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import runlab  # noqa: E402
import runlab.keras  # noqa: E402
import runlab.pyfunc  # noqa: E402
from runlab.errors import InvalidParameter  # noqa: E402

# Keras' torch backend converts tensors with np.array(x) when saving weights, which numpy 2
# deprecates for torch's __array__; it is Keras' code (the model is saved in the background).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

_RNG = np.random.default_rng(0)
X = _RNG.random((32, 3), dtype=np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)).astype(np.float32)
X_VAL, Y_VAL = X[:8] + 0.1, Y[:8]


def _net() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    client = runlab.MlflowClient()
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def _artifacts(run_id: str, path: str | None = None) -> list[str]:
    return [f.path for f in runlab.MlflowClient().list_artifacts(run_id, path)]


def _runs() -> list[Any]:
    """The runs of the current experiment."""
    runs: list[Any] = runlab.search_runs(output_format="list")
    return runs


def test_autolog_imports_no_keras() -> None:
    code = (
        "import sys, runlab, runlab.keras; runlab.keras.autolog(); "
        "assert 'keras' not in sys.modules, 'keras imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_fit_logs_params_metrics_summary_datasets_and_model(tracking: str) -> None:
    runlab.keras.autolog(extra_tags={"team": "vision"})
    model = _net()
    callbacks: list[Any] = []
    history = model.fit(
        X,
        Y,
        epochs=3,
        batch_size=8,
        validation_data=(X_VAL, Y_VAL),
        callbacks=callbacks,
        verbose=0,
    )
    assert callbacks == []  # the caller's list is not touched
    predicted = model.predict(X[:4], verbose=0)
    runlab.flush()

    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "FINISHED"
    assert runlab.active_run() is None
    assert run.data.tags["mlflow.autologging"] == "keras"
    assert run.data.tags["team"] == "vision"
    params = run.data.params
    assert params["epochs"] == "3"
    assert params["batch_size"] == "8"
    assert params["shuffle"] == "True"
    assert params["initial_epoch"] == "0"
    assert params["optimizer_name"] == "Adam"
    assert float(params["optimizer_learning_rate"]) == pytest.approx(0.01)
    assert "x" not in params and "callbacks" not in params and "verbose" not in params
    assert "monitor" not in params  # no EarlyStopping: none of its settings

    run_id = run.info.run_id
    for key in ("loss", "mae", "val_loss", "val_mae"):
        points = _history(run_id, key)
        assert [step for step, _ in points] == [0, 1, 2], key
        assert [value for _, value in points] == pytest.approx(history.history[key]), key

    assert set(_artifacts(run_id)) >= {"model", "model_summary.txt"}
    summary = runlab.artifacts.load_text(f"runs:/{run_id}/model_summary.txt")
    assert "Dense" in summary and "Total params" in summary

    loaded = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_allclose(loaded.predict(X[:4]), predicted, rtol=1e-5)
    signature = loaded.metadata.signature
    assert signature is not None
    assert signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 3]
    native = runlab.keras.load_model(f"runs:/{run_id}/model")
    assert isinstance(native, keras.Model)

    contexts = sorted(
        tag.value
        for entry in run.inputs.dataset_inputs
        for tag in entry.tags
        if tag.key == "mlflow.data.context"
    )
    assert contexts == ["eval", "train"]


def test_early_stopping_settings_stopped_and_restored_epoch(tracking_uri: str) -> None:
    runlab.keras.autolog(log_models=False)
    model = _net()
    # min_delta far beyond any real improvement: epoch 0 is the best, training stops at 1.
    stop = keras.callbacks.EarlyStopping(
        monitor="loss", min_delta=100.0, patience=1, restore_best_weights=True
    )
    history = model.fit(X, Y, epochs=6, batch_size=8, callbacks=[stop], verbose=0)
    assert history.epoch == [0, 1]
    run = runlab.last_active_run()
    assert run is not None
    params = run.data.params
    assert params["monitor"] == "loss"
    assert params["patience"] == "1"
    assert float(params["min_delta"]) == pytest.approx(100.0)
    assert params["restore_best_weights"] == "True"
    assert params["baseline"] == "None"
    run_id = run.info.run_id
    assert _history(run_id, "stopped_epoch") == [(0, 1.0)]
    assert _history(run_id, "restored_epoch") == [(0, 0.0)]
    # The restored epoch's values once more after the last epoch: curves end at the kept model.
    loss = _history(run_id, "loss")
    assert [step for step, _ in loss] == [0, 1, 2]
    assert loss[2][1] == pytest.approx(history.history["loss"][0])
    assert "model" not in _artifacts(run_id)


def test_log_every_n_steps_logs_by_global_step(tracking_uri: str) -> None:
    runlab.keras.autolog(log_every_epoch=False, log_every_n_steps=2, log_models=False)
    model = _net()
    # 32 rows in batches of 8: 4 steps per epoch, 8 in all.
    model.fit(X, Y, epochs=2, batch_size=8, validation_data=(X_VAL, Y_VAL), verbose=0)
    run = runlab.last_active_run()
    assert run is not None
    run_id = run.info.run_id
    assert [step for step, _ in _history(run_id, "loss")] == [2, 4, 6, 8]
    assert [step for step, _ in _history(run_id, "mae")] == [2, 4, 6, 8]
    assert [step for step, _ in _history(run_id, "val_loss")] == [4, 8]


def test_a_second_fit_goes_on_from_the_optimizer_step(tracking_uri: str) -> None:
    runlab.keras.autolog(log_every_epoch=False, log_every_n_steps=4, log_models=False)
    model = _net()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    run = runlab.last_active_run()
    assert run is not None
    assert [step for step, _ in _history(run.info.run_id, "loss")] == [8]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log_every_n_steps": 5}, "log_every_epoch=False"),
        ({"log_every_epoch": False}, "log_every_n_steps"),
        ({"log_every_epoch": False, "log_every_n_steps": 0}, "positive"),
        ({"save_exported_model": True}, ".keras"),
        ({"save_model_kwargs": {"zipped": False}}, "save_model_kwargs"),
    ],
)
def test_unsupported_options_are_refused_at_once(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        runlab.keras.autolog(**options)
    assert runlab.keras.autolog(disable=True, **options) is None


def test_positional_callbacks_and_a_user_run_left_open(tracking: str) -> None:
    runlab.keras.autolog(log_models=False)
    model = _net()
    mine = keras.callbacks.History()
    callbacks = [mine]
    with runlab.start_run() as user_run:
        # fit(x, y, batch_size, epochs, verbose, callbacks): all positional.
        model.fit(X, Y, 8, 2, 0, callbacks)
        assert runlab.active_run() is not None
        assert runlab.active_run().info.run_id == user_run.info.run_id
    assert callbacks == [mine]
    assert mine.epoch == [0, 1]  # the user's callback ran too
    run = runlab.get_run(user_run.info.run_id)
    assert run.info.status == "FINISHED"  # ended by the user's block, not by autologging
    assert run.data.params["epochs"] == "2"
    assert run.data.tags["mlflow.autologging"] == "keras"
    assert [step for step, _ in _history(run.info.run_id, "loss")] == [0, 1]
    assert len(_runs()) == 1


class _Boom(Exception):
    pass


class _FailAtEpoch(keras.callbacks.Callback):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == 1:
            raise self.error


def test_training_error_propagates_and_fails_the_run(tracking: str) -> None:
    runlab.keras.autolog(log_models=False)
    error = _Boom("user code failed")
    with pytest.raises(_Boom) as raised:
        _net().fit(X, Y, epochs=3, batch_size=8, callbacks=[_FailAtEpoch(error)], verbose=0)
    assert raised.value is error
    runlab.flush()
    (run,) = _runs()
    assert run.info.status == "FAILED"
    assert [step for step, _ in _history(run.info.run_id, "loss")] == [0]


class _DeleteRun(keras.callbacks.Callback):
    """Deletes the run autologging writes to, after the first epoch (as another user could)."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == 0:
            active = runlab.active_run()
            assert active is not None
            runlab.flush()
            runlab.MlflowClient().delete_run(active.info.run_id)


def test_failed_logging_leaves_training_alone(
    tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    bare = _net()
    bare_history = bare.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0)

    runlab.keras.autolog()
    model = _net()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        history = model.fit(
            X, Y, epochs=3, batch_size=8, shuffle=False, callbacks=[_DeleteRun()], verbose=0
        )
        runlab.flush()
    assert history.history["loss"] == pytest.approx(bare_history.history["loss"])
    np.testing.assert_allclose(model.predict(X, verbose=0), bare.predict(X, verbose=0))
    assert any("keras autologging failed" in r.getMessage() for r in caplog.records)


def test_disable_restores_fit_and_enabling_again_works(tracking_uri: str) -> None:
    original = keras.Model.fit
    runlab.keras.autolog()
    assert keras.Model.fit is not original
    runlab.keras.autolog(disable=True)
    assert keras.Model.fit is original
    assert "fit" not in keras.Model.__dict__  # inherited again, as before
    _net().fit(X, Y, epochs=1, verbose=0)
    runlab.flush()
    assert _runs() == []

    runlab.keras.autolog(log_models=False)
    runlab.keras.autolog(log_models=False)  # twice: still one patch, one set of records
    _net().fit(X, Y, epochs=2, batch_size=8, verbose=0)
    runlab.flush()
    (run,) = _runs()
    assert [step for step, _ in _history(run.info.run_id, "loss")] == [0, 1]


def test_exclusive_leaves_a_user_run_alone(tracking: str) -> None:
    runlab.keras.autolog(exclusive=True)
    with runlab.start_run() as user_run:
        _net().fit(X, Y, epochs=2, verbose=0)
    runlab.flush()
    run = runlab.get_run(user_run.info.run_id)
    assert run.data.params == {}
    assert run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert _artifacts(run.info.run_id) == []
    assert len(_runs()) == 1

    _net().fit(X, Y, epochs=1, verbose=0)  # outside a user run, exclusive still logs
    runlab.flush()
    runs = _runs()
    assert len(runs) == 2
    managed = next(r for r in runs if r.info.run_id != user_run.info.run_id)
    assert managed.data.params["batch_size"] == "32"  # Keras' own default for arrays


def test_the_logged_model_is_the_one_fit_returned(tracking_uri: str) -> None:
    runlab.keras.autolog(log_input_examples=True)
    model = _net()
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    trained = model.predict(X[:4], verbose=0)
    # The caller changes the model at once; the model logged for the run must not change.
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    runlab.flush()
    run = runlab.last_active_run()
    assert run is not None
    loaded = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(X[:4]), trained, rtol=1e-5)
    assert "model/input_example.json" in _artifacts(run.info.run_id, "model")
