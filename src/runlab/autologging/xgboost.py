"""XGBoost autologging: ``runlab.xgboost.autolog()`` (MLflow's ``mlflow.xgboost.autolog``).

``xgboost.train`` and the ``fit`` of the scikit-learn API (``XGBClassifier``, ``XGBRegressor``,
``XGBRanker``, ``XGBRFClassifier``, ``XGBRFRegressor`` and subclasses) are patched when XGBoost
is imported. Each training logs, into the active run or a run it starts (tagged
``mlflow.autologging=xgboost``):

- params: the booster ``params`` given to ``xgboost.train`` and its other settings
  (``num_boost_round``, ``early_stopping_rounds``, ``maximize``, ``verbose_eval``), defaults
  included; for the scikit-learn API, the params it hands to ``xgboost.train``;
- metrics: ``<eval name>-<metric>`` for every ``evals`` entry (``validation_0``, … for the
  scikit-learn API's ``eval_set``) at step = boosting round, as the rounds run; with early
  stopping, ``stopped_iteration`` (the last round) and ``best_iteration``, and the best round's
  metrics again at the step after the last round;
- artifacts: ``feature_importance_<type>.json`` and ``feature_importance_<type>.png`` for each
  of ``importance_types`` (default ``["weight"]``);
- the model through :func:`runlab.xgboost.log_model` (the ``Booster``, or the scikit-learn
  estimator), in ``model_format``, with a signature from a few training rows;
- datasets: the training and evaluation data (contexts ``train`` and ``eval``).

The scikit-learn API's ``fit`` calls ``xgboost.train`` (as ``xgboost.sklearn.train``): the two
patches share one run and the training is logged once. The metrics are queued from a
``TrainingCallback`` put in front of the call's callbacks (the user's list is not changed).
The model is copied when training ends (its serialized bytes: a few milliseconds per hundred
trees), and loaded, measured and saved from that copy in the background, so the returned model
may be trained further without changing what is logged.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from runlab.autologging.boosting import (
    EXAMPLE_ROWS,
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
from runlab.autologging.xgboost_data import dataset_logger, example_rows, matrix_for
from runlab.errors import InvalidParameter

__all__ = ["INTEGRATION", "XGBoostIntegration", "autolog"]

# xgboost.train's arguments that are data, functions or plumbing, not settings.
_UNLOGGED = frozenset(
    {
        "params",
        "dtrain",
        "evals",
        "obj",
        "feval",
        "custom_metric",
        "evals_result",
        "xgb_model",
        "callbacks",
        "learning_rates",
    }
)
_MODEL_FORMATS = ("ubj", "json")
_DEFAULT_IMPORTANCE_TYPES = ("weight",)


class XGBoostIntegration(Integration):
    """Autologging for XGBoost (``xgboost.train`` and the scikit-learn API)."""

    name = "xgboost"
    modules = ("xgboost",)
    distribution = "xgboost"
    min_version = "2.0"
    max_version = "3.2"

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        """Patch ``train`` where it is called from, and every scikit-learn-API ``fit``."""
        # xgboost.sklearn calls the name it imported, so each module's name is patched.
        for name in ("xgboost.training", "xgboost", "xgboost.sklearn"):
            owner = sys.modules.get(name)
            if owner is not None and callable(vars(owner).get("train")):
                patcher.wrap(owner, "train", _train, nested=True)
        sklearn_api = sys.modules.get("xgboost.sklearn")
        if sklearn_api is None:
            return
        base = getattr(sklearn_api, "XGBModel", None)
        for cls in list(vars(sklearn_api).values()):
            ours = isinstance(cls, type) and cls.__module__ == sklearn_api.__name__
            if ours and base is not None and issubclass(cls, base) and "fit" in vars(cls):
                patcher.wrap(cls, "fit", _fit)


INTEGRATION = XGBoostIntegration()


def autolog(
    importance_types: Iterable[str] | str | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Turn XGBoost autologging on (or off, ``disable=True``); see the module's documentation.

    ``importance_types`` are the ``Booster.get_score`` types logged as JSON and PNG (default
    ``["weight"]``); ``model_format`` is the model file's format, ``"ubj"`` or ``"json"``. The
    other options are the ones every framework takes (:func:`runlab.autolog`).
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    if importance_types is None:
        types = list(_DEFAULT_IMPORTANCE_TYPES)
    elif isinstance(importance_types, str):
        types = [importance_types]
    else:
        types = [str(kind) for kind in importance_types]
    if model_format not in _MODEL_FORMATS:
        raise InvalidParameter(
            f"model_format must be one of {', '.join(_MODEL_FORMATS)}, got {model_format!r}."
        )
    arguments["importance_types"] = types
    options = AutologOptions.build(**arguments)
    INTEGRATION.configure(options)


# -- the scikit-learn API ------------------------------------------------------------------------
def _fit(call: PatchedCall, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """``XGBModel.fit``: one run; the nested ``train`` logs into it, the estimator is the model."""
    bound = bind(call.target, (estimator, *args), kwargs)
    if bound is None:
        return call.original(estimator, *args, **kwargs)
    arguments = bound.arguments
    with INTEGRATION.training_run() as run:
        state = call.state
        state["run"] = run
        state["sklearn"] = True
        features = arguments.get("X")
        example = head(features) if wants_example(run) else None
        try:
            result = call.original(estimator, *args, **kwargs)
        finally:
            _log_sklearn_datasets(run, arguments)
        booster = state.get("snapshot")
        if booster is not None:
            # A shallow copy holds the estimator's settings as they are now; its booster is the
            # copy the nested train took (loaded in the background before the model is saved).
            model = copy.copy(estimator)
            model._Booster = booster
            run.log_model(
                _log_model(),
                model,
                example=example,
                predict=model.predict,
                model_format=run.options.get("model_format", "ubj"),
            )
        return result


def _log_sklearn_datasets(run: TrainingRun, arguments: Mapping[str, Any]) -> None:
    features = arguments.get("X")
    run.log_dataset(features, arguments.get("y"), context="train")
    for i, pair in enumerate(arguments.get("eval_set") or ()):
        eval_features, eval_targets = pair[0], pair[1]
        if eval_features is features:
            continue  # the training data, watched: recorded once
        run.log_dataset(eval_features, eval_targets, context="eval", name=f"validation_{i}")


# -- xgboost.train -------------------------------------------------------------------------------
def _train(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
    return train_around(INTEGRATION, _logged_train, call, *args, **kwargs)


def _logged_train(call: PatchedCall, run: TrainingRun, bound: Any) -> Any:
    import xgboost as xgb

    state = call.state
    sklearn = bool(state.get("sklearn"))
    arguments = bound.arguments
    try:
        run.log_params(params_to_log(call.target, bound, _UNLOGGED, _params(arguments)))
    except Exception as err:  # e.g. a param the user's run has with another value: go on
        INTEGRATION.report(err)
    metrics = IterationMetrics(run)
    user_callbacks = list(arguments.get("callbacks") or ())
    # First, so that it sees each round before a callback (EarlyStopping) ends training.
    arguments["callbacks"] = [_recorder_class(xgb)(metrics), *user_callbacks]
    dtrain = arguments.get("dtrain")
    example = None
    if not sklearn and wants_example(run):
        example = example_rows(xgb, dtrain, EXAMPLE_ROWS)
    state["training"] = True
    try:
        booster = call.original(*bound.args, **bound.kwargs)
    finally:
        state["training"] = False
        if not sklearn:
            _log_native_datasets(xgb, run, dtrain, arguments.get("evals"))
    early_stopping = bool(arguments.get("early_stopping_rounds")) or any(
        isinstance(cb, xgb.callback.EarlyStopping) for cb in user_callbacks
    )
    if early_stopping and metrics.last_step is not None:
        best = _best_iteration(booster)
        if best is not None:
            log_early_stopping(run, metrics, stopped=metrics.last_step, best=best, best_step=best)
    snapshot = _snapshot(xgb, run, booster)
    state["snapshot"] = snapshot
    log_importance(
        run,
        run.options.get("importance_types", _DEFAULT_IMPORTANCE_TYPES),
        lambda kind: snapshot.get_score(importance_type=kind),
    )
    if not sklearn:
        run.log_model(
            _log_model(),
            snapshot,
            example=example,
            predict=lambda rows: snapshot.predict(matrix_for(xgb, snapshot, rows)),
            model_format=run.options.get("model_format", "ubj"),
        )
    return booster


def _params(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The booster params as a dict (XGBoost also takes a list of pairs, keys repeated)."""
    params = arguments.get("params") or {}
    if isinstance(params, Mapping):
        return dict(params)
    grouped: dict[str, Any] = {}
    for key, value in params:
        if key in grouped:
            previous = grouped[key]
            grouped[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            grouped[key] = value
    return grouped


def _best_iteration(booster: Any) -> int | None:
    try:
        return int(booster.best_iteration)
    except AttributeError:  # XGBoost sets it only when early stopping ran
        return None


def _snapshot(xgb: Any, run: TrainingRun, booster: Any) -> Any:
    """A copy of ``booster`` for the background: its bytes now, loaded in the background.

    Serializing is the only cost on the caller's thread (about half of ``Booster.copy()``);
    the copy is loaded by a background task queued before every task that reads it.
    """
    raw = booster.save_raw("ubj")
    snapshot = xgb.Booster()
    run.defer(lambda: snapshot.load_model(raw))
    return snapshot


def _log_native_datasets(xgb: Any, run: TrainingRun, dtrain: Any, evals: Any) -> None:
    dataset_logger(xgb, run, dtrain, "train", None)
    for matrix, name in evals or ():
        if matrix is not dtrain:
            dataset_logger(xgb, run, matrix, "eval", str(name))


def _log_model() -> Any:
    from runlab.models.flavors.xgboost import log_model

    return log_model


_recorders: dict[int, type] = {}


def _recorder_class(xgb: Any) -> type:
    """The TrainingCallback that feeds :class:`IterationMetrics` (XGBoost checks the type)."""
    cls = _recorders.get(id(xgb.callback.TrainingCallback))
    if cls is not None:
        return cls

    class RunlabMetrics(xgb.callback.TrainingCallback):
        """Queues each round's evaluation results as ``<eval name>-<metric>`` metrics."""

        def __init__(self, metrics: IterationMetrics) -> None:
            super().__init__()
            self.metrics = metrics
            self.offset = 0

        def before_training(self, model: Any) -> Any:
            try:
                # Steps count the booster's rounds, so continued training goes on from its last.
                self.offset = model.num_boosted_rounds()
            except Exception as err:
                self.metrics.fail(err)
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                values = {
                    metric_key(f"{data}-{metric}"): scores[-1]
                    for data, by_metric in evals_log.items()
                    for metric, scores in by_metric.items()
                    if scores
                }
                self.metrics.record(epoch + self.offset, values)
            except Exception as err:
                self.metrics.fail(err)
            return False

    _recorders[id(xgb.callback.TrainingCallback)] = RunlabMetrics
    return RunlabMetrics
