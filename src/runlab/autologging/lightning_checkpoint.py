"""Checkpoints of a Lightning training as run artifacts (``checkpoint=True``), MLflow's layout.

With ``checkpoint_save_best_only`` (the default) one checkpoint is kept and replaced whenever
``checkpoint_monitor`` improves (``checkpoint_mode`` ``"min"`` or ``"max"``)::

    checkpoints/latest_checkpoint.pth            (…weights.pth with checkpoint_save_weights_only)
    checkpoints/latest_checkpoint_metrics.json   callback_metrics, epoch, global_step

otherwise every save gets its own folder, ``checkpoints/epoch_<n>/`` (``checkpoint_save_freq=
"epoch"``) or ``checkpoints/global_step_<n>/`` (every that many batches), holding
``checkpoint.pth`` and ``checkpoint_metrics.json``. The tag ``mlflow.latest_checkpoint_artifact``
names the newest file. The ``.pth`` files are Lightning checkpoints
(``MyModule.load_from_checkpoint(path)`` reads them).

Taking a checkpoint costs the foreground one copy of the state to the CPU (the weights and the
optimizer state go on changing as training continues); writing and uploading it is background
work.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from runlab.autologging.training_run import TrainingRun, _number
from runlab.tracking.fluent_artifacts import log_artifact, log_dict

__all__ = ["CHECKPOINT_DIR", "LATEST_CHECKPOINT_TAG", "Checkpointer"]

_logger = logging.getLogger("runlab")

CHECKPOINT_DIR = "checkpoints"
#: The tag naming the newest checkpoint file (MLflow's key).
LATEST_CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"
#: Monitored metrics already warned about as missing: once a process, not at every fit.
_warned_monitors: set[str] = set()


class Checkpointer:
    """Decides when to take a checkpoint and logs it; one per ``fit()``."""

    def __init__(
        self,
        run: TrainingRun,
        monitor: str,
        mode: str,
        save_best_only: bool,
        save_weights_only: bool,
        save_freq: str | int,
    ) -> None:
        self._run = run
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._best: float | None = None

    def _better(self, value: float) -> bool:
        if self._best is None:
            return True
        return value < self._best if self.mode == "min" else value > self._best

    def on_batch_end(self, trainer: Any) -> None:
        """After a training batch: save every ``save_freq`` optimizer steps, if it is a number."""
        freq = self.save_freq
        if isinstance(freq, int) and trainer.global_step > 0 and trainer.global_step % freq == 0:
            self.save(trainer)

    def on_epoch_end(self, trainer: Any) -> None:
        """At the end of a training epoch (validation done): save, with ``save_freq="epoch"``."""
        if self.save_freq == "epoch":
            self.save(trainer)

    def save(self, trainer: Any) -> None:
        """Take a checkpoint now if the options say so, and log it in the background."""
        metrics: dict[str, float] = {}
        for key, value in trainer.callback_metrics.items():
            number = _number(value)
            if number is not None:
                metrics[str(key)] = number
        if self.save_best_only:
            value = metrics.get(self.monitor)
            if value is None:
                if self.monitor not in _warned_monitors:
                    _warned_monitors.add(self.monitor)
                    _logger.warning(
                        "runlab: no checkpoint logged: checkpoint_save_best_only needs the "
                        "metric %r (checkpoint_monitor), which the module does not log; logged "
                        "metrics: %s.",
                        self.monitor,
                        ", ".join(sorted(metrics)) or "none",
                    )
                return
            if not self._better(value):
                return
            self._best = value
        epoch, step = int(trainer.current_epoch), int(trainer.global_step)
        folder, model_file, metrics_file = self._names(epoch, step)
        state = _cpu_copy(trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only))
        self._run.set_tags({LATEST_CHECKPOINT_TAG: f"{folder}/{model_file}"})
        run_id = self._run.run_id
        record = {**metrics, "epoch": epoch, "global_step": step}

        def write() -> None:
            import torch

            with tempfile.TemporaryDirectory(prefix="runlab-checkpoint-") as tmp:
                path = Path(tmp) / model_file
                torch.save(state, path)
                log_artifact(path, folder, run_id=run_id)
            log_dict(record, f"{folder}/{metrics_file}", run_id=run_id)

        self._run.defer(write)

    def _names(self, epoch: int, step: int) -> tuple[str, str, str]:
        """The artifact folder, checkpoint file and metrics file of a checkpoint."""
        weights = ".weights" if self.save_weights_only else ""
        if self.save_best_only:
            return (
                CHECKPOINT_DIR,
                f"latest_checkpoint{weights}.pth",
                "latest_checkpoint_metrics.json",
            )
        sub = f"epoch_{epoch}" if self.save_freq == "epoch" else f"global_step_{step}"
        return f"{CHECKPOINT_DIR}/{sub}", f"checkpoint{weights}.pth", "checkpoint_metrics.json"


def _cpu_copy(state: Any) -> Any:
    """``state`` with every tensor copied to the CPU: what it is now, whatever training does."""
    import torch
    from lightning_utilities.core.apply_func import apply_to_collection

    return apply_to_collection(state, torch.Tensor, lambda t: t.detach().to("cpu", copy=True))
