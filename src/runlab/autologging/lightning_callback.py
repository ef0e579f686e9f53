"""The Lightning callback autologging puts into ``trainer.callbacks`` for one ``fit()``.

It logs what only the training loop knows: the optimizers' settings, the metrics of every epoch
(and of every ``log_every_n_step`` batches), checkpoints; and it notes the first input the
module's ``forward`` sees, to trace the trained model with. Everything it logs goes through the
background writer; per batch it does nothing unless ``log_every_n_step`` or an integer
``checkpoint_save_freq`` asks for something.

Lightning is published under two names whose ``Callback`` classes differ, so the class is built
for each on first use and reachable as an attribute of this module
(``LightningCallback``, ``PytorchLightningCallback``), which is what pickle needs: a strategy
that starts worker processes (``ddp_spawn``) pickles the trainer with its callbacks. A pickled
copy is dormant — it logs nothing — because the run's logging state lives in this process.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from runlab.autologging.lightning_checkpoint import Checkpointer
from runlab.autologging.pytorch_model import example_rows, plain_value
from runlab.autologging.training_run import TrainingRun
from runlab.tracking import fluent

__all__ = ["RunlabCallbackLogic", "callback_class", "log_metrics_soon", "training_params"]

# Lightning package -> the name of the callback class built on its Callback.
_CLASS_NAMES = {"lightning": "LightningCallback", "pytorch_lightning": "PytorchLightningCallback"}
# Hooks Lightning calls once a batch (or more) that the callback does not implement.
_UNUSED_BATCH_HOOKS = (
    "on_train_batch_start",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
)
_CALLBACK_MODULES = {
    "lightning": "lightning.pytorch.callbacks",
    "pytorch_lightning": "pytorch_lightning.callbacks",
}


class RunlabCallbackLogic:
    """What the callback does; mixed in before Lightning's ``Callback`` (see the module doc)."""

    def __init__(self, run: TrainingRun) -> None:
        options = run.options
        self.run: TrainingRun | None = run
        self.every_epoch: int = options.get("log_every_n_epoch", 1)
        self.every_step: int | None = options.get("log_every_n_step")
        self.log_models = options.log_models
        self.checkpointer: Checkpointer | None = None
        if options.get("checkpoint", True):
            self.checkpointer = Checkpointer(
                run,
                monitor=options.get("checkpoint_monitor", "val_loss"),
                mode=options.get("checkpoint_mode", "min"),
                save_best_only=options.get("checkpoint_save_best_only", True),
                save_weights_only=options.get("checkpoint_save_weights_only", False),
                save_freq=options.get("checkpoint_save_freq", "epoch"),
            )
        #: Whether this process logs: global rank 0 only (known once the strategy is set up).
        self.rank_zero = False
        #: Whether Lightning called the hooks here (not, when workers of its own trained).
        self.fit_started = False
        #: Metric names logged per step / per epoch: a name is logged one way only, so a
        #: history's steps are all batches or all epochs.
        self.step_names: set[str] = set()
        self.epoch_names: set[str] = set()
        #: The value objects logged last, per name: Lightning keeps a metric in
        #: callback_metrics until it is logged again (a validation run every other epoch), and
        #: the same object again is not a new value.
        self.last_epoch_values: dict[str, Any] = {}
        self.last_step_values: dict[str, Any] = {}
        self.batches = 0
        #: Whether the next batch must sort the metric names into step and epoch ones even if
        #: it logs nothing: at the start of each epoch, so that with a long log_every_n_step a
        #: step metric is known as one before the epoch ends.
        self.sort_names = True
        #: The first rows of the first input ``forward`` got, to trace the model with.
        self.example: Any = None
        self._forward: tuple[Any, Any] | None = None
        if self.every_step is None and (
            self.checkpointer is None or self.checkpointer.save_freq == "epoch"
        ):
            # Nothing to do per batch: Lightning skips a hook that is not callable.
            self.on_train_batch_end = None  # type: ignore[assignment,method-assign]

    # -- pickling: a copy in another process is dormant --------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        return (_dormant, (type(self).__name__,))

    # -- hooks ---------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Learn whether this process is global rank 0 (the strategy knows by now)."""
        self.fit_started = True
        self.rank_zero = self.run is not None and bool(trainer.is_global_zero)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Log the params (optimizers are set up by now) and the datasets; watch ``forward``."""
        run = self.run
        if not self.rank_zero or run is None:
            return
        # Each part on its own: params refused (a second fit in one run with other settings)
        # must not cost the datasets or the model's example.
        parts = [lambda: run.log_params(training_params(trainer, pl_module))]
        if run.options.log_datasets:
            parts.append(lambda: _log_datasets(run, trainer))
        if self.log_models:
            parts.append(lambda: self._watch_forward(pl_module))
        for part in parts:
            try:
                part()
            except Exception as err:
                run.integration.report(err)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Every ``log_every_n_step`` batches, log the metrics logged on steps."""
        every = self.every_step
        run = self.run
        if not self.rank_zero or run is None:
            return
        try:
            self.batches += 1
            if every is not None:
                due = self.batches % every == 0
                if due or self.sort_names:
                    self.sort_names = False
                    self._log_step_metrics(run, trainer, due)
            if self.checkpointer is not None:
                self.checkpointer.on_batch_end(trainer)
        except Exception as err:
            run.integration.report(err)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Have the epoch's first batch sort the metric names (see ``sort_names``)."""
        self.sort_names = True

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Log the epoch's metrics (its validation included) at step = epoch; checkpoint."""
        run = self.run
        if not self.rank_zero or run is None or trainer.sanity_checking:
            return
        try:
            metrics = {
                k: v for k, v in trainer.callback_metrics.items() if k not in self.step_names
            }
            self.epoch_names.update(metrics)
            fresh = _fresh(metrics, self.last_epoch_values)
            epoch = int(trainer.current_epoch)
            if fresh and (epoch + 1) % self.every_epoch == 0:
                log_metrics_soon(run, fresh, epoch)
            if self.checkpointer is not None:
                self.checkpointer.on_epoch_end(trainer)
        except Exception as err:
            run.integration.report(err)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Stop watching ``forward``."""
        self.restore_forward()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Stop watching ``forward`` when training fails, too."""
        self.restore_forward()

    # -- helpers -------------------------------------------------------------------------------
    def _log_step_metrics(self, run: TrainingRun, trainer: Any, log: bool = True) -> None:
        metrics = trainer.callback_metrics
        chosen = {
            name: value
            for name, value in metrics.items()
            # A metric logged on steps and epochs appears as name, name_step and name_epoch:
            # name_step is the step series, and name is left to the epochs.
            if name not in self.epoch_names and f"{name}_step" not in metrics
        }
        self.step_names.update(chosen)
        if not log:
            return
        fresh = _fresh(chosen, self.last_step_values)
        if fresh:
            log_metrics_soon(run, fresh, int(trainer.global_step))

    def _watch_forward(self, module: Any) -> None:
        """Keep the first rows of the module's example input, or of the first batch it sees."""
        self.example = example_rows(getattr(module, "example_input_array", None))
        if self.example is not None:
            return
        own = module.__dict__.get("forward")
        original = module.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            self.restore_forward()  # one batch is enough: from now on forward runs bare
            if len(args) == 1 and not kwargs:
                try:
                    self.example = example_rows(args[0])
                except Exception as err:
                    if self.run is not None:
                        self.run.integration.report(err)
            return original(*args, **kwargs)

        # An attribute of the instance: the class (and other instances) stay untouched.
        module.forward = forward
        self._forward = (module, own)

    def restore_forward(self) -> None:
        """Take out the ``forward`` watcher, if it is still in place."""
        if self._forward is None:
            return
        module, own = self._forward
        self._forward = None
        if own is None:
            module.__dict__.pop("forward", None)
        else:
            module.forward = own


def _fresh(metrics: Mapping[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The values of ``metrics`` that are not the very objects seen last; remember them."""
    fresh = {name: value for name, value in metrics.items() if last.get(name) is not value}
    last.update(metrics)
    return fresh


def training_params(trainer: Any, pl_module: Any) -> dict[str, Any]:
    """``epochs``, the optimizers' names and defaults, EarlyStopping's settings, the hparams."""
    params: dict[str, Any] = {"epochs": trainer.max_epochs}
    for index, optimizer in enumerate(trainer.optimizers):
        raw = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps one
        # MLflow's names for the first optimizer; the others (GANs…) get a numbered prefix.
        prefix = "" if index == 0 else f"optimizer_{index}_"
        params[f"{prefix}optimizer_name" if index == 0 else f"{prefix}name"] = type(raw).__name__
        for key, value in (getattr(raw, "defaults", None) or {}).items():
            params[f"{prefix}{key}"] = plain_value(value)
    stopper = trainer.early_stopping_callback
    if stopper is not None:
        params.update(early_stopping_params(stopper))
    for key, value in _flat(getattr(pl_module, "hparams", None) or {}):
        # The names autologging gives (epochs, lr…) win over a hyperparameter of the same name.
        params.setdefault(key, plain_value(value))
    return params


def early_stopping_params(stopper: Any) -> dict[str, Any]:
    """EarlyStopping's settings under MLflow's names (``min_delta`` as it was given)."""
    params: dict[str, Any] = {}
    for name in ("monitor", "mode", "patience"):
        if hasattr(stopper, name):
            params[name] = getattr(stopper, name)
    if hasattr(stopper, "min_delta"):
        # Lightning keeps min_delta negated for mode="min"; the user gave the magnitude.
        params["min_delta"] = abs(float(stopper.min_delta))
    return params


def _flat(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested hyperparameters as ``outer/inner`` keys (as Lightning's own loggers name them)."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flat(value, f"{name}/")
        else:
            yield name, value


def log_metrics_soon(run: TrainingRun, metrics: Mapping[str, Any], step: int) -> None:
    """Log metric values without making the training thread wait for an accelerator.

    A value on the CPU (a number, a CPU tensor) is read now. Reading a tensor on a GPU would
    wait for the device to catch up, so those are read on the background thread instead. This
    runs once a batch with ``log_every_n_step=1``: it goes straight to the background writer.
    """
    now: dict[str, float] = {}
    later: dict[str, Any] = {}
    for key, value in metrics.items():
        if not getattr(value, "is_cpu", True):  # a tensor on an accelerator
            later[key] = value.detach()
            continue
        try:
            now[key] = float(value)
        except (TypeError, ValueError, RuntimeError):  # not one number: nothing to plot
            continue
    if now:
        fluent.log_metrics(now, step=step, run_id=run.run_id)
    if later:
        run.defer(lambda: run.log_metrics(later, step=step))


def _log_datasets(run: TrainingRun, trainer: Any) -> None:
    """Record the training and validation data when they are tensors (a ``TensorDataset``)."""
    train = trainer.train_dataloader
    for loader in _loaders(train):
        _log_tensor_dataset(run, loader, "train")
    for loader in _loaders(getattr(trainer, "val_dataloaders", None)):
        _log_tensor_dataset(run, loader, "eval")


def _loaders(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _log_tensor_dataset(run: TrainingRun, loader: Any, context: str) -> None:
    from torch.utils.data import TensorDataset

    dataset = getattr(loader, "dataset", None)
    if isinstance(dataset, TensorDataset) and dataset.tensors:
        tensors = dataset.tensors
        run.log_dataset(tensors[0], tensors[1] if len(tensors) > 1 else None, context=context)


def callback_class(package: str) -> type:
    """The callback class for a Lightning package (``lightning`` or ``pytorch_lightning``)."""
    cls: type = __getattr__(_CLASS_NAMES[package])
    return cls


def _dormant(class_name: str) -> Any:
    """A callback unpickled in another process: it logs nothing there."""
    cls = __getattr__(class_name)
    instance = cls.__new__(cls)
    instance.run = None
    instance.rank_zero = False
    instance.fit_started = False
    instance.every_step = None
    instance.checkpointer = None
    instance._forward = None
    return instance


def __getattr__(name: str) -> Any:
    """Build a callback class on first use (PEP 562), so that pickle finds it by name."""
    package = next((p for p, n in _CLASS_NAMES.items() if n == name), None)
    if package is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    base = importlib.import_module(_CALLBACK_MODULES[package]).Callback
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name}
    # Lightning calls a callback's hook only if the attribute is callable, and each call it
    # makes costs a few microseconds (a profiler context, the callback's state key): the
    # per-batch hooks this callback has no use for are None, so a batch costs nothing here.
    namespace.update(dict.fromkeys(_UNUSED_BATCH_HOOKS))
    cls = type(name, (RunlabCallbackLogic, base), namespace)
    globals()[name] = cls
    return cls
