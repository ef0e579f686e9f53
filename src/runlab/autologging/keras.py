"""Keras 3 autologging: ``runlab.keras.autolog()`` (MLflow's ``mlflow.keras.autolog``).

``keras.Model.fit`` is patched when Keras is imported. Each ``fit()`` logs, into the active run
or a run it starts (tagged ``mlflow.autologging=keras``):

- params: the arguments of ``fit`` (``epochs``, ``batch_size`` — the one Keras uses, 32 when
  arrays come without one —, ``validation_split``, ``shuffle``, ``class_weight``,
  ``initial_epoch``, ``steps_per_epoch``, ``validation_steps``, ``validation_batch_size``,
  ``validation_freq``), the optimizer's configuration as ``optimizer_<key>``
  (``optimizer_learning_rate``, …, the names MLflow's Keras 3 autologging uses;
  ``optimizer_name`` is the optimizer's class, ``Adam``, where MLflow logs Keras' object name,
  ``adam_1``) and, with an ``EarlyStopping`` callback, its ``monitor``, ``min_delta``,
  ``patience``, ``baseline`` and ``restore_best_weights``;
- metrics: every value Keras reports at the end of an epoch (``loss``, the compiled metrics,
  ``val_loss``, ``val_<metric>``) at step = epoch; with ``log_every_n_steps`` the training
  values every n optimizer steps at step = the global step (and the ``val_*`` values at the
  global step of their epoch's end); with ``EarlyStopping``, ``stopped_epoch`` and
  ``restored_epoch``, and the restored epoch's values once more at the step after the last
  epoch, so that the last point of each curve is the model that was kept;
- artifacts: ``model_summary.txt`` (``model.summary()``), and the model in Keras' native
  ``.keras`` format through :func:`runlab.keras.log_model` (``log_models``), with a signature
  inferred from a few training rows;
- datasets: the training arrays (context ``train``) and ``validation_data`` (``eval``).

The logging is done by a Keras callback appended to a copy of the call's ``callbacks`` (the
user's list is left as it was); everything it logs is queued, and the model is saved in the
background from a copy of its weights taken when ``fit`` ends, so ``fit`` is not slowed and a
model trained further afterwards does not change the logged one.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runlab.autologging.integration import Integration
from runlab.autologging.options import AutologOptions
from runlab.autologging.patching import PatchedCall, Patcher
from runlab.errors import InvalidParameter

if TYPE_CHECKING:
    from runlab.autologging.training_run import TrainingRun

__all__ = ["INTEGRATION", "KerasIntegration", "autolog"]

# fit() arguments that are data or plumbing, not settings of the training (MLflow leaves out
# the same ones, and the sample weights, an array, too).
_UNLOGGED = frozenset(
    {"self", "x", "y", "callbacks", "validation_data", "verbose", "sample_weight"}
)
# Keras' batch size when arrays are given without one.
_KERAS_DEFAULT_BATCH_SIZE = 32
# EarlyStopping's settings logged as params, under MLflow's names.
_EARLY_STOPPING_PARAMS = ("monitor", "min_delta", "patience", "baseline", "restore_best_weights")
# Rows of the training input kept as the example a signature is inferred from.
_EXAMPLE_ROWS = 5


class KerasIntegration(Integration):
    """Autologging for Keras 3 (``keras.Model.fit``)."""

    name = "keras"
    modules = ("keras",)
    distribution = "keras"
    min_version = "3.0"
    max_version = "3.15"

    def setup(self, patcher: Patcher, module: Any) -> None:
        """Patch ``keras.Model.fit`` (every model class inherits it)."""
        patcher.wrap(module.Model, "fit", _fit)


INTEGRATION = KerasIntegration()


def autolog(
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    log_models: bool = True,
    log_model_signatures: bool = True,
    save_exported_model: bool = False,
    log_datasets: bool = True,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    save_model_kwargs: Mapping[str, Any] | None = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Turn on (or off, ``disable=True``) autologging of ``keras.Model.fit`` (Keras 3, any
    backend); see the module docstring for what is logged.

    ``log_every_epoch`` logs the metrics at each epoch's end (step = epoch);
    ``log_every_n_steps`` logs them every n optimizer steps instead (step = global step) and,
    as in MLflow, needs ``log_every_epoch=False``. ``log_models`` logs the trained model in the
    ``.keras`` format, registered as ``registered_model_name`` if given, with a signature
    (``log_model_signatures``) and an input example (``log_input_examples``) taken from the
    first training rows. ``save_exported_model`` (a TensorFlow SavedModel export) and
    ``save_model_kwargs`` are MLflow's and not supported. The other options are the ones every
    framework takes (:func:`runlab.autolog`). Keras is not imported by this call.
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    if not disable:
        _check_options(log_every_epoch, log_every_n_steps, save_exported_model, save_model_kwargs)
    options = AutologOptions.build(**arguments)
    INTEGRATION.configure(options)


def _check_options(
    log_every_epoch: bool,
    log_every_n_steps: int | None,
    save_exported_model: bool,
    save_model_kwargs: Mapping[str, Any] | None,
) -> None:
    # Refused here, when autologging is set up, rather than in the middle of a training.
    if not isinstance(log_every_epoch, bool):
        raise InvalidParameter(f"log_every_epoch must be True or False, got {log_every_epoch!r}.")
    if log_every_n_steps is not None and (
        isinstance(log_every_n_steps, bool)
        or not isinstance(log_every_n_steps, int)
        or log_every_n_steps < 1
    ):
        raise InvalidParameter(
            f"log_every_n_steps must be a positive whole number or None, got {log_every_n_steps!r}."
        )
    if log_every_epoch and log_every_n_steps is not None:
        raise InvalidParameter(
            "log_every_n_steps logs the metrics every n steps instead of every epoch: pass "
            "log_every_epoch=False with it (the same rule as MLflow's)."
        )
    if not log_every_epoch and log_every_n_steps is None:
        raise InvalidParameter(
            "With log_every_epoch=False, log_every_n_steps must say how often to log metrics."
        )
    if save_exported_model:
        raise InvalidParameter(
            "save_exported_model=True (a TensorFlow SavedModel export) is not supported: "
            "runlab logs Keras models in the native .keras format."
        )
    if save_model_kwargs:
        raise InvalidParameter(
            "save_model_kwargs is not supported: runlab saves Keras models with "
            "runlab.keras.log_model's defaults."
        )


@functools.lru_cache(maxsize=8)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def _fit(call: PatchedCall, model: Any, *args: Any, **kwargs: Any) -> Any:
    """Around ``keras.Model.fit``: log the training into a run, then return its history."""
    from runlab.autologging.keras_callback import RunlabCallback, early_stopping_of

    integration = call.integration
    signature = _signature(call.target)
    bound = signature.bind(model, *args, **kwargs)
    given = list(_callbacks(bound.arguments.get("callbacks")))
    options: AutologOptions = call.options
    with integration.training_run() as run:
        early = early_stopping_of(given)
        with integration.guard():
            run.log_params(_params(model, signature, bound, early))
        with integration.guard():
            _log_datasets(run, bound.arguments)
        example = None
        if options.log_models:
            with integration.guard():
                example = _example(bound.arguments.get("x"))
        callback = RunlabCallback.create(
            run, options.get("log_every_epoch", True), options.get("log_every_n_steps")
        )
        # A copy: the caller's list is reused for their next fit() and must stay theirs.
        bound.arguments["callbacks"] = [*given, callback]
        history = call.original(*bound.args, **bound.kwargs)
        with integration.guard():
            callback.log_early_stopping(early, history)
        if options.log_models:
            with integration.guard():
                _log_model(run, model, example)
        return history


def _callbacks(value: Any) -> list[Any]:
    if value is None:
        return []
    # A keras CallbackList holds its callbacks in .callbacks; a list or tuple is used as is.
    inner = getattr(value, "callbacks", value)
    return list(inner) if isinstance(inner, (list, tuple)) else [inner]


def _params(
    model: Any, signature: inspect.Signature, bound: inspect.BoundArguments, early: Any
) -> dict[str, Any]:
    """fit()'s settings, the optimizer's configuration and EarlyStopping's settings."""
    full = signature.bind(*bound.args, **bound.kwargs)
    full.apply_defaults()
    params: dict[str, Any] = {}
    for name, value in full.arguments.items():
        kind = signature.parameters[name].kind
        if name in _UNLOGGED or kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        params[name] = value
    params["batch_size"] = _batch_size(full.arguments.get("batch_size"), full.arguments.get("x"))
    if params["batch_size"] is None:
        del params["batch_size"]
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and callable(getattr(optimizer, "get_config", None)):
        for key, value in optimizer.get_config().items():
            params[f"optimizer_{key}"] = value
        # The config's "name" is the object's name, made unique per process ("adam_1" for the
        # second Adam): the class says which optimizer it is, the same in every run.
        params["optimizer_name"] = type(optimizer).__name__
    if early is not None:
        for name in _EARLY_STOPPING_PARAMS:
            params[name] = getattr(early, name, None)
    return params


def _batch_size(given: Any, x: Any) -> Any:
    """The batch size Keras trains with: given, the data's own, or Keras' default for arrays."""
    if given is not None:
        return given
    own = getattr(x, "batch_size", None)
    if isinstance(own, int):
        return own  # a torch DataLoader, a keras PyDataset with one
    if hasattr(x, "shape") or isinstance(x, (list, tuple, dict)):
        return _KERAS_DEFAULT_BATCH_SIZE
    return None  # a generator or dataset that batches itself: Keras does not know either


def _log_datasets(run: TrainingRun, arguments: Mapping[str, Any]) -> None:
    run.log_dataset(arguments.get("x"), arguments.get("y"), context="train")
    validation = arguments.get("validation_data")
    if isinstance(validation, (tuple, list)) and validation:
        targets = validation[1] if len(validation) > 1 else None
        run.log_dataset(validation[0], targets, context="eval")


def _example(x: Any) -> Any:
    """A copy of the first training rows, when the input is one array or frame."""
    if type(x).__module__.startswith("pandas") and hasattr(x, "iloc"):
        return x.iloc[:_EXAMPLE_ROWS].copy()
    if type(x).__module__ == "numpy" and getattr(x, "ndim", 0) >= 1:
        return x[:_EXAMPLE_ROWS].copy()
    return None  # tensors, generators, multi-input dicts: no example (and no signature)


def _log_model(run: TrainingRun, model: Any, example: Any) -> None:
    from runlab.models.flavors.keras import log_model

    snapshot = _Snapshot(model)

    def save(snap: _Snapshot, **kwargs: Any) -> Any:
        return log_model(snap.model(), **kwargs)

    def predict(rows: Any) -> Any:
        return snapshot.model().predict(rows, verbose=0)

    run.log_model(save, snapshot, example=example, predict=predict)


class _Snapshot:
    """The trained model as it was when ``fit`` returned, built in the background.

    Taking it costs one copy of the weights (and of the optimizer's state) in memory; the model
    object is rebuilt from the live one later, off the training thread, and given those
    weights, so further training of the live model after ``fit`` does not leak into the model
    logged for this run.
    """

    def __init__(self, model: Any) -> None:
        import numpy as np

        self._live = model
        self._weights = [np.array(value, copy=True) for value in model.get_weights()]
        optimizer = getattr(model, "optimizer", None)
        variables = list(getattr(optimizer, "variables", None) or [])
        self._optimizer_state = [np.array(_numpy(v), copy=True) for v in variables]
        self._built: Any = None
        self._lock = threading.Lock()

    def model(self) -> Any:
        """The copy of the model with the weights it had when ``fit`` ended."""
        with self._lock:
            if self._built is None:
                self._built = self._build()
            return self._built

    def _build(self) -> Any:
        # A Keras model deep-copies through its own serialization (config, compile settings,
        # optimizer), which works for subclassed models too; the weights read from the live
        # model may have moved on, so the snapshot's are put back.
        clone = copy.deepcopy(self._live)
        clone.set_weights(self._weights)
        optimizer = getattr(clone, "optimizer", None)
        variables = list(getattr(optimizer, "variables", None) or [])
        if len(variables) == len(self._optimizer_state) and all(
            tuple(v.shape) == value.shape
            for v, value in zip(variables, self._optimizer_state, strict=True)
        ):
            for variable, value in zip(variables, self._optimizer_state, strict=True):
                variable.assign(value)
        return clone


def _numpy(variable: Any) -> Any:
    to_numpy = getattr(variable, "numpy", None)
    return to_numpy() if callable(to_numpy) else variable
