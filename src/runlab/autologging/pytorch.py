"""PyTorch autologging (``runlab.pytorch.autolog()``, tag ``mlflow.autologging=pytorch``).

Two kinds of training are logged, each patched when the user's code imports it:

* PyTorch Lightning, under either import name (``lightning`` and ``pytorch_lightning`` are two
  copies of the same code with distinct ``Trainer`` classes; both are patched):
  ``Trainer.fit`` gets a callback for the duration of the call, see
  :mod:`runlab.autologging.lightning`.
* Plain PyTorch loops that write through ``torch.utils.tensorboard.SummaryWriter``:
  ``add_scalar``, ``add_scalars`` and ``add_hparams`` become metrics and params, see
  :mod:`runlab.autologging.tensorboard`.

This module imports neither framework: the patches are installed by the import hooks of
:class:`~runlab.autologging.integration.Integration`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from runlab.autologging.integration import Integration
from runlab.autologging.options import AutologOptions
from runlab.autologging.patching import Patcher
from runlab.errors import InvalidParameter

__all__ = ["INTEGRATION", "PytorchIntegration", "autolog"]

#: The modules whose import installs the patches: the two names Lightning is published under,
#: and torch's TensorBoard writer.
LIGHTNING_MODULES = ("lightning.pytorch", "pytorch_lightning")
TENSORBOARD_MODULE = "torch.utils.tensorboard"


class PytorchIntegration(Integration):
    """Lightning's ``Trainer.fit`` and torch's ``SummaryWriter``."""

    name = "pytorch"
    modules = (*LIGHTNING_MODULES, TENSORBOARD_MODULE)
    distribution = "torch"
    min_version = "2.1"
    max_version = "2.13"

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        """Patch ``Trainer.fit`` of a Lightning package, or torch's ``SummaryWriter``."""
        if module.__name__ in LIGHTNING_MODULES:
            from runlab.autologging import lightning

            lightning.install(self, patcher, module)
        elif module.__name__ == TENSORBOARD_MODULE:
            from runlab.autologging import tensorboard

            tensorboard.install(self, patcher, module)


#: The one instance: its options are those of the latest ``autolog()`` call.
INTEGRATION = PytorchIntegration()


def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: str | int = "epoch",
    log_model_signatures: bool = True,
    log_input_examples: bool = False,
) -> None:
    """Log PyTorch Lightning training and TensorBoard-writing PyTorch loops (MLflow's options).

    Lightning (``lightning`` or ``pytorch_lightning``): each ``Trainer.fit`` logs the params
    ``epochs``, ``optimizer_name`` and the optimizer's defaults (``lr``, ``betas``…), the
    module's ``save_hyperparameters()`` values and EarlyStopping's settings; every
    ``trainer.callback_metrics`` value at the end of every ``log_every_n_epoch``-th epoch (step =
    epoch) and, with ``log_every_n_step``, the step-logged ones every that many training batches
    (step = global step); EarlyStopping's ``stopped_epoch``, ``restored_epoch``, ``best_score``
    and ``wait_count``; ``model_summary.txt``; the trained model (``log_models``) under
    ``model``; and with ``checkpoint`` a checkpoint under ``checkpoints/`` at the end of each
    epoch (or every ``checkpoint_save_freq`` batches), only when ``checkpoint_monitor``
    improved if ``checkpoint_save_best_only``; with ``log_datasets`` the training and validation
    tensors when the loaders read a ``TensorDataset``. Only global rank 0 logs.

    ``torch.utils.tensorboard.SummaryWriter``: ``add_scalar`` and ``add_scalars`` values are
    metrics at their ``global_step`` (every ``log_every_n_step``-th step only, when set),
    ``add_hparams`` values params and metrics. With no active run they go to a run of the
    writer's own, ended when the writer is closed or garbage-collected, or at exit.

    The model is saved in the safe ``pt2`` format, traced with a few rows of the first batch its
    ``forward`` gets (or with ``example_input_array``); ``log_input_examples=True`` keeps those
    rows as its input example. A module that cannot be traced is saved as a pickle, which loads
    only with ``trusted=True``.
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    options = AutologOptions.build(**arguments)
    if not disable:
        _check(options)
    INTEGRATION.configure(options)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check(options: AutologOptions) -> None:
    """Refuse option values that would only fail later, in the middle of training."""
    if not _positive_int(options.get("log_every_n_epoch")):
        raise InvalidParameter(
            f"log_every_n_epoch must be a positive integer, got {options.get('log_every_n_epoch')!r}."
        )
    every_step = options.get("log_every_n_step")
    if every_step is not None and not _positive_int(every_step):
        raise InvalidParameter(
            f"log_every_n_step must be a positive integer or None, got {every_step!r}."
        )
    for name in ("checkpoint", "checkpoint_save_best_only", "checkpoint_save_weights_only"):
        if not isinstance(options.get(name), bool):
            raise InvalidParameter(f"{name} must be True or False, got {options.get(name)!r}.")
    if options.get("checkpoint_mode") not in ("min", "max"):
        raise InvalidParameter(
            f"checkpoint_mode must be 'min' or 'max', got {options.get('checkpoint_mode')!r}."
        )
    monitor = options.get("checkpoint_monitor")
    if not isinstance(monitor, str) or not monitor:
        raise InvalidParameter(
            f"checkpoint_monitor must be the name of a logged metric, got {monitor!r}."
        )
    freq = options.get("checkpoint_save_freq")
    if freq != "epoch" and not _positive_int(freq):
        raise InvalidParameter(
            f"checkpoint_save_freq must be 'epoch' or a positive number of batches, got {freq!r}."
        )
