"""What one autologged scikit-learn ``fit()`` does, in the foreground and in the background.

In the foreground, around the real ``fit``: the estimator's params and tags before training
(MLflow logs them first, so a failed training keeps them), then a snapshot of the fitted
estimator (pickled now, unpickled in the background: for a 100-tree forest the pickling costs
about 7 ms of the foreground where ``copy.deepcopy`` costs 15) and a copy of the training data, so that the user may refit or change either at once. Everything that needs
predictions, a plot or serialization is queued for the background thread, on those copies:
training metrics, plots, ``estimator.html``, the search results and child runs, the model and
the dataset. ``fit()`` costs its own time and a few milliseconds more.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import pickle
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.patching import PatchedCall
    from runlab.autologging.sklearn import SklearnIntegration
    from runlab.autologging.training_run import TrainingRun

__all__ = ["FitData", "Snapshot", "fit_around"]

_logger = logging.getLogger("runlab")

#: Training data up to this size is copied when fit() returns, so that changing it in place
#: afterwards cannot change the metrics computed in the background; larger data is read as it
#: is (doubling it in memory could cost more than the training).
COPY_LIMIT_BYTES = 256 * 1024 * 1024
#: Rows of the training data kept as the model's input example and for its signature.
EXAMPLE_ROWS = 5


def fit_around(
    integration: SklearnIntegration, call: PatchedCall, estimator: Any, *args: Any, **kwargs: Any
) -> Any:
    """The patch of ``fit``/``fit_transform``/``fit_predict``: log one training."""
    if called_by_sklearn():
        # scikit-learn fitting an estimator for itself (a LabelEncoder inside f1_score, the
        # folds of cross_val_score, minmax_scale's scaler): not a training of the user's.
        return call.original(estimator, *args, **kwargs)
    with integration.training_run() as run:
        try:
            data = FitData.of(call.target, estimator, args, kwargs)
        except Exception as err:
            integration.report(err)
            data = FitData()
        search = is_search(estimator)
        with integration.guard():
            _log_before(run, estimator, search)
        result = call.original(estimator, *args, **kwargs)
        with integration.guard():
            _log_after(integration, run, estimator, data, search)
    return result


def called_by_sklearn() -> bool:
    """Whether the patched call was made by scikit-learn's own code (runlab's frames skipped)."""
    frame: FrameType | None = sys._getframe(1)
    try:
        while frame is not None:
            module = str(frame.f_globals.get("__name__", ""))
            if not module.startswith("runlab.autologging"):
                return module == "sklearn" or module.startswith("sklearn.")
            frame = frame.f_back
        return False
    finally:
        del frame


def is_search(estimator: Any) -> bool:
    """Whether the estimator is a parameter search (GridSearchCV, RandomizedSearchCV, …)."""
    from sklearn.model_selection._search import BaseSearchCV

    return isinstance(estimator, BaseSearchCV)


def estimator_tags(estimator: Any) -> dict[str, str]:
    """MLflow's tags naming the estimator's class."""
    cls = type(estimator)
    return {
        "estimator_name": cls.__name__,
        "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
    }


def _log_before(run: TrainingRun, estimator: Any, search: bool) -> None:
    run.set_tags(estimator_tags(estimator))
    # A search's own params only (as MLflow): its estimator's are in the best_ params and the
    # child runs.
    run.log_params(estimator.get_params(deep=not search))


def _log_after(
    integration: SklearnIntegration,
    run: TrainingRun,
    estimator: Any,
    data: FitData,
    search: bool,
) -> None:
    from runlab.autologging import sklearn_post_training, sklearn_training

    options = run.options
    snapshot = Snapshot.take(estimator)
    data = data.frozen()
    work = sklearn_training.TrainingWork(
        run_id=run.run_id,
        integration=integration,
        snapshot=snapshot,
        data=data,
        pos_label=options.get("pos_label"),
    )
    if search:
        best = getattr(estimator, "best_params_", None)
        if isinstance(best, Mapping):
            run.log_params({f"best_{key}": value for key, value in best.items()})
        if hasattr(estimator, "best_score_"):
            run.log_metrics({"best_cv_score": estimator.best_score_})
        work.search = sklearn_training.SearchWork(
            experiment_id=run.experiment_id,
            max_tuning_runs=options.get("max_tuning_runs", 5),
            extra_tags=dict(options.extra_tags),
        )
    run.defer(work.log_details)
    if options.log_models and hasattr(estimator, "predict"):
        model = ModelToLog(
            fmt=options.get("serialization_format"),
            example=data.example(),
            signature=options.log_model_signatures,
            input_example=options.log_input_examples,
            silent=options.silent,
        )
        # The example goes to our own logger, not run.log_model's: a signature that cannot be
        # inferred must cost the signature, not the model.
        run.log_model(model.log, snapshot, name="model")
        if search and hasattr(estimator, "best_estimator_"):
            best = dataclasses.replace(model, part="best_estimator_")
            run.log_model(best.log, snapshot, name="best_estimator")
    run.log_dataset(data.X, data.y, context="train")
    if options.get("log_post_training_metrics", True):
        sklearn_post_training.TRACKER.track(estimator, run.run_id)


@dataclass(frozen=True)
class ModelToLog:
    """How to log the snapshot (or a part of it) as a model, in the background."""

    fmt: str | None
    example: Any
    signature: bool
    input_example: bool
    silent: bool = False
    #: The attribute of the snapshot to log instead of itself (``best_estimator_``).
    part: str | None = None

    def log(
        self, snapshot: Snapshot, *, registered_model_name: str | None = None, **kwargs: Any
    ) -> None:
        """Log the model with runlab.sklearn's log_model (kwargs: name, run_id)."""
        from runlab.models.flavors import sklearn as flavor

        model = snapshot.get()
        if self.part is not None:
            model = getattr(model, self.part)
            registered_model_name = None  # the search itself is the model registered
        extra: dict[str, Any] = {}
        if self.example is not None and self.signature:
            from runlab.models.signature import infer_signature

            try:
                extra["signature"] = infer_signature(self.example, model.predict(self.example))
            except Exception as err:  # an input or output of a kind signatures do not describe
                log = _logger.debug if self.silent else _logger.warning
                log(
                    "runlab: no signature for the %s model (%s: %s); it is logged without one.",
                    type(model).__name__,
                    type(err).__name__,
                    err,
                )
        if self.example is not None and self.input_example:
            extra["input_example"] = self.example
        flavor.log_model(
            model,
            serialization_format=self.fmt,
            registered_model_name=registered_model_name,
            **extra,
            **kwargs,
        )


class Snapshot:
    """A frozen copy of a fitted estimator, taken cheaply now and opened in the background."""

    def __init__(self, payload: bytes | None, model: Any) -> None:
        self._payload = payload
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def take(cls, estimator: Any) -> Snapshot:
        """Pickle the estimator now (deep-copy it if it does not pickle; share it if neither)."""
        try:
            return cls(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL), None)
        except Exception as err:  # a lambda or a lock inside the estimator, e.g.
            _logger.debug("runlab: the estimator does not pickle (%s); deep-copying it", err)
        try:
            return cls(None, copy.deepcopy(estimator))
        except Exception as err:
            # Logged from the live object: right unless it is changed before the background is done.
            _logger.debug("runlab: the estimator does not copy either (%s)", err)
            return cls(None, estimator)

    def get(self) -> Any:
        """The copied estimator (unpickled on first use)."""
        with self._lock:
            if self._payload is not None:
                self._model = pickle.loads(self._payload)
                self._payload = None
            return self._model


@dataclass
class FitData:
    """The training data a ``fit()`` call was given."""

    X: Any = None
    y: Any = None
    sample_weight: Any = None

    @classmethod
    def of(
        cls,
        function: Callable[..., Any],
        estimator: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> FitData:
        """Find X, y and sample_weight among a call's arguments, by the signature of ``fit``."""
        parameters = _parameters(function)
        try:
            bound = inspect.Signature(parameters).bind(estimator, *args, **kwargs).arguments
        except TypeError:
            return cls()  # the call is wrong: fit() itself will say so
        names = [p.name for p in parameters]
        x = bound.get(names[1]) if len(names) > 1 else None
        y = bound.get(names[2]) if len(names) > 2 and names[2].lower() == "y" else None
        weight = bound.get("sample_weight")
        if weight is None:
            extra: dict[str, Any] = next(
                (
                    bound.get(p.name, {})
                    for p in parameters
                    if p.kind is inspect.Parameter.VAR_KEYWORD
                ),
                {},
            )
            weight = extra.get("sample_weight")
            steps = getattr(estimator, "steps", None)
            if weight is None and isinstance(steps, list) and steps:
                # A Pipeline's final step gets its weights as <step name>__sample_weight.
                weight = extra.get(f"{steps[-1][0]}__sample_weight")
        return cls(x, y, weight)

    def frozen(self) -> FitData:
        """A copy safe from changes the user makes after fit() returns (up to COPY_LIMIT_BYTES)."""
        return FitData(_copied(self.X), _copied(self.y), _copied(self.sample_weight))

    def example(self) -> Any:
        """The first rows of X, if X is a numpy array or a pandas DataFrame (else None)."""
        X = self.X
        if type(X).__name__ == "DataFrame" and hasattr(X, "iloc"):
            return X.iloc[:EXAMPLE_ROWS].copy()
        if type(X).__name__ == "ndarray" and getattr(X, "ndim", 0) == 2:
            return X[:EXAMPLE_ROWS].copy()
        return None  # sparse matrices, lists, …: no example, and so no signature


@functools.lru_cache(maxsize=1024)
def _parameters(function: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    return tuple(inspect.signature(function).parameters.values())


def _copied(value: Any) -> Any:
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    size = _nbytes(value)
    if size is None or size > COPY_LIMIT_BYTES:
        return value
    if isinstance(value, list):
        return list(value)
    copier = getattr(value, "copy", None)
    return copier() if callable(copier) else value


def _nbytes(value: Any) -> int | None:
    """The size of array-like data, estimated cheaply; None when it cannot be told."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    data: Any = getattr(value, "data", None)  # a scipy sparse matrix
    if hasattr(value, "nnz") and isinstance(getattr(data, "nbytes", None), int):
        return int(data.nbytes) * 2
    shape = getattr(value, "shape", None)  # a pandas DataFrame or Series: 8 bytes a cell
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        cells = 1
        for n in shape:
            cells *= n
        return cells * 8
    if isinstance(value, list):
        return len(value) * 8
    return None
