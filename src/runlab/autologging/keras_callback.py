"""The Keras callback that Keras autologging appends to a ``fit()`` call's callbacks.

Imported only from inside a patched ``fit`` (Keras is loaded by then). Every hook queues its
records and returns; an error of ours is reported (warned once) instead of stopping training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from runlab.autologging.training_run import TrainingRun


__all__ = ["RunlabCallback", "early_stopping_of"]

#: The artifact the model's summary is written to (MLflow's name).
SUMMARY_FILE = "model_summary.txt"


def early_stopping_of(callbacks: Sequence[Any]) -> Any:
    """The first ``EarlyStopping`` among ``callbacks``, or None."""
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping):
            return callback
    return None


class RunlabCallback(keras.callbacks.Callback):
    """Logs a ``fit()``'s metrics into one run, at step = epoch.

    It defines no per-batch hook, so that Keras keeps dispatching batch callbacks
    asynchronously where its backend can; :class:`_StepCallback` adds one for
    ``log_every_n_steps``.
    """

    def __init__(self, run: TrainingRun, every_epoch: bool) -> None:
        super().__init__()
        self._run = run
        self._every_epoch = every_epoch

    @staticmethod
    def create(run: TrainingRun, every_epoch: bool, every_n_steps: int | None) -> RunlabCallback:
        """The callback for these options."""
        if every_n_steps:
            return _StepCallback(run, every_epoch, every_n_steps)
        return RunlabCallback(run, every_epoch)

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Queue the model summary (written in the background: it only reads the layers)."""
        with self._run.integration.guard():
            model = self.model
            run_id = self._run.run_id

            def write() -> None:
                from runlab.tracking.fluent_artifacts import log_text

                log_text(_summary(model), SUMMARY_FILE, run_id=run_id)

            self._run.defer(write)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Log the epoch's values at step = epoch."""
        if not logs:
            return
        with self._run.integration.guard():
            self._epoch_values(epoch, logs)

    def _epoch_values(self, epoch: int, logs: Mapping[str, Any]) -> None:
        self._run.log_metrics(logs, step=epoch)

    def log_early_stopping(self, early: Any, history: Any) -> None:
        """After ``fit``: ``stopped_epoch``, ``restored_epoch`` and the restored values."""
        if early is None:
            return
        metrics: dict[str, Any] = {}
        stopped = int(getattr(early, "stopped_epoch", 0) or 0)
        if stopped > 0:
            metrics["stopped_epoch"] = stopped
        # Keras puts the best weights back at the end whenever restore_best_weights is set and
        # it kept some, whether it stopped early or not: the logged model is that epoch's.
        restored = bool(early.restore_best_weights) and early.best_weights is not None
        if restored:
            metrics["restored_epoch"] = int(early.best_epoch)
        self._run.log_metrics(metrics, step=0)
        epochs = list(getattr(history, "epoch", None) or [])
        values = getattr(history, "history", None) or {}
        if restored and self._every_epoch and early.best_epoch in epochs:
            index = epochs.index(early.best_epoch)
            kept = {key: series[index] for key, series in values.items() if index < len(series)}
            # One step past the last epoch, as MLflow does: each curve ends at the kept model.
            self._run.log_metrics(kept, step=epochs[-1] + 1)


class _StepCallback(RunlabCallback):
    """Also logs the training values every ``every_n`` optimizer steps (step = global step)."""

    def __init__(self, run: TrainingRun, every_epoch: bool, every_n: int) -> None:
        super().__init__(run, every_epoch)
        self._every_n = every_n
        self._step = 0
        self._logged = 0
        self._last_batch = -1

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Start counting from the optimizer's own step count (a resumed model goes on)."""
        super().on_train_begin(logs)
        with self._run.integration.guard():
            iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
            self._step = (
                int(keras.ops.convert_to_numpy(iterations)) if iterations is not None else 0
            )
            self._logged = self._step

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Batch numbers start again at 0 in each epoch."""
        self._last_batch = -1

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Count steps (Keras calls this once per ``steps_per_execution`` steps) and log
        when the count passes a multiple of ``every_n``."""
        # Counted here rather than read from optimizer.iterations: reading a device variable
        # each batch would wait for the accelerator.
        self._step += batch - self._last_batch
        self._last_batch = batch
        if not logs or self._step // self._every_n == self._logged // self._every_n:
            return
        self._logged = self._step
        with self._run.integration.guard():
            self._run.log_metrics(logs, step=self._step)

    def _epoch_values(self, epoch: int, logs: Mapping[str, Any]) -> None:
        # The training values were logged by step; the validation values of the epoch go at
        # the global step where the epoch ended.
        self._run.log_metrics(
            {key: value for key, value in logs.items() if key.startswith("val_")},
            step=self._step,
        )


def _summary(model: Any) -> str:
    lines: list[str] = []

    def collect(line: str, *args: Any, **kwargs: Any) -> None:
        lines.append(line)

    model.summary(print_fn=collect)
    return "\n".join(lines)
