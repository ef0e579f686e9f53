"""PyTorch Lightning autologging (``runlab.pytorch.autolog()``), read back from the store.

Every training is a one-layer regressor on 64 rows (4 batches of 16) with a 32-row validation
set, for two or three epochs; ``lightning`` is the import name unless a test says otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning
import lightning.pytorch as pl
import numpy as np
import pytest
import pytorch_lightning
import torch
from torch.utils.data import DataLoader, TensorDataset

import runlab
import runlab.pyfunc
import runlab.pytorch
from runlab.errors import InvalidParameter
from runlab.models.input_example import load_input_example
from runlab.models.model import Model
from runlab.models.trust import UntrustedModelError

# Lightning 2.6 checks its data-loader tree with an isinstance test that torch 2.13's pytree
# deprecates; the warning comes from Lightning's own code on every fit.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
)


class TrainingBroke(RuntimeError):
    """What the user's training_step raises in the failure tests."""


def _module_class(package: Any) -> Any:
    """A tiny LightningModule built on ``package`` (``lightning.pytorch`` or ``pytorch_lightning``)."""

    class Regressor(package.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, lr: float = 0.05, hidden: int = 4, fail_at_epoch: int = -1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.current_epoch == self.hparams.fail_at_epoch:
                raise TrainingBroke("the data ran out")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=0.01)

    return Regressor


Regressor = _module_class(pl)
_GEN = torch.Generator().manual_seed(0)
_WEIGHTS = torch.tensor([[1.0], [-2.0], [0.5]])
X = torch.randn(64, 3, generator=_GEN)
Y = X @ _WEIGHTS
X_VAL = torch.randn(32, 3, generator=_GEN)
Y_VAL = X_VAL @ _WEIGHTS


def _loaders() -> tuple[DataLoader[Any], DataLoader[Any]]:
    return (
        DataLoader(TensorDataset(X, Y), batch_size=16),
        DataLoader(TensorDataset(X_VAL, Y_VAL), batch_size=32),
    )


def _trainer(package: Any = pl, epochs: int = 3, **kwargs: Any) -> Any:
    settings: dict[str, Any] = {
        "max_epochs": epochs,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "num_sanity_val_steps": 0,
    }
    settings.update(kwargs)
    return package.Trainer(**settings)


def _fit(module_class: Any = Regressor, package: Any = pl, **kwargs: Any) -> tuple[Any, Any]:
    """Train a fresh module (seeded) and return it with its trainer."""
    torch.manual_seed(0)
    model = module_class(fail_at_epoch=kwargs.pop("fail_at_epoch", -1))
    trainer = _trainer(package, **kwargs)
    trainer.fit(model, *_loaders())
    return model, trainer


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    client = runlab.MlflowClient()
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def _steps(run_id: str, key: str) -> list[int]:
    return [step for step, _ in _history(run_id, key)]


def _artifacts(run_id: str, path: str | None = None) -> list[str]:
    return sorted(f.path for f in runlab.MlflowClient().list_artifacts(run_id, path))


def _runs() -> list[Any]:
    """The runs of the current experiment."""
    return list(runlab.search_runs(output_format="list"))


def _last_run() -> Any:
    runlab.flush()
    run = runlab.last_active_run()
    assert run is not None
    return run


def test_fit_logs_params_epoch_metrics_checkpoint_summary_and_model(tracking: str) -> None:
    runlab.pytorch.autolog()
    model, trainer = _fit()
    assert not any(type(c).__module__.startswith("runlab") for c in trainer.callbacks)

    run = _last_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    params = run.data.params
    assert params["epochs"] == "3"
    assert params["optimizer_name"] == "Adam"
    assert params["lr"] == "0.05"
    assert params["betas"] == "(0.9, 0.999)"
    assert params["weight_decay"] == "0.01"
    assert params["hidden"] == "4"  # save_hyperparameters()
    # One point per epoch at step = epoch, validation included; nothing per step by default.
    for key in ("train_loss_epoch", "val_loss", "train_loss"):
        assert _steps(run_id, key) == [0, 1, 2], key
    assert run.data.metrics["val_loss"] == pytest.approx(
        float(trainer.callback_metrics["val_loss"])
    )

    assert _artifacts(run_id) == ["checkpoints", "model", "model_summary.txt"]
    summary = runlab.artifacts.load_text(f"runs:/{run_id}/model_summary.txt")
    assert "layer" in summary and "Linear" in summary
    # The best checkpoint (lowest val_loss, the default monitor) replaces the previous one.
    assert _artifacts(run_id, "checkpoints") == [
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
    ]
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == "checkpoints/latest_checkpoint.pth"
    record = runlab.artifacts.load_dict(
        f"runs:/{run_id}/checkpoints/latest_checkpoint_metrics.json"
    )
    assert record["epoch"] == 2 and record["global_step"] == 12
    assert record["val_loss"] == pytest.approx(min(v for _, v in _history(run_id, "val_loss")))

    # The trained model, in the safe pt2 format, with a signature and no input example.
    uri = f"runs:/{run_id}/model"
    rows = X_VAL[:4].numpy()
    expected = model(X_VAL[:4]).detach().numpy()
    loaded = runlab.pyfunc.load_model(uri)
    np.testing.assert_allclose(loaded.predict(rows), expected, rtol=1e-5)
    assert loaded.metadata.signature is not None
    assert loaded.metadata.saved_input_example_info is None
    module = runlab.pytorch.load_model(uri)
    np.testing.assert_allclose(module(torch.from_numpy(rows)).detach().numpy(), expected, rtol=1e-5)
    assert "model/input_example.json" not in _artifacts(run_id, "model")

    # The training and validation tensors, as datasets.
    contexts = {
        tag.value
        for item in run.inputs.dataset_inputs
        for tag in item.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"train", "eval"}


def test_log_every_n_step_logs_step_metrics_at_the_global_step(tracking_uri: str) -> None:
    runlab.pytorch.autolog(log_every_n_step=2, log_models=False, checkpoint=False)
    _fit(epochs=2)
    run_id = _last_run().info.run_id
    # 4 batches an epoch: every second batch, at Lightning's global step (optimizer steps).
    assert _steps(run_id, "train_loss_step") == [2, 4, 6, 8]
    # A metric logged on steps and epochs: the step series is name_step, the others per epoch.
    assert _steps(run_id, "train_loss_epoch") == [0, 1]
    assert _steps(run_id, "train_loss") == [0, 1]
    assert _steps(run_id, "val_loss") == [0, 1]


def test_a_step_metric_logged_less_often_than_each_epoch_stays_a_step_metric(
    tracking_uri: str,
) -> None:
    runlab.pytorch.autolog(log_every_n_step=6, log_models=False, checkpoint=False)
    _fit(epochs=3)  # 4 batches an epoch: the first step point comes in the second epoch
    run_id = _last_run().info.run_id
    assert _steps(run_id, "train_loss_step") == [6, 12]
    assert _steps(run_id, "train_loss_epoch") == [0, 1, 2]


def test_log_every_n_epoch(tracking_uri: str) -> None:
    runlab.pytorch.autolog(log_every_n_epoch=2, log_models=False, checkpoint=False)
    _fit(epochs=4)
    assert _steps(_last_run().info.run_id, "val_loss") == [1, 3]


def test_a_metric_not_computed_again_is_not_logged_again(tracking_uri: str) -> None:
    # Validation every other epoch: Lightning keeps the last val_loss in callback_metrics in
    # between, which is no new point.
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    _fit(epochs=4, check_val_every_n_epoch=2)
    run_id = _last_run().info.run_id
    assert _steps(run_id, "val_loss") == [1, 3]
    assert _steps(run_id, "train_loss_epoch") == [0, 1, 2, 3]


class Direct(Regressor):  # type: ignore[misc,valid-type]
    """A module whose training calls its layer directly: forward never sees a batch."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        return None


def test_example_input_array_traces_the_model_else_it_is_a_pickle(
    tracking_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    runlab.pytorch.autolog(checkpoint=False)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        _fit(Direct, epochs=1)
    assert any("saved as a pickle" in r.getMessage() for r in caplog.records)
    uri = f"runs:/{_last_run().info.run_id}/model"
    with pytest.raises(UntrustedModelError):
        runlab.pyfunc.load_model(uri)
    assert runlab.pyfunc.load_model(uri, trusted=True).predict(X_VAL[:2].numpy()).shape == (2, 1)

    class WithExample(Direct):  # type: ignore[misc,valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.example_input_array = torch.zeros(2, 3)

    _fit(WithExample, epochs=1)
    loaded = runlab.pyfunc.load_model(f"runs:/{_last_run().info.run_id}/model")
    assert loaded.predict(X_VAL[:3].numpy()).shape == (3, 1)


def test_early_stopping_settings_and_outcome(tracking_uri: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog(checkpoint=False)
    # mode="max" on a falling loss: no improvement after the first epoch, so it stops at once.
    stopper = pl.callbacks.EarlyStopping(monitor="val_loss", mode="max", patience=1, min_delta=0.1)
    keeper = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "kept", monitor="val_loss")
    _, trainer = _fit(epochs=5, callbacks=[stopper, keeper], enable_checkpointing=True)
    assert trainer.current_epoch == 2  # stopped after epochs 0 and 1

    run = _last_run()
    params = run.data.params
    assert params["monitor"] == "val_loss"
    assert params["mode"] == "max"
    assert params["patience"] == "1"
    assert params["min_delta"] == "0.1"
    metrics = run.data.metrics
    assert metrics["stopped_epoch"] == 1
    assert metrics["restored_epoch"] == 0
    assert metrics["wait_count"] == 1
    assert metrics["best_score"] == pytest.approx(_history(run.info.run_id, "val_loss")[0][1])
    assert _steps(run.info.run_id, "val_loss") == [0, 1]
    # The user's own best checkpoint, which EarlyStopping users restore from.
    restored = _artifacts(run.info.run_id, "restored_model_checkpoint")
    assert restored == [f"restored_model_checkpoint/{Path(keeper.best_model_path).name}"]


def test_no_restored_epoch_when_training_ran_to_the_end(tracking_uri: str) -> None:
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    stopper = pl.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    _fit(epochs=2, callbacks=[stopper])
    metrics = _last_run().data.metrics
    assert metrics["stopped_epoch"] == 0
    assert "restored_epoch" not in metrics


def test_every_checkpoint_at_its_epoch_weights_only(tracking_uri: str) -> None:
    runlab.pytorch.autolog(
        log_models=False, checkpoint_save_best_only=False, checkpoint_save_weights_only=True
    )
    _fit(epochs=2)
    run = _last_run()
    assert _artifacts(run.info.run_id, "checkpoints") == [
        "checkpoints/epoch_0",
        "checkpoints/epoch_1",
    ]
    assert _artifacts(run.info.run_id, "checkpoints/epoch_1") == [
        "checkpoints/epoch_1/checkpoint.weights.pth",
        "checkpoints/epoch_1/checkpoint_metrics.json",
    ]
    latest = run.data.tags["mlflow.latest_checkpoint_artifact"]
    assert latest == "checkpoints/epoch_1/checkpoint.weights.pth"


def test_checkpoint_every_n_batches_loads_back_in_lightning(
    tracking_uri: str, tmp_path: Path
) -> None:
    runlab.pytorch.autolog(
        log_models=False, checkpoint_save_best_only=False, checkpoint_save_freq=3
    )
    _fit(epochs=2)  # 8 optimizer steps: checkpoints at steps 3 and 6
    run_id = _last_run().info.run_id
    assert _artifacts(run_id, "checkpoints") == [
        "checkpoints/global_step_3",
        "checkpoints/global_step_6",
    ]
    path = runlab.MlflowClient().download_artifacts(
        run_id, "checkpoints/global_step_6/checkpoint.pth", str(tmp_path)
    )
    restored = Regressor.load_from_checkpoint(path, weights_only=False)
    assert restored.hparams.lr == 0.05
    assert torch.load(path, weights_only=False)["global_step"] == 6


def test_best_only_checkpoint_follows_checkpoint_mode(tracking_uri: str) -> None:
    # "max" on a falling val_loss: the first epoch is the best, so the checkpoint stays there.
    runlab.pytorch.autolog(log_models=False, checkpoint_mode="max")
    _fit(epochs=3)
    run_id = _last_run().info.run_id
    record = runlab.artifacts.load_dict(
        f"runs:/{run_id}/checkpoints/latest_checkpoint_metrics.json"
    )
    assert record["epoch"] == 0


def test_input_example_and_signature_follow_the_options(tracking_uri: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog(log_input_examples=True, log_model_signatures=False, checkpoint=False)
    _fit(epochs=1)
    uri = f"runs:/{_last_run().info.run_id}/model"
    loaded = runlab.pyfunc.load_model(uri)
    assert loaded.metadata.signature is None
    folder = Path(runlab.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))
    info = Model.load(folder / "MLmodel").saved_input_example_info
    # The first rows of the first training batch, which the model was traced with.
    np.testing.assert_allclose(load_input_example(folder, info), X[:5].numpy(), rtol=1e-6)


def test_registered_model_name_registers_each_trained_model(tracking_uri: str) -> None:
    runlab.pytorch.autolog(registered_model_name="tiny-regressor", checkpoint=False)
    _fit(epochs=1)
    run_id = _last_run().info.run_id
    (version,) = runlab.search_model_versions(filter_string="name='tiny-regressor'")
    assert version.run_id == run_id
    loaded = runlab.pyfunc.load_model("models:/tiny-regressor/1")
    assert loaded.predict(X_VAL[:2].numpy()).shape == (2, 1)


def test_log_models_false_still_logs_the_summary(tracking_uri: str) -> None:
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    _fit(epochs=1)
    assert _artifacts(_last_run().info.run_id) == ["model_summary.txt"]


def test_the_other_import_name_pytorch_lightning(tracking_uri: str) -> None:
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    original = pytorch_lightning.Trainer.fit
    assert getattr(original, "__runlab_autolog__", None) == "pytorch"
    _fit(_module_class(pytorch_lightning), pytorch_lightning, epochs=2)
    run = _last_run()
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.params["optimizer_name"] == "Adam"
    assert _steps(run.info.run_id, "val_loss") == [0, 1]
    assert _artifacts(run.info.run_id) == ["model_summary.txt"]


def test_users_training_error_propagates_and_fails_the_run(tracking: str) -> None:
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    torch.manual_seed(0)
    model = Regressor(fail_at_epoch=1)
    trainer = _trainer()
    with pytest.raises(TrainingBroke) as raised:
        trainer.fit(model, *_loaders())
    assert "the data ran out" in str(raised.value)
    # The original exception object, raised where the user's code raised it.
    assert raised.traceback[-1].name == "training_step"
    run = _last_run()
    assert run.info.status == "FAILED"
    assert _steps(run.info.run_id, "val_loss") == [0]  # what was logged before stays
    assert not any(type(c).__module__.startswith("runlab") for c in trainer.callbacks)
    assert "forward" not in vars(model)  # the watcher on forward is gone


def test_logging_failure_mid_training_warns_and_training_finishes(
    tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The bare training, for the result autologging must not change.
    bare, _ = _fit(epochs=3)

    class DeleteTheRun(pl.Callback):
        """Someone deletes the run while it trains: every later write to it is refused."""

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 0:
                runlab.MlflowClient().delete_run(runlab.active_run().info.run_id)

    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    runlab.pytorch.autolog(log_every_n_step=1, checkpoint=False)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        model, trainer = _fit(epochs=3, callbacks=[DeleteTheRun()])
        runlab.flush()
    assert trainer.current_epoch == 3
    for trained, expected in zip(model.parameters(), bare.parameters(), strict=True):
        torch.testing.assert_close(trained, expected)
    warnings = [r.getMessage() for r in caplog.records if "autologging failed" in r.getMessage()]
    assert warnings and "deleted" in warnings[0]


class _OddName(Regressor):  # type: ignore[misc,valid-type]
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        self.log("val loss (%)", 1.0)  # Lightning takes any name; the store does not


def test_an_unloggable_metric_name_warns_and_the_rest_is_logged(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        _, trainer = _fit(_OddName, epochs=2)
    assert trainer.current_epoch == 2
    run = _last_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer_name"] == "Adam"
    assert any("autologging failed" in r.getMessage() for r in caplog.records)


def test_silent_keeps_autologgings_warnings_out_of_the_log(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    runlab.pytorch.autolog(silent=True, checkpoint_monitor="val_accuracy", log_models=False)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        _fit(_OddName, epochs=1)  # a refused metric name, and no val_accuracy to checkpoint on
        runlab.flush()
    assert [r for r in caplog.records if r.name == "runlab"] == []
    assert _last_run().data.params["optimizer_name"] == "Adam"


def test_disable_restores_the_originals_and_enable_patches_again(tracking_uri: str) -> None:
    originals = (pl.Trainer.fit, pytorch_lightning.Trainer.fit)
    assert lightning.Trainer is pl.Trainer
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    assert pl.Trainer.fit is not originals[0]
    assert pytorch_lightning.Trainer.fit is not originals[1]
    runlab.pytorch.autolog(disable=True)
    assert pl.Trainer.fit is originals[0]
    assert pytorch_lightning.Trainer.fit is originals[1]
    _fit(epochs=1)
    runlab.flush()
    assert _runs() == []
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    _fit(epochs=1)
    assert len(_runs()) == 1


def test_enabling_twice_logs_once(tracking_uri: str) -> None:
    runlab.autolog(exclude_flavors=["sklearn", "xgboost", "lightgbm", "keras", "transformers"])
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    _fit(epochs=2)
    run = _last_run()
    assert len(_runs()) == 1
    assert _steps(run.info.run_id, "val_loss") == [0, 1]


def test_inside_a_user_run_logs_there_and_leaves_it_open(tracking: str) -> None:
    runlab.pytorch.autolog(log_models=False, checkpoint=False, extra_tags={"team": "vision"})
    with runlab.start_run() as user_run:
        _fit(epochs=2)
        runlab.flush()
        run = runlab.MlflowClient().get_run(user_run.info.run_id)
        assert run.info.status == "RUNNING"
        assert runlab.active_run() is not None
        assert run.info.run_id == user_run.info.run_id
        assert run.data.params["epochs"] == "2"
        assert run.data.tags["mlflow.autologging"] == "pytorch"
        assert run.data.tags["team"] == "vision"
    assert runlab.MlflowClient().get_run(user_run.info.run_id).info.status == "FINISHED"
    assert len(_runs()) == 1


def test_a_second_fit_with_other_settings_in_one_run_warns_and_logs_its_metrics(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    with runlab.start_run() as user_run, caplog.at_level(logging.WARNING, logger="runlab"):
        _fit(epochs=1)
        _fit(epochs=2)  # params cannot change within a run: epochs=2 is refused
    runlab.flush()
    assert any("'epochs'" in r.getMessage() for r in caplog.records)
    run = runlab.MlflowClient().get_run(user_run.info.run_id)
    assert run.data.params["epochs"] == "1"
    assert _steps(run.info.run_id, "val_loss") == [0, 0, 1]


def test_exclusive_inside_a_user_run_logs_nothing(tracking: str) -> None:
    runlab.pytorch.autolog(exclusive=True, checkpoint=False)
    with runlab.start_run() as user_run:
        _fit(epochs=1)
    runlab.flush()
    run = runlab.MlflowClient().get_run(user_run.info.run_id)
    assert run.data.params == {} and run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert _artifacts(user_run.info.run_id) == []


def test_only_global_rank_zero_logs(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_utilities.core.rank_zero import rank_zero_only

    # What a launcher's environment tells Lightning in the process of rank 1.
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    runlab.pytorch.autolog(checkpoint=False)
    _fit(epochs=1)
    runlab.flush()
    assert _runs() == []


def test_options_are_checked_when_autolog_is_called() -> None:
    with pytest.raises(InvalidParameter, match="log_every_n_step"):
        runlab.pytorch.autolog(log_every_n_step=0)
    with pytest.raises(InvalidParameter, match="checkpoint_mode"):
        runlab.pytorch.autolog(checkpoint_mode="lowest")
    with pytest.raises(InvalidParameter, match="checkpoint_save_freq"):
        runlab.pytorch.autolog(checkpoint_save_freq="batch")


def test_callback_copies_in_worker_processes_are_dormant(tracking_uri: str) -> None:
    import pickle

    from runlab.autologging.lightning_callback import callback_class

    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    with runlab.start_run():
        from runlab.autologging.pytorch import INTEGRATION

        with INTEGRATION.training_run() as run:
            callback = callback_class("lightning")(run)
    copy = pickle.loads(pickle.dumps(callback))
    assert isinstance(copy, pl.Callback)
    assert copy.run is None and not copy.rank_zero
