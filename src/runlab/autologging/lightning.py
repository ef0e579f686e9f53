"""PyTorch Lightning autologging: ``Trainer.fit`` of ``lightning`` and ``pytorch_lightning``.

A patched ``fit`` finds the run to log into (the user's, or one it manages), puts a
:mod:`~runlab.autologging.lightning_callback` callback into ``trainer.callbacks`` for the call
and takes it out afterwards, so the trainer the user keeps holds only their own callbacks. When
training returns it logs EarlyStopping's outcome and hands the model to the background:
``model_summary.txt`` and the model under ``model`` are written from a snapshot, so ``fit()``
returns after a copy of the weights, not after an export and an upload.

Only global rank 0 logs. Under a strategy that starts one process per device from the user's
script (``ddp``), the other ranks run ``fit`` without autologging. Under one that trains in
worker processes it starts itself (``ddp_spawn``, ``ddp_notebook``) the callback's copies in
the workers are dormant (the run's logging state lives in the main process), so the run gets
only what the main process sees after training: the model and its summary, not the params and
metrics the training loop knows.
"""

from __future__ import annotations

import functools
import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runlab.autologging.lightning_callback import RunlabCallbackLogic, callback_class
from runlab.autologging.patching import PatchedCall, Patcher
from runlab.autologging.pytorch_model import log_traced_model, predict_numpy, snapshot
from runlab.autologging.training_run import TrainingRun
from runlab.tracking.fluent_artifacts import log_artifact, log_text

if TYPE_CHECKING:
    from runlab.autologging.integration import Integration

__all__ = ["MODEL_SUMMARY_FILE", "RESTORED_CHECKPOINT_DIR", "early_stopping_metrics", "install"]

_logger = logging.getLogger("runlab")
#: Module classes already warned about as saved in a pickle: once a process, not at every fit.
_warned_classes: set[str] = set()

MODEL_SUMMARY_FILE = "model_summary.txt"
#: Where the user's own best checkpoint goes when EarlyStopping ended training (MLflow's name).
RESTORED_CHECKPOINT_DIR = "restored_model_checkpoint"

# The subpackage of each Lightning package that holds ModelSummary.
_SUMMARY_MODULES = {
    "lightning": "lightning.pytorch.utilities.model_summary",
    "pytorch_lightning": "pytorch_lightning.utilities.model_summary",
}


def install(integration: Integration, patcher: Patcher, module: ModuleType) -> None:
    """Patch ``Trainer.fit`` of ``module`` (``lightning.pytorch`` or ``pytorch_lightning``)."""
    package = module.__name__.split(".")[0]
    patcher.wrap(module.Trainer, "fit", functools.partial(_fit, integration, package))


def _fit(
    integration: Integration,
    package: str,
    call: PatchedCall,
    trainer: Any,
    *args: Any,
    **kwargs: Any,
) -> Any:
    if _global_rank(trainer) != 0:
        return call.original(trainer, *args, **kwargs)
    with integration.training_run() as run:
        callback = callback_class(package)(run)
        trainer.callbacks.append(callback)
        try:
            result = call.original(trainer, *args, **kwargs)
        finally:
            _remove(trainer.callbacks, callback)
            callback.restore_forward()
        try:
            model = trainer.lightning_module
            if model is None:
                model = args[0] if args else kwargs.get("model")
            _after_fit(run, package, trainer, model, callback)
        except Exception as err:
            # Training succeeded: our failure must not mark the run FAILED.
            integration.report(err)
    return result


def _global_rank(trainer: Any) -> int:
    """This process's global rank, as far as it is known before ``fit`` sets the strategy up.

    A launcher that starts one process per device tells each its rank in the environment,
    which Lightning reads into ``rank_zero_only.rank`` when it is imported.
    """
    try:
        rank = int(trainer.global_rank)
    except Exception:  # a strategy that cannot tell yet
        rank = 0
    if rank:
        return rank
    try:
        from lightning_utilities.core.rank_zero import rank_zero_only
    except ImportError:
        return 0
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _remove(callbacks: list[Any], callback: Any) -> None:
    for index, item in enumerate(callbacks):
        if item is callback:
            del callbacks[index]
            return


def _after_fit(
    run: TrainingRun, package: str, trainer: Any, model: Any, callback: RunlabCallbackLogic
) -> None:
    """EarlyStopping's outcome now; the summary and the model from a snapshot, in the background."""
    if callback.fit_started and not callback.rank_zero:
        return  # the strategy made this process another rank than 0
    stopper = trainer.early_stopping_callback
    if stopper is not None:
        run.log_metrics(early_stopping_metrics(stopper))
    if model is None:
        return
    run_id = run.run_id
    summarize = functools.partial(_summary, package)
    if not run.options.log_models:
        text = summarize(model)
        run.defer(lambda: log_text(text, MODEL_SUMMARY_FILE, run_id=run_id))
        return
    copy = snapshot(model)
    run.defer(lambda: log_text(summarize(copy), MODEL_SUMMARY_FILE, run_id=run_id))
    example = callback.example.numpy() if callback.example is not None else None
    if example is None and type(model).__qualname__ not in _warned_classes:
        _warned_classes.add(type(model).__qualname__)
        _logger.warning(
            "runlab: the trained model is saved as a pickle (load it with trusted=True): its "
            "forward() never got a single tensor to trace it with. Set example_input_array "
            "on the module to have it saved in the safe pt2 format."
        )
    run.log_model(
        log_traced_model,
        copy,
        example=example,
        predict=functools.partial(predict_numpy, copy),
        trace_example=example,
        warn=not run.options.silent,
    )
    best = getattr(trainer.checkpoint_callback, "best_model_path", None)
    if stopper is not None and best:
        run.defer(lambda: log_artifact(best, RESTORED_CHECKPOINT_DIR, run_id=run_id))


def early_stopping_metrics(stopper: Any) -> dict[str, float]:
    """``stopped_epoch``, ``wait_count``, ``best_score`` and, if it stopped, ``restored_epoch``.

    ``restored_epoch`` is the epoch of the best score as MLflow counts it: ``patience`` epochs
    (at least one) before the one training stopped at. Lightning reports ``stopped_epoch`` 0
    when training was not stopped early; then there is no restored epoch to speak of.
    """
    metrics: dict[str, float] = {}
    stopped = int(getattr(stopper, "stopped_epoch", 0) or 0)
    metrics["stopped_epoch"] = stopped
    if stopped > 0:
        metrics["restored_epoch"] = stopped - max(1, int(getattr(stopper, "patience", 0) or 0))
    if hasattr(stopper, "wait_count"):
        metrics["wait_count"] = int(stopper.wait_count)
    best = getattr(stopper, "best_score", None)
    if best is not None:
        metrics["best_score"] = float(best)
    return metrics


def _summary(package: str, model: Any) -> str:
    """Lightning's summary of every layer (``ModelSummary`` with ``max_depth=-1``)."""
    summary_module = importlib.import_module(_SUMMARY_MODULES[package])
    return str(summary_module.ModelSummary(model, max_depth=-1))
