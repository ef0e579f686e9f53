"""LightGBM autologging: ``runlab.lightgbm.autolog()`` (MLflow's ``mlflow.lightgbm.autolog``).

``lightgbm.train``, ``lightgbm.cv`` and the ``fit`` of the scikit-learn API (``LGBMClassifier``,
``LGBMRegressor``, ``LGBMRanker`` and subclasses) are patched when LightGBM is imported. Each
training logs, into the active run or a run it starts (tagged ``mlflow.autologging=lightgbm``):

- params: the ``params`` given to ``lightgbm.train`` and its other settings
  (``num_boost_round``, ``keep_training_booster``), defaults included; for the scikit-learn
  API, the params it hands to ``lightgbm.train``;
- metrics: ``<valid name>-<metric>`` for every ``valid_sets`` entry (``training`` for the
  training set, ``valid_0``, … when unnamed) at step = boosting round (from 0), as the rounds
  run; with early stopping, ``stopped_iteration`` (rounds run) and ``best_iteration`` (both
  counted from 1, as LightGBM does), and the best round's metrics again at the step after the
  last round;
- artifacts: ``feature_importance_split`` and ``feature_importance_gain``, as ``.json`` and
  ``.png``;
- the model through :func:`runlab.lightgbm.log_model` (the ``Booster``, or the scikit-learn
  estimator), with a signature from a few training rows;
- datasets: the training and validation data when LightGBM holds them as arrays or frames
  (contexts ``train`` and ``eval``).

``lightgbm.cv`` logs its params, and per round the mean and standard deviation over the folds
as ``<valid name>-<metric>-mean`` and ``-stdv`` (``valid-l2-mean``), with early stopping's
metrics likewise; it trains no single model, so none is logged.

The scikit-learn API's ``fit`` calls ``lightgbm.train``: the two patches share one run and the
training is logged once (MLflow logs it twice). The metrics are queued from a callback added to
a copy of the call's callbacks, ordered to run before early stopping's. The model is copied
when training ends (LightGBM's text model, a few milliseconds per hundred trees) and saved and
measured from the copy in the background, so the returned model may change without changing
what is logged.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from runlab.autologging.boosting import (
    IterationMetrics,
    bind,
    head,
    log_early_stopping,
    log_importance,
    metric_key,
    params_to_log,
    train_around,
    wants_example,
)
from runlab.autologging.integration import Integration
from runlab.autologging.options import AutologOptions
from runlab.autologging.patching import PatchedCall, Patcher
from runlab.autologging.training_run import TrainingRun

__all__ = ["INTEGRATION", "LightGBMIntegration", "autolog"]

# lightgbm.train's and lightgbm.cv's arguments that are data, functions or plumbing.
_UNLOGGED = frozenset(
    {
        "params",
        "train_set",
        "valid_sets",
        "valid_names",
        "fobj",
        "feval",
        "init_model",
        "evals_result",
        "learning_rates",
        "callbacks",
        "folds",
        "fpreproc",
    }
)
_IMPORTANCE_TYPES = ("split", "gain")
# Names LightGBM takes for the number of rounds in params (then num_boost_round is not used).
_ROUNDS_ALIASES = frozenset(
    {
        "num_iterations",
        "num_iteration",
        "n_iter",
        "num_tree",
        "num_trees",
        "num_round",
        "num_rounds",
        "nrounds",
        "num_boost_round",
        "n_estimators",
        "max_iter",
    }
)
# Where in the callback order ours runs: after the user's (negative by default) and
# record_evaluation (20), before early_stopping (30), which ends training by raising.
_RECORDER_ORDER = 25


class LightGBMIntegration(Integration):
    """Autologging for LightGBM (``lightgbm.train``, ``lightgbm.cv``, the scikit-learn API)."""

    name = "lightgbm"
    modules = ("lightgbm",)
    distribution = "lightgbm"
    min_version = "4.0"
    max_version = "4.7"

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        """Patch ``train`` and ``cv`` where they are called from, and every scikit-learn ``fit``."""
        # lightgbm.sklearn calls the name it imported, so each module's name is patched.
        for name in ("lightgbm.engine", "lightgbm", "lightgbm.sklearn"):
            owner = sys.modules.get(name)
            if owner is None:
                continue
            if callable(vars(owner).get("train")):
                patcher.wrap(owner, "train", _train, nested=True)
            if callable(vars(owner).get("cv")):
                patcher.wrap(owner, "cv", _cv)
        sklearn_api = sys.modules.get("lightgbm.sklearn")
        base = getattr(sklearn_api, "LGBMModel", None)
        if sklearn_api is None or base is None:
            return
        for cls in list(vars(sklearn_api).values()):
            ours = isinstance(cls, type) and cls.__module__ == sklearn_api.__name__
            if ours and issubclass(cls, base) and "fit" in vars(cls):
                patcher.wrap(cls, "fit", _fit)


INTEGRATION = LightGBMIntegration()


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Turn LightGBM autologging on (or off, ``disable=True``); see the module's documentation.

    The options are the ones every framework takes (:func:`runlab.autolog`).
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    options = AutologOptions.build(**arguments)
    INTEGRATION.configure(options)


# -- the scikit-learn API ------------------------------------------------------------------------
def _fit(call: PatchedCall, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """``LGBMModel.fit``: one run; the nested ``train`` logs into it, the estimator is the model."""
    bound = bind(call.target, (estimator, *args), kwargs)
    if bound is None:
        return call.original(estimator, *args, **kwargs)
    arguments = bound.arguments
    with INTEGRATION.training_run() as run:
        state = call.state
        state["run"] = run
        state["sklearn"] = True
        example = head(arguments.get("X")) if wants_example(run) else None
        result = call.original(estimator, *args, **kwargs)
        booster = state.get("snapshot")
        if booster is not None:
            # A shallow copy holds the estimator's fitted attributes as they are now, with the
            # copy of its booster the nested train took.
            model = copy.copy(estimator)
            model._Booster = booster
            run.log_model(_log_model(), model, example=example, predict=model.predict)
        return result


# -- lightgbm.train ------------------------------------------------------------------------------
def _train(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
    return train_around(INTEGRATION, _logged_train, call, *args, **kwargs)


def _logged_train(call: PatchedCall, run: TrainingRun, bound: Any) -> Any:
    import lightgbm as lgb

    state = call.state
    sklearn = bool(state.get("sklearn"))
    arguments = bound.arguments
    _log_params(run, call, bound)
    train_set = arguments.get("train_set")
    # LightGBM frees a Dataset's raw data once it is built (free_raw_data): take it now.
    inputs = _inputs(train_set, arguments.get("valid_sets"), arguments.get("valid_names"))
    example = None
    if not sklearn and wants_example(run):
        example = head(getattr(train_set, "data", None))
    metrics = IterationMetrics(run)
    recorder = _Recorder(metrics)
    arguments["callbacks"] = [*(arguments.get("callbacks") or ()), recorder]
    state["training"] = True
    try:
        booster = call.original(*bound.args, **bound.kwargs)
    finally:
        state["training"] = False
        for features, targets, context, name in inputs:
            run.log_dataset(features, targets, context=context, name=name)
    # LightGBM's own rule: best_iteration is set (> 0) only when early stopping ran.
    best = int(getattr(booster, "best_iteration", 0) or 0)
    if best > 0 and metrics.last_step is not None:
        last = metrics.last_step
        log_early_stopping(run, metrics, stopped=last + 1, best=best, best_step=best - 1)
    snapshot = _snapshot(lgb, booster)
    state["snapshot"] = snapshot
    log_importance(run, _IMPORTANCE_TYPES, lambda kind: _importance(snapshot, kind))
    if not sklearn:
        run.log_model(_log_model(), snapshot, example=example, predict=snapshot.predict)
    return booster


# -- lightgbm.cv ---------------------------------------------------------------------------------
def _cv(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
    bound = bind(call.target, args, kwargs)
    if bound is None:
        return call.original(*args, **kwargs)
    with INTEGRATION.training_run() as run:
        arguments = bound.arguments
        _log_params(run, call, bound)
        train_set = arguments.get("train_set")
        inputs = _inputs(train_set, None, None)
        metrics = IterationMetrics(run)
        recorder = _Recorder(metrics)
        user_callbacks = list(arguments.get("callbacks") or ())
        arguments["callbacks"] = [*user_callbacks, recorder]
        try:
            result = call.original(*bound.args, **bound.kwargs)
        finally:
            for features, targets, context, name in inputs:
                run.log_dataset(features, targets, context=context, name=name)
        if metrics.last_step is not None and (
            recorder.early_stopping or any(_is_early_stopping(cb) for cb in user_callbacks)
        ):
            # With early stopping, cv's results end at the best round.
            rounds = [len(v) for v in result.values() if isinstance(v, list)]
            if rounds:
                best = rounds[0]
                last = metrics.last_step
                log_early_stopping(run, metrics, stopped=last + 1, best=best, best_step=best - 1)
        return result


# -- shared pieces -------------------------------------------------------------------------------
def _log_params(run: TrainingRun, call: PatchedCall, bound: Any) -> None:
    params = dict(bound.arguments.get("params") or {})
    unlogged = set(_UNLOGGED)
    if _ROUNDS_ALIASES & set(params):
        unlogged.add("num_boost_round")  # params say how many rounds; the argument is ignored
    try:
        run.log_params(params_to_log(call.target, bound, unlogged, params))
    except Exception as err:  # e.g. a param the user's run has with another value: go on
        INTEGRATION.report(err)


def _inputs(train_set: Any, valid_sets: Any, valid_names: Any) -> list[tuple[Any, Any, str, Any]]:
    """(features, targets, context, name) of the training and validation Datasets."""
    found: list[tuple[Any, Any, str, Any]] = [
        (getattr(train_set, "data", None), getattr(train_set, "label", None), "train", None)
    ]
    if valid_sets is None:
        return found
    sets = [valid_sets] if not isinstance(valid_sets, (list, tuple)) else list(valid_sets)
    names = [valid_names] if isinstance(valid_names, str) else list(valid_names or ())
    for i, valid in enumerate(sets):
        if valid is train_set:
            continue  # the training data, watched: recorded once
        name = names[i] if i < len(names) else f"valid_{i}"
        found.append((getattr(valid, "data", None), getattr(valid, "label", None), "eval", name))
    return found


def _snapshot(lgb: Any, booster: Any) -> Any:
    """A copy of ``booster`` through LightGBM's text model (every round, best one kept)."""
    snapshot = lgb.Booster(model_str=booster.model_to_string(num_iteration=-1))
    # So that the copy saves, predicts and measures importance as the original does.
    snapshot.best_iteration = booster.best_iteration
    return snapshot


def _importance(booster: Any, kind: str) -> dict[str, Any]:
    values = booster.feature_importance(importance_type=kind)
    return dict(zip(booster.feature_name(), values.tolist(), strict=False))


def _is_early_stopping(callback: Any) -> bool:
    import lightgbm as lgb

    cls = getattr(lgb.callback, "_EarlyStoppingCallback", None)
    return cls is not None and isinstance(callback, cls)


def _log_model() -> Any:
    from runlab.models.flavors.lightgbm import log_model

    return log_model


class _Recorder:
    """The callback that queues each round's evaluation results as metrics.

    ``lightgbm.train`` reports ``(data name, metric, value, higher is better)``; ``lightgbm.cv``
    adds the standard deviation over the folds, logged as ``-stdv`` next to the ``-mean``.
    """

    def __init__(self, metrics: IterationMetrics) -> None:
        self.metrics = metrics
        # LightGBM sorts callbacks by this attribute.
        self.order = _RECORDER_ORDER
        self.before_iteration = False
        #: Whether params turned early stopping on (seen in the params LightGBM resolved).
        self.early_stopping = False

    def __call__(self, env: Any) -> None:
        try:
            if env.iteration == env.begin_iteration:
                self.early_stopping = int(env.params.get("early_stopping_round") or 0) > 0
            values: dict[str, float] = {}
            for result in env.evaluation_result_list or ():
                data, metric, value = result[0], result[1], result[2]
                if data == "cv_agg":  # LightGBM before 4.6: "<data> <metric>"
                    data, _, metric = str(metric).partition(" ")
                key = metric_key(f"{data}-{metric}")
                if len(result) > 4:
                    values[f"{key}-mean"] = value
                    values[f"{key}-stdv"] = result[4]
                else:
                    values[key] = value
            self.metrics.record(env.iteration, values)
        except Exception as err:
            self.metrics.fail(err)
