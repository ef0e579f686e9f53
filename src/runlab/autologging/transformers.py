"""Hugging Face Transformers autologging: ``runlab.transformers.autolog()``.

MLflow's ``mlflow.transformers.autolog()`` only keeps other flavors from logging the models a
pipeline builds; it logs nothing about training. runlab's patches ``transformers.Trainer.train``
(when ``transformers.trainer`` is imported, which ``transformers.Trainer`` does) and logs each
training, into the active run or a run it starts (tagged ``mlflow.autologging=transformers``),
with the names transformers' own ``MLflowCallback`` (``report_to="mlflow"``) uses:

- params: every field of the ``TrainingArguments`` (``args.to_dict()``: ``learning_rate``,
  ``num_train_epochs``, ``per_device_train_batch_size``, …, tokens hidden) and of the model's
  configuration (``model.config.to_dict()``: ``hidden_size``, ``num_hidden_layers``,
  ``vocab_size``, …), unprefixed, the arguments winning a clash, as that callback logs them;
- metrics: every value the Trainer logs, at step = the global step: ``loss``,
  ``learning_rate``, ``grad_norm`` and ``epoch`` every ``logging_steps``; each evaluation's
  ``eval_loss``, ``eval_<metric>``, ``eval_runtime``, … ; at the end ``train_loss``,
  ``train_runtime``, ``train_samples_per_second``, ``train_steps_per_second``, ``total_flos``.
  A ``trainer.evaluate()`` after ``train()`` logs its ``eval_*`` values into the training's run
  at the trainer's global step;
- artifacts, when asked: each checkpoint the Trainer saves, under
  ``checkpoints/checkpoint-<step>/`` (``log_checkpoints=True``), and the final model with its
  tokenizer or processor through :func:`runlab.transformers.log_model` as ``model``
  (``log_models=True``; off by default, as in MLflow, because such models are large);
- datasets (``log_datasets=True``, off by default as in MLflow): a training or evaluation
  dataset that converts to pandas (a Hugging Face ``datasets.Dataset``) is recorded.

A ``TrainerCallback`` is added to the trainer for the duration of ``train()`` and taken out
afterwards. transformers' own ``MLflowCallback``, if the trainer has one (``report_to`` naming
``"mlflow"`` or ``"all"``), is taken out for that time too, and for an ``evaluate()`` logged
after it, and put back after: with autologging on, runlab logs the training once, into the run
above, rather than a second copy through the ``mlflow`` package. Only the world process
zero logs (``trainer.is_world_process_zero()``): the other ranks of a distributed training
train without logging or starting runs.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runlab.autologging.integration import Integration
from runlab.autologging.options import AutologOptions
from runlab.autologging.patching import PatchedCall, Patcher
from runlab.autologging.training_run import TrainingRun
from runlab.errors import InvalidParameter

if TYPE_CHECKING:
    from runlab.autologging.transformers_callback import RunlabTrainerCallback

__all__ = ["INTEGRATION", "TransformersIntegration", "autolog"]

_logger = logging.getLogger("runlab")

#: The name of the final model's artifact folder.
MODEL_NAME = "model"


class TransformersIntegration(Integration):
    """Autologging for Hugging Face Transformers (``Trainer.train``)."""

    name = "transformers"
    # transformers.trainer, not transformers: the package is lazy and cheap to import, and
    # patching on its import would load the whole Trainer (and torch) with it.
    modules = ("transformers.trainer",)
    distribution = "transformers"
    min_version = "4.46"
    max_version = "5.25"

    def __init__(self) -> None:
        super().__init__()
        #: trainer -> the run its last train() logged into, for a later evaluate().
        self.trained: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def setup(self, patcher: Patcher, module: Any) -> None:
        """Patch ``Trainer.train`` and ``Trainer.evaluate`` (subclasses inherit them)."""
        patcher.wrap(module.Trainer, "train", _train)
        patcher.wrap(module.Trainer, "evaluate", _evaluate)


INTEGRATION = TransformersIntegration()


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = False,
    log_models: bool = False,
    log_datasets: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    registered_model_name: str | None = None,
    log_checkpoints: bool = False,
) -> None:
    """Turn on (or off, ``disable=True``) autologging of ``transformers.Trainer.train``; see the
    module docstring for what is logged.

    The parameters and their defaults are MLflow's, with two of runlab's: ``log_models`` logs
    the final model and its tokenizer (or image processor, feature extractor) through the
    transformers flavor, registered as ``registered_model_name`` if given, with the task's
    default signature; ``log_checkpoints`` uploads each checkpoint the Trainer saves. Both are
    off by default: a transformers model is large. ``log_input_examples`` and
    ``log_model_signatures`` are accepted for MLflow's sake: the Trainer's inputs are token ids,
    not the text a pipeline takes, so no example is taken from them. transformers is not
    imported by this call.
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    if not disable and not isinstance(log_checkpoints, bool):
        raise InvalidParameter(f"log_checkpoints must be True or False, got {log_checkpoints!r}.")
    options = AutologOptions.build(**arguments)
    INTEGRATION.configure(options)


def _train(call: PatchedCall, trainer: Any, *args: Any, **kwargs: Any) -> Any:
    """Around ``Trainer.train``: log the training into a run through a TrainerCallback."""
    if not trainer.is_world_process_zero():
        return call.original(trainer, *args, **kwargs)  # other ranks train and log nothing
    from runlab.autologging.transformers_callback import RunlabTrainerCallback

    integration = call.integration
    options: AutologOptions = call.options
    with integration.training_run() as run:
        with integration.guard():
            run.log_params(_params(trainer))
        if options.log_datasets:
            with integration.guard():
                _log_datasets(run, trainer)
        callback = RunlabTrainerCallback(
            run, _run_dir(trainer, args, kwargs), bool(options.get("log_checkpoints", False))
        )
        with _callbacks_swapped(trainer, callback):
            result = call.original(trainer, *args, **kwargs)
        if isinstance(integration, TransformersIntegration):
            integration.trained[trainer] = run.run_id
        if options.log_models:
            with integration.guard():
                _log_model(run, trainer)
        return result


def _evaluate(call: PatchedCall, trainer: Any, *args: Any, **kwargs: Any) -> Any:
    """Around ``Trainer.evaluate`` called after ``train()``: its values go to the training's run.

    (An evaluation during ``train()`` runs inside the patched ``train`` and is logged by the
    callback.) A trainer never trained with autologging on evaluates without logging.
    """
    integration = call.integration
    trained = integration.trained if isinstance(integration, TransformersIntegration) else {}
    run_id = trained.get(trainer)
    if run_id is None or not trainer.is_world_process_zero():
        return call.original(trainer, *args, **kwargs)
    with _callbacks_swapped(trainer, None):
        metrics = call.original(trainer, *args, **kwargs)
    from runlab.autologging.transformers_callback import metric_values

    values = metric_values(metrics or {})
    # The epoch was logged at this step by the training already.
    values.pop("epoch", None)
    TrainingRun(integration, run_id, managed=False).log_metrics(
        values, step=int(trainer.state.global_step)
    )
    return metrics


def _params(trainer: Any) -> dict[str, Any]:
    """The model's configuration and the training arguments, as transformers' MLflowCallback."""
    params: dict[str, Any] = {}
    config = getattr(getattr(trainer, "model", None), "config", None)
    if config is not None and callable(getattr(config, "to_dict", None)):
        params.update(config.to_dict())
    params.update(trainer.args.to_dict())
    return params


def _run_dir(trainer: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The folder this train() saves its checkpoints in (a trial of a search has its own)."""
    trial = kwargs.get("trial", args[1] if len(args) > 1 else None)
    output_dir = getattr(trainer, "_get_output_dir", None)
    if callable(output_dir):
        with contextlib.suppress(Exception):
            return str(output_dir(trial=trial))
    return str(trainer.args.output_dir)


def _is_transformers_mlflow_callback(callback: Any) -> bool:
    # The class is looked up only if transformers loaded it: a trainer with report_to="mlflow"
    # has, and importing it otherwise would cost time for nothing.
    module = sys.modules.get("transformers.integrations.integration_utils")
    kind = getattr(module, "MLflowCallback", None)
    return isinstance(kind, type) and isinstance(callback, kind)


@contextlib.contextmanager
def _callbacks_swapped(trainer: Any, callback: RunlabTrainerCallback | None) -> Iterator[None]:
    """Ours in (if any), transformers' MLflowCallback out, for the time of the block; then as
    before."""
    handler = trainer.callback_handler
    theirs = [
        (index, cb)
        for index, cb in enumerate(handler.callbacks)
        if _is_transformers_mlflow_callback(cb)
    ]
    for _, cb in theirs:
        handler.remove_callback(cb)
    if theirs:
        _logger.info(
            "runlab: transformers' MLflowCallback is left out while runlab's autologging logs "
            "this trainer."
        )
    if callback is not None:
        handler.add_callback(callback)
    try:
        yield
    finally:
        if callback is not None:
            with contextlib.suppress(ValueError):
                handler.remove_callback(callback)
        for index, cb in theirs:
            handler.callbacks.insert(index, cb)


def _log_datasets(run: TrainingRun, trainer: Any) -> None:
    _log_dataset(run, getattr(trainer, "train_dataset", None), "train", None)
    evaluation = getattr(trainer, "eval_dataset", None)
    if isinstance(evaluation, Mapping):
        for name, dataset in evaluation.items():
            _log_dataset(run, dataset, "eval", str(name))
    else:
        _log_dataset(run, evaluation, "eval", None)


def _log_dataset(run: TrainingRun, dataset: Any, context: str, name: str | None) -> None:
    """Record a dataset that converts to pandas (``datasets.Dataset``), in the background."""
    to_pandas = getattr(dataset, "to_pandas", None)
    if not callable(to_pandas):
        return  # a torch Dataset or an iterable: nothing to describe without reading it all
    run_id = run.run_id

    def log() -> None:
        from runlab.data import from_pandas
        from runlab.tracking.fluent_inputs import log_input

        log_input(from_pandas(to_pandas(), name=name), context=context, run_id=run_id)

    run.defer(log)


def _log_model(run: TrainingRun, trainer: Any) -> None:
    """Log the trained model and its processing class from a copy taken now."""
    from runlab.autologging.pytorch_model import snapshot
    from runlab.models.flavors.transformers import log_model

    # A CPU copy: training may go on with the live model while the copy is saved.
    parts = {"model": snapshot(trainer.model), **_components(trainer)}
    run.log_model(log_model, parts, name=MODEL_NAME)


def _components(trainer: Any) -> dict[str, Any]:
    """The trainer's tokenizer, image processor or feature extractor, by the flavor's names."""
    from runlab.models.flavors.transformers_loading import COMPONENT_BASES

    transformers = importlib.import_module("transformers")
    given = getattr(trainer, "processing_class", None) or getattr(trainer, "tokenizer", None)
    if given is None:
        return {}
    parts: dict[str, Any] = {}
    for name, base_name in COMPONENT_BASES.items():
        base = getattr(transformers, base_name, None)
        if base is not None and isinstance(given, base):
            parts[name] = given
    if not parts:
        # A processor (ProcessorMixin) bundles its components as attributes.
        for name in COMPONENT_BASES:
            component = getattr(given, name, None)
            if component is not None:
                parts[name] = component
    return parts
