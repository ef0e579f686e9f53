"""Post-training metrics: evaluations of an autologged model, logged into its training run.

After an autologged ``fit()``, the fitted estimator is remembered (weakly) with its run. Then:

* ``model.score(X_test, y_test)`` logs ``<EstimatorClass>_score_X_test``;
* the predictions ``model.predict(X_test)`` (``predict_proba``, ``predict_log_proba``,
  ``decision_function``, ``transform``) returns are remembered (weakly) with the run and the
  name of the data, and a ``sklearn.metrics`` function given them, or a numpy view of them such
  as ``proba[:, 1]``, logs ``<function name>_X_test``;
* with ``log_datasets``, the data a tracked model predicts or is scored on is recorded as a
  dataset input of the run with context ``eval`` (each object once), as MLflow does.

Names are MLflow's: the data is named by the variable that holds it in the outermost calling
frame that has one (``unknown_dataset`` if none does); another object under a name already used
becomes ``X_test-2``; the second call of one metric function or ``score`` in a run becomes
``accuracy_score-2_X_test``. ``metric_info.json`` records the call behind each metric. The
metrics go into the training run even after it has ended, through the background writer.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.patching import PatchedCall
    from runlab.autologging.sklearn import SklearnIntegration

__all__ = ["TRACKER", "Tracker", "metric_around", "predict_around", "score_around"]

UNKNOWN_DATASET = "unknown_dataset"
METRIC_INFO_FILE = "metric_info.json"
#: Frames of these packages are skipped when looking for the caller's variable names.
_INTERNAL_PREFIXES = ("runlab.", "sklearn.")


@dataclass
class _Book:
    """One run's post-training bookkeeping."""

    #: Calls so far per metric name (``accuracy_score``, ``LogisticRegression_score``).
    calls: dict[str, int] = field(default_factory=dict)
    #: Variable name -> tests for the objects seen under it, in order (weakly, or by id).
    datasets: dict[str, list[Callable[[Any], bool]]] = field(default_factory=dict)
    #: Metric key -> the call that produced it (metric_info.json).
    info: dict[str, str] = field(default_factory=dict)
    #: The data logged as the run's evaluation datasets so far.
    evaluated: list[Callable[[Any], bool]] = field(default_factory=list)


_Entry = tuple["weakref.ref[Any]", str, str]  # (the prediction, run id, dataset name)


class Tracker:
    """Which models belong to which run, and which predictions came from them."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._models: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        #: id(prediction) -> entry; id(memory owner of a prediction that is a view) -> entry.
        self._predictions: dict[int, _Entry] = {}
        self._owners: dict[int, _Entry] = {}
        self._books: dict[str, _Book] = {}

    def track(self, model: Any, run_id: str) -> None:
        """Remember that ``model`` was trained in ``run_id`` (a refit moves it to the new run)."""
        try:
            with self._lock:
                self._models[model] = run_id
        except TypeError:
            pass  # an estimator that cannot be weakly referenced is not followed

    def run_of(self, model: Any) -> str | None:
        """The run ``model`` was last autologged in, if it was."""
        try:
            with self._lock:
                return self._models.get(model)
        except TypeError:
            return None

    def dataset_name(self, run_id: str, data: Any, frame: FrameType | None) -> str:
        """The name of ``data`` in the run's metric keys (``X_test``, ``X_test-2``, …)."""
        variable = variable_name(data, frame)
        if variable is None:
            return UNKNOWN_DATASET
        with self._lock:
            seen = self._book(run_id).datasets.setdefault(variable, [])
            for index, same in enumerate(seen):
                if same(data):
                    return _numbered(variable, index + 1)
            seen.append(_sameness(data))
            return _numbered(variable, len(seen))

    def first_evaluation(self, run_id: str, data: Any) -> bool:
        """Whether ``data`` is evaluated for the first time in the run (and note that it is)."""
        if data is None:
            return False
        with self._lock:
            evaluated = self._book(run_id).evaluated
            if any(same(data) for same in evaluated):
                return False
            evaluated.append(_sameness(data))
            return True

    def remember(self, prediction: Any, run_id: str, dataset: str) -> None:
        """Follow a prediction of a tracked model (for as long as it lives)."""
        key = id(prediction)
        try:
            ref = weakref.ref(prediction, lambda r: _drop(self._predictions, key, r))
        except TypeError:
            return  # a list or a number: not followed
        entry = (ref, run_id, dataset)
        with self._lock:
            self._predictions[key] = entry
            owner = getattr(prediction, "base", None)
            if owner is not None and hasattr(owner, "shape"):
                owner_key = id(owner)
                try:
                    owner_ref = weakref.ref(owner, lambda r: _drop(self._owners, owner_key, r))
                except TypeError:
                    return
                self._owners[owner_key] = (owner_ref, run_id, dataset)

    def find(self, values: Iterable[Any]) -> tuple[str, str] | None:
        """(run id, dataset name) of the first value that is a followed prediction (or a view)."""
        with self._lock:
            for value in values:
                for index, candidate in ((self._predictions, value), *self._views(value)):
                    entry = index.get(id(candidate))
                    if entry is not None and entry[0]() is candidate:
                        return entry[1], entry[2]
        return None

    def _views(self, value: Any) -> list[tuple[dict[int, _Entry], Any]]:
        base = getattr(value, "base", None)
        if base is None or not hasattr(value, "shape"):
            return []
        # numpy points a view at the array that owns the memory: the prediction itself, or
        # what the prediction is itself a view of.
        return [(self._predictions, base), (self._owners, base)]

    def metric_key(
        self, run_id: str, metric: str, dataset: str, command: str
    ) -> tuple[str, dict[str, str]]:
        """The next key for ``metric`` on ``dataset`` in the run, and the run's call records."""
        with self._lock:
            book = self._book(run_id)
            count = book.calls.get(metric, 0) + 1
            book.calls[metric] = count
            key = f"{_numbered(metric, count)}_{dataset}"
            book.info[key] = command
            return key, dict(book.info)

    def _book(self, run_id: str) -> _Book:
        book = self._books.get(run_id)
        if book is None:
            book = self._books[run_id] = _Book()
        return book


def _drop(index: dict[int, _Entry], key: int, ref: weakref.ref[Any]) -> None:
    # Called as the object dies, before its id can be reused; no lock (it may run anywhere).
    entry = index.get(key)
    if entry is not None and entry[0] is ref:
        index.pop(key, None)


def _sameness(value: Any) -> Callable[[Any], bool]:
    """A test for "is ``value``" that does not keep it alive (by id if it has no weak refs)."""
    try:
        ref = weakref.ref(value)
    except TypeError:
        ident = id(value)
        return lambda other: id(other) == ident
    return lambda other: ref() is other


def _numbered(name: str, count: int) -> str:
    return name if count == 1 else f"{name}-{count}"


#: The tracker of this process.
TRACKER = Tracker()


# -- the patches ---------------------------------------------------------------------------------
def _enabled(integration: SklearnIntegration) -> bool:
    options = integration.options
    return options is not None and bool(options.get("log_post_training_metrics", True))


def predict_around(
    integration: SklearnIntegration, call: PatchedCall, model: Any, *args: Any, **kwargs: Any
) -> Any:
    """A prediction method: a tracked model's result is followed, named after its input."""
    result = call.original(model, *args, **kwargs)
    if not _enabled(integration):
        return result
    run_id = TRACKER.run_of(model)
    if run_id is None:
        return result
    data = args[0] if args else kwargs.get("X")
    frame = caller_frame()
    try:
        TRACKER.remember(result, run_id, TRACKER.dataset_name(run_id, data, frame))
    finally:
        del frame
    _log_evaluation_data(integration, run_id, data)
    return result


def score_around(
    integration: SklearnIntegration, call: PatchedCall, model: Any, *args: Any, **kwargs: Any
) -> Any:
    """``model.score``: logs ``<EstimatorClass>_score_<data>`` for a tracked model."""
    run_id = TRACKER.run_of(model) if _enabled(integration) else None
    if run_id is None:
        return call.original(model, *args, **kwargs)
    frame = caller_frame()
    try:
        data = args[0] if args else kwargs.get("X")
        dataset = TRACKER.dataset_name(run_id, data, frame)
        name = f"{type(model).__name__}.score"
        command = describe_call(name, call.target, (model, *args), kwargs, frame, skip_first=True)
    finally:
        del frame
    result = call.original(model, *args, **kwargs)
    _log(integration, run_id, f"{type(model).__name__}_score", dataset, command, result)
    _log_evaluation_data(integration, run_id, data)
    return result


def metric_around(
    integration: SklearnIntegration, call: PatchedCall, *args: Any, **kwargs: Any
) -> Any:
    """A ``sklearn.metrics`` function: given a tracked prediction, logs ``<name>_<data>``."""
    found = TRACKER.find((*args, *kwargs.values())) if _enabled(integration) else None
    if found is None:
        return call.original(*args, **kwargs)
    run_id, dataset = found
    name = call.target.__name__
    frame = caller_frame()
    try:
        command = describe_call(name, call.target, args, kwargs, frame)
    finally:
        del frame
    result = call.original(*args, **kwargs)
    _log(integration, run_id, name, dataset, command, result)
    return result


def _log_evaluation_data(integration: SklearnIntegration, run_id: str, data: Any) -> None:
    """Record data a tracked model is evaluated on as the run's ``eval`` dataset (once each)."""
    options = integration.options
    if options is None or not options.log_datasets or not TRACKER.first_evaluation(run_id, data):
        return
    from runlab.autologging.sklearn_fit import FitData
    from runlab.autologging.training_run import TrainingRun

    # Copied like training data: the digest is computed in the background.
    features = FitData(data).frozen().X
    TrainingRun(integration, run_id, managed=False).log_dataset(features, context="eval")


def _log(
    integration: SklearnIntegration,
    run_id: str,
    metric: str,
    dataset: str,
    command: str,
    result: Any,
) -> None:
    from runlab.autologging.training_run import _number
    from runlab.tracking import deferred
    from runlab.tracking.fluent import log_metrics
    from runlab.tracking.fluent_artifacts import log_dict

    value = _number(result)
    if value is None:
        return  # a report or a matrix, not one number
    key, info = TRACKER.metric_key(run_id, metric, dataset, command)
    log_metrics({key: value}, run_id=run_id)
    deferred.submit(
        lambda: log_dict(info, METRIC_INFO_FILE, run_id=run_id), run_id, integration.report
    )


# -- names of the caller's variables -------------------------------------------------------------
def caller_frame() -> FrameType | None:
    """The frame of the code that called into scikit-learn (runlab's and sklearn's skipped)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(
        _INTERNAL_PREFIXES
    ):
        frame = frame.f_back
    return frame


def variable_name(value: Any, frame: FrameType | None) -> str | None:
    """The name bound to ``value`` in the outermost frame (from ``frame`` out) that has one."""
    if value is None:
        return None
    found = None
    while frame is not None:
        for name, bound in list(frame.f_locals.items()):
            if bound is value and not name.startswith("_"):
                found = name
                break
        frame = frame.f_back
    return found


def describe_call(
    name: str,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    frame: FrameType | None,
    skip_first: bool = False,
) -> str:
    """``name(y_true=y_test, y_pred=predictions, normalize=False)``: the call, by argument."""
    try:
        signature = inspect.signature(function)
        bound = list(signature.bind(*args, **kwargs).arguments.items())
    except (TypeError, ValueError):
        return f"{name}(...)"
    if skip_first:
        bound = bound[1:]
    parts: list[str] = []
    for key, value in bound:
        kind = signature.parameters[key].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            parts.extend(f"{k}={_describe(v, frame)}" for k, v in value.items())
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            parts.extend(_describe(v, frame) for v in value)
        else:
            parts.append(f"{key}={_describe(value, frame)}")
    return f"{name}({', '.join(parts)})"


def _describe(value: Any, frame: FrameType | None) -> str:
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    return variable_name(value, frame) or f"<{type(value).__name__}>"
