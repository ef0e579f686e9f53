"""The TrainerCallback that Transformers autologging adds to a trainer during ``train()``.

Imported only from inside a patched ``Trainer.train`` (transformers is loaded by then). Each
hook queues its records and returns; an error of ours is reported (warned once) instead of
stopping training.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.training_run import TrainingRun

__all__ = ["CHECKPOINTS_DIR", "RunlabTrainerCallback", "metric_values"]

_transformers: Any = importlib.import_module("transformers")

#: Where checkpoints go among the run's artifacts.
CHECKPOINTS_DIR = "checkpoints"
# Characters a metric key may not hold become "_" (the rule transformers' MLflowCallback uses).
_UNSAFE_KEY = re.compile(r"[^0-9A-Za-z_\-. :/]")


def metric_values(logs: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers among a Trainer log, under keys a run takes."""
    values: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, (bool, str)):
            continue  # flags and texts are not measurements
        values[_UNSAFE_KEY.sub("_", str(key))] = value
    return values


class RunlabTrainerCallback(_transformers.TrainerCallback):
    """Logs what the Trainer logs, at its global step, and (if asked) its checkpoints."""

    def __init__(self, run: TrainingRun, run_dir: str, log_checkpoints: bool) -> None:
        self._run = run
        self._run_dir = run_dir
        self._log_checkpoints = log_checkpoints
        #: key -> (step, value) last logged: the "epoch" that training and evaluation logs both
        #: carry is logged once per step.
        self._last: dict[str, tuple[int, Any]] = {}

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log the Trainer's numbers at the global step (world process zero only)."""
        if not logs or not state.is_world_process_zero:
            return
        with self._run.integration.guard():
            step = int(state.global_step)
            fresh = {}
            for key, value in metric_values(logs).items():
                if self._last.get(key) == (step, value):
                    continue
                self._last[key] = (step, value)
                fresh[key] = value
            self._run.log_metrics(fresh, step=step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Upload the checkpoint just saved, from hard links taken now (in the background)."""
        if not self._log_checkpoints or not state.is_world_process_zero:
            return
        with self._run.integration.guard():
            prefix = getattr(_transformers.trainer_utils, "PREFIX_CHECKPOINT_DIR", "checkpoint")
            name = f"{prefix}-{state.global_step}"
            folder = os.path.join(self._run_dir, name)
            if os.path.isdir(folder):
                self._upload_later(folder, name)

    def _upload_later(self, folder: str, name: str) -> None:
        # The Trainer may delete this checkpoint (save_total_limit) before the upload runs:
        # links to its files keep them, at no copying cost where links are possible.
        staging = tempfile.mkdtemp(prefix="runlab-checkpoint-")
        copy = os.path.join(staging, name)
        try:
            shutil.copytree(folder, copy, copy_function=_link_or_copy)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        run_id = self._run.run_id

        def upload() -> None:
            from runlab.tracking.fluent_artifacts import log_artifacts

            try:
                log_artifacts(copy, f"{CHECKPOINTS_DIR}/{name}", run_id=run_id)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

        self._run.defer(upload)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)  # another file system, or links not allowed
