"""scikit-learn autologging: ``runlab.sklearn.autolog()``.

Every estimator scikit-learn ships (the public, concrete ``BaseEstimator`` subclasses that
``sklearn.utils.discovery.all_estimators()`` lists, Pipeline and the meta-estimators among them)
has its ``fit``, ``fit_transform`` and ``fit_predict`` patched: the outermost call logs the
estimator's params, trains, and hands everything expensive to the background (see
:mod:`~runlab.autologging.sklearn_fit`). Their prediction methods and ``score``, and the metric
functions of ``sklearn.metrics``, are patched too, for post-training metrics (see
:mod:`~runlab.autologging.sklearn_post_training`).

Patching is lazy twice over: nothing happens until the user's code imports scikit-learn, and
then each of scikit-learn's modules is patched when it is itself imported. Listing every
estimator up front (as ``all_estimators()`` does) would import all of scikit-learn, which takes
seconds; enabling autologging must not make ``import sklearn`` slower than it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from runlab.autologging import import_hooks
from runlab.autologging.integration import Integration
from runlab.autologging.options import AutologOptions
from runlab.autologging.patching import Around, PatchedCall, Patcher
from runlab.errors import InvalidParameter

__all__ = ["INTEGRATION", "SklearnIntegration", "autolog"]

#: The training methods: their outermost call logs a training.
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
#: Methods whose results post-training metrics follow (MLflow's list, and decision_function,
#: which roc_auc_score is often given).
PREDICT_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
)
#: Functions of sklearn.metrics with these endings (and these names) are metric functions.
_METRIC_SUFFIXES = ("_score", "_error", "_loss", "_deviance")
_METRIC_NAMES = frozenset({"matthews_corrcoef"})
#: Folders of scikit-learn's source that hold no estimators a user fits.
_SKIPPED_FOLDERS = frozenset({"tests", "__pycache__", "_build_utils", "__check_build", "externals"})
_SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")


class SklearnIntegration(Integration):
    """Autologging for scikit-learn estimators (tag ``mlflow.autologging=sklearn``)."""

    name = "sklearn"
    modules = ("sklearn",)
    distribution = "scikit-learn"
    min_version = "1.4"
    max_version = "1.9"

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        """Patch each of scikit-learn's modules now if it is loaded, else when it is imported."""
        for name in _submodules(module):
            import_hooks.on_import(name, self.name, self._patch_module)

    # -- patching ------------------------------------------------------------------------------
    def _patch_module(self, module: ModuleType) -> None:
        if not self.enabled:
            return
        from sklearn.base import BaseEstimator

        for attr_name, value in list(vars(module).items()):
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and not attr_name.startswith("_")
                and issubclass(value, BaseEstimator)
                and not _is_abstract(value)
            ):
                self._patch_estimator(value)
        if module.__name__ == "sklearn.metrics":
            self._patch_metric_functions(module)

    def _patch_estimator(self, cls: type) -> None:
        from runlab.autologging import sklearn_fit, sklearn_post_training

        for method in FIT_METHODS:
            self._wrap_method(cls, method, _bind(sklearn_fit.fit_around, self))
        for method in PREDICT_METHODS:
            self._wrap_method(cls, method, _bind(sklearn_post_training.predict_around, self))
        self._wrap_method(cls, "score", _bind(sklearn_post_training.score_around, self))

    def _wrap_method(self, cls: type, method: str, around: Around) -> None:
        """Wrap ``cls.method`` where it can be wrapped without changing what it does.

        A method defined with scikit-learn's ``available_if`` is a descriptor that hides the
        method when the estimator cannot do it (a Pipeline without ``predict_proba``): its inner
        function is wrapped, never the descriptor replaced, so ``hasattr`` keeps its answer. A
        method a patched parent class already provides is left alone: the parent's patch serves.
        """
        found = _lookup(cls, method)
        if found is None:
            return
        if _is_ours(found, self.name):
            return
        if callable(getattr(found, "fn", None)) and callable(getattr(found, "check", None)):
            if not _is_ours(found.fn, self.name):
                self.patcher.wrap(found, "fn", around)
            return
        if isinstance(found, type(_lookup)):  # a plain function
            self.patcher.wrap(cls, method, around)

    def _patch_metric_functions(self, module: ModuleType) -> None:
        from runlab.autologging import sklearn_post_training

        around = _bind(sklearn_post_training.metric_around, self)
        for name in getattr(module, "__all__", ()):
            function = getattr(module, name, None)
            if not isinstance(function, type(_lookup)) or _is_ours(function, self.name):
                continue
            if name.endswith(_METRIC_SUFFIXES) or name in _METRIC_NAMES:
                self.patcher.wrap(module, name, around)


def _bind(around: Any, integration: SklearnIntegration) -> Around:
    def bound(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
        return around(integration, call, *args, **kwargs)

    return bound


def _lookup(cls: type, name: str) -> Any:
    """``name`` as the class or its nearest base defines it (no descriptor invoked), or None."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _is_ours(value: Any, integration_name: str) -> bool:
    return getattr(value, "__runlab_autolog__", None) == integration_name


def _is_abstract(cls: type) -> bool:
    return bool(getattr(cls, "__abstractmethods__", None))


def _submodules(package: ModuleType) -> list[str]:
    """The names of the package's modules, found on disk without importing any of them."""
    names = [package.__name__]
    for root in getattr(package, "__path__", ()):
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED_FOLDERS)
            relative = os.path.relpath(folder, root)
            prefix = package.__name__
            if relative != ".":
                prefix += "." + relative.replace(os.sep, ".")
            for file_name in sorted(files):
                if not file_name.endswith(".py") or file_name.startswith("conftest"):
                    continue
                stem = file_name[:-3]
                names.append(prefix if stem == "__init__" else f"{prefix}.{stem}")
    return list(dict.fromkeys(names))


#: The one scikit-learn integration of this process.
INTEGRATION = SklearnIntegration()


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Turn scikit-learn autologging on (or off, ``disable=True``).

    Each ``fit()``, ``fit_transform()`` or ``fit_predict()`` of a scikit-learn estimator then
    logs, into the active run or into a run it starts and ends: the estimator's params
    (``get_params(deep=True)``), its training metrics (``training_score``, and for classifiers
    and regressors MLflow's ``training_*`` metrics, weighted by the ``sample_weight`` given to
    ``fit``), a confusion matrix (and for binary classifiers ROC and precision-recall curves) as
    PNG, ``estimator.html``, the fitted model (with a signature, and with ``log_input_examples``
    an input example), and the training data as a dataset input. GridSearchCV and
    RandomizedSearchCV add ``best_<param>`` params, ``best_cv_score``, ``cv_results.csv``, the best
    estimator as model ``best_estimator``, and a child run for each of the ``max_tuning_runs``
    best candidates (all of them with ``None``).

    ``fit()`` returns as soon as the params are queued and the fitted estimator is copied: the
    metrics, plots, model and dataset are written in the background, done by the time the run
    ends, ``runlab.flush()`` returns or the run is read back.

    With ``log_post_training_metrics``, ``model.score(X_test, y_test)`` and the functions of
    ``sklearn.metrics`` applied to the model's predictions log ``<metric>_<variable name>``
    (``accuracy_score_X_test``) into the run the model was trained in. ``pos_label`` makes the
    precision, recall and F1 training metrics binary for that label. ``serialization_format``
    is the model's (``skops``, runlab's safe default, or ``cloudpickle``/``pickle``).
    """
    arguments = dict(locals())  # exactly the options: nothing else is defined yet
    if max_tuning_runs is not None and (
        isinstance(max_tuning_runs, bool)
        or not isinstance(max_tuning_runs, int)
        or max_tuning_runs < 0
    ):
        raise InvalidParameter(
            f"max_tuning_runs must be a whole number >= 0 or None, got {max_tuning_runs!r}."
        )
    if serialization_format is not None and serialization_format not in _SERIALIZATION_FORMATS:
        raise InvalidParameter(
            f"serialization_format must be one of {', '.join(_SERIALIZATION_FORMATS)}, got "
            f"{serialization_format!r}."
        )
    if not isinstance(log_post_training_metrics, bool):
        raise InvalidParameter(
            f"log_post_training_metrics must be True or False, got {log_post_training_metrics!r}."
        )
    options = AutologOptions.build(**arguments)
    INTEGRATION.configure(options)
