"""Plain PyTorch loops writing through ``torch.utils.tensorboard.SummaryWriter``, autologged.

The "training" is a few ``add_scalar`` calls: what matters is what reaches the run.
"""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

import runlab
import runlab.pytorch

# Lightning 2.6 checks its data-loader tree with an isinstance test that torch 2.13's pytree
# deprecates (only the test that trains with Lightning's TensorBoardLogger meets it).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
)


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    client = runlab.MlflowClient()
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def _runs() -> list[Any]:
    """The runs of the current experiment, oldest first."""
    return list(runlab.search_runs(output_format="list", order_by=["attributes.start_time ASC"]))


def _loop(writer: SummaryWriter, steps: int = 4) -> None:
    for step in range(steps):
        writer.add_scalar("loss", 1.0 / (step + 1), step)


def test_a_loop_logs_into_the_writers_own_run_ended_on_close(tracking: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog(extra_tags={"team": "nlp"})
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    _loop(writer)
    writer.add_scalar("Accuracy/train", 0.75, 3, walltime=1_700_000_000.25)
    # The writer's run is not the active run: the user can start one of their own meanwhile.
    assert runlab.active_run() is None
    with runlab.start_run(run_name="side"):
        pass
    runlab.flush()
    (run,) = [r for r in _runs() if r.info.run_name != "side"]
    assert run.info.status == "RUNNING"
    writer.close()
    runlab.flush()
    run = runlab.MlflowClient().get_run(run.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.tags["team"] == "nlp"
    assert _history(run.info.run_id, "loss") == [
        (0, 1.0),
        (1, 0.5),
        (2, pytest.approx(1 / 3)),
        (3, 0.25),
    ]
    (point,) = runlab.MlflowClient().get_metric_history(run.info.run_id, "Accuracy/train")
    assert (point.step, point.value, point.timestamp) == (3, 0.75, 1_700_000_000_250)
    # TensorBoard got the same values: the original ran.
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_add_scalars_names_each_series_main_tag_slash_tag(
    tracking_uri: str, tmp_path: Path
) -> None:
    runlab.pytorch.autolog()
    with SummaryWriter(log_dir=str(tmp_path / "tb")) as writer:
        for step in range(2):
            writer.add_scalars("loss", {"train": 1.0 + step, "val": 2.0 + step}, step)
    runlab.flush()
    (run,) = _runs()
    assert run.info.status == "FINISHED"  # leaving the with block closed the writer
    assert _history(run.info.run_id, "loss/train") == [(0, 1.0), (1, 2.0)]
    assert _history(run.info.run_id, "loss/val") == [(0, 2.0), (1, 3.0)]
    assert "loss" not in run.data.metrics


def test_add_hparams_logs_params_and_metrics_and_a_sweep_gets_child_runs(
    tracking: str, tmp_path: Path
) -> None:
    runlab.pytorch.autolog()
    with SummaryWriter(log_dir=str(tmp_path / "tb")) as writer:
        for trial in range(3):
            writer.add_hparams(
                {"lr": 0.1 * (trial + 1), "optimizer": "sgd", "layers": torch.tensor([2])},
                {"hparam/accuracy": 0.5 + trial / 10},
                run_name=f"trial-{trial}" if trial else None,
            )
    runlab.flush()
    parent, *children = _runs()
    # The first trial's values go into the writer's run; the others differ from them, so each
    # gets a child run of its own, as TensorBoard shows one run per add_hparams call.
    assert parent.data.params == {"lr": "0.1", "optimizer": "sgd", "layers": "2"}
    assert _history(parent.info.run_id, "hparam/accuracy") == [(0, 0.5)]
    assert [c.info.run_name for c in children] == ["trial-1", "trial-2"]
    for trial, child in enumerate(children, start=1):
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["mlflow.autologging"] == "pytorch"
        assert child.data.params["lr"] == str(0.1 * (trial + 1))
        assert child.data.metrics["hparam/accuracy"] == pytest.approx(0.5 + trial / 10)
    # add_hparams writes its metrics through add_scalar inside: logged once, not twice.
    assert len(_history(parent.info.run_id, "hparam/accuracy")) == 1


def test_inside_a_user_run_scalars_go_there_and_it_stays_open(
    tracking: str, tmp_path: Path
) -> None:
    runlab.pytorch.autolog()
    with runlab.start_run() as user_run:
        writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
        _loop(writer, 2)
        writer.close()
        runlab.flush()
        run = runlab.MlflowClient().get_run(user_run.info.run_id)
        assert run.info.status == "RUNNING"
        assert run.data.tags["mlflow.autologging"] == "pytorch"
        assert _history(user_run.info.run_id, "loss") == [(0, 1.0), (1, 0.5)]
    assert len(_runs()) == 1


def test_exclusive_inside_a_user_run_logs_nothing(tracking_uri: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog(exclusive=True)
    with runlab.start_run() as user_run, SummaryWriter(log_dir=str(tmp_path / "tb")) as writer:
        _loop(writer, 2)
    runlab.flush()
    run = runlab.MlflowClient().get_run(user_run.info.run_id)
    assert run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert len(_runs()) == 1


def test_log_every_n_step_keeps_every_nth_step(tracking_uri: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog(log_every_n_step=2)
    with SummaryWriter(log_dir=str(tmp_path / "tb")) as writer:
        _loop(writer, 5)
    runlab.flush()
    (run,) = _runs()
    assert [step for step, _ in _history(run.info.run_id, "loss")] == [0, 2, 4]


def test_a_writer_that_is_garbage_collected_ends_its_run(tracking_uri: str, tmp_path: Path) -> None:
    runlab.pytorch.autolog()

    def train() -> None:
        writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
        _loop(writer, 2)
        writer.flush()

    train()
    gc.collect()
    # The collected writer's run is ended by a thread of autologging's, soon after.
    deadline = time.monotonic() + 10
    while True:
        runlab.flush()
        (run,) = _runs()
        if run.info.status != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert run.info.status == "FINISHED"
    assert len(_history(run.info.run_id, "loss")) == 2


def test_at_exit_the_writers_run_ends_failed_when_the_script_failed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import runlab
        runlab.set_tracking_uri({f"sqlite:///{tmp_path / 'exit.db'}"!r})
        runlab.pytorch.autolog()
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(log_dir={str(tmp_path / "tb")!r})
        writer.add_scalar("loss", 0.5, 1)
        raise RuntimeError("the loop died")  # the writer is never closed
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'exit.db'}")
    (run,) = _runs()
    assert _history(run.info.run_id, "loss") == [(1, 0.5)]
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None


def test_lightnings_own_tensorboard_logger_is_not_logged_twice(
    tracking_uri: str, tmp_path: Path
) -> None:
    class Regressor(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    runlab.pytorch.autolog(log_models=False, checkpoint=False)
    x = torch.randn(32, 3)
    trainer = pl.Trainer(
        max_epochs=2,
        logger=pl.loggers.TensorBoardLogger(save_dir=str(tmp_path)),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
    )
    trainer.fit(Regressor(), DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=16))
    runlab.flush()
    (run,) = _runs()  # no second run for the logger's SummaryWriter
    # Per epoch only, from the fit's callback; the logger's writes (at global steps) ran bare.
    assert [step for step, _ in _history(run.info.run_id, "train_loss")] == [0, 1]
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_a_bad_value_raises_tensorboards_own_error_unchanged(
    tracking_uri: str, tmp_path: Path
) -> None:
    runlab.pytorch.autolog()
    with SummaryWriter(log_dir=str(tmp_path / "tb")) as writer:
        bare = SummaryWriter.add_scalar.__wrapped__  # type: ignore[attr-defined]
        with pytest.raises(Exception) as expected:
            bare(writer, "loss", "not a number", 0)
        with pytest.raises(type(expected.value)) as raised:
            writer.add_scalar("loss", "not a number", 0)
    assert str(raised.value) == str(expected.value)
    assert raised.traceback[-1].path != Path(runlab.__file__).parent / "autologging/tensorboard.py"
    runlab.flush()
    assert _runs() == []


def test_a_name_the_store_refuses_warns_once_and_the_loop_goes_on(
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    runlab.pytorch.autolog()
    with (
        caplog.at_level(logging.WARNING, logger="runlab"),
        SummaryWriter(log_dir=str(tmp_path / "tb")) as writer,
    ):
        for step in range(3):
            writer.add_scalar("loss (%)", 1.0, step)  # TensorBoard takes it, the store does not
            writer.add_scalar("loss", 1.0, step)
    runlab.flush()
    (run,) = _runs()
    assert len(_history(run.info.run_id, "loss")) == 3
    failures = [r for r in caplog.records if "autologging failed" in r.getMessage()]
    assert len(failures) == 1


def test_an_unreachable_tracking_server_warns_and_the_loop_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    monkeypatch.setenv("RUNLAB_HTTP_REQUEST_MAX_RETRIES", "0")
    runlab.set_tracking_uri("http://127.0.0.1:9")  # the discard port: nothing answers
    runlab.pytorch.autolog()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
        _loop(writer, 3)
        writer.close()
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 1
    failures = [r.getMessage() for r in caplog.records if "autologging failed" in r.getMessage()]
    assert len(failures) == 1 and "Cannot reach the tracking server" in failures[0]


def test_disable_restores_the_originals_and_enable_patches_again(
    tracking_uri: str, tmp_path: Path
) -> None:
    names = ("add_scalar", "add_scalars", "add_hparams", "close")
    originals = {name: vars(SummaryWriter)[name] for name in names}
    runlab.pytorch.autolog()
    assert all(vars(SummaryWriter)[name] is not originals[name] for name in names)
    runlab.pytorch.autolog(disable=True)
    assert all(vars(SummaryWriter)[name] is originals[name] for name in names)
    with SummaryWriter(log_dir=str(tmp_path / "off")) as writer:
        _loop(writer, 2)
    runlab.flush()
    assert _runs() == []
    runlab.pytorch.autolog()
    runlab.pytorch.autolog()  # twice: still one point per step
    with SummaryWriter(log_dir=str(tmp_path / "on")) as writer:
        _loop(writer, 2)
    runlab.flush()
    (run,) = _runs()
    assert _history(run.info.run_id, "loss") == [(0, 1.0), (1, 0.5)]
