"""runlab: track machine-learning runs with MLflow's API, faster.

``import runlab as mlflow`` runs MLflow tracking code unchanged::

    import runlab as mlflow

    mlflow.set_experiment("demo")
    with mlflow.start_run():
        mlflow.log_param("lr", 0.01)
        for step in range(100):
            mlflow.log_metric("loss", 1 / (step + 1), step=step)

Everything here is imported on first use (module ``__getattr__``), so ``import runlab`` stays
cheap and pulls in no database driver, pandas or numpy until a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it. The single source of truth for __all__ and the lazy
# loader below.
_EXPORTS: dict[str, str] = {
    # tracking URI
    "set_tracking_uri": "runlab.tracking.config",
    "get_tracking_uri": "runlab.tracking.config",
    "is_tracking_uri_set": "runlab.tracking.config",
    "set_registry_uri": "runlab.tracking.config",
    "get_registry_uri": "runlab.tracking.config",
    # experiments
    "set_experiment": "runlab.tracking.fluent_experiments",
    "create_experiment": "runlab.tracking.fluent_experiments",
    "get_experiment": "runlab.tracking.fluent_experiments",
    "get_experiment_by_name": "runlab.tracking.fluent_experiments",
    "search_experiments": "runlab.tracking.fluent_experiments",
    "delete_experiment": "runlab.tracking.fluent_experiments",
    "restore_experiment": "runlab.tracking.fluent_experiments",
    "rename_experiment": "runlab.tracking.fluent_experiments",
    "set_experiment_tag": "runlab.tracking.fluent_experiments",
    "set_experiment_tags": "runlab.tracking.fluent_experiments",
    # runs
    "ActiveRun": "runlab.tracking.fluent",
    "start_run": "runlab.tracking.fluent",
    "end_run": "runlab.tracking.fluent",
    "active_run": "runlab.tracking.fluent",
    "last_active_run": "runlab.tracking.fluent",
    "get_run": "runlab.tracking.fluent",
    "get_parent_run": "runlab.tracking.fluent",
    "delete_run": "runlab.tracking.fluent",
    "search_runs": "runlab.tracking.fluent_search",
    # logging
    "log_param": "runlab.tracking.fluent",
    "log_params": "runlab.tracking.fluent",
    "log_metric": "runlab.tracking.fluent",
    "log_metrics": "runlab.tracking.fluent",
    "set_tag": "runlab.tracking.fluent",
    "set_tags": "runlab.tracking.fluent",
    "delete_tag": "runlab.tracking.fluent",
    "flush": "runlab.tracking.fluent",
    # artifacts
    "get_artifact_uri": "runlab.tracking.fluent_artifacts",
    "log_artifact": "runlab.tracking.fluent_artifacts",
    "log_artifacts": "runlab.tracking.fluent_artifacts",
    "log_text": "runlab.tracking.fluent_artifacts",
    "log_dict": "runlab.tracking.fluent_artifacts",
    "log_figure": "runlab.tracking.fluent_artifacts",
    "log_image": "runlab.tracking.fluent_artifacts",
    "log_table": "runlab.tracking.fluent_artifacts",
    "load_table": "runlab.tracking.fluent_artifacts",
    # datasets and models a run used
    "log_input": "runlab.tracking.fluent_inputs",
    "log_inputs": "runlab.tracking.fluent_inputs",
    # system metrics
    "enable_system_metrics_logging": "runlab.tracking.system_metrics",
    "disable_system_metrics_logging": "runlab.tracking.system_metrics",
    "set_system_metrics_sampling_interval": "runlab.tracking.system_metrics",
    "set_system_metrics_samples_before_logging": "runlab.tracking.system_metrics",
    # autologging (each framework is patched when the user's code imports it)
    "autolog": "runlab.autologging",
    # projects
    "run": "runlab.projects.runner",
    # model evaluation
    "evaluate": "runlab.evaluation.api",
    # model registry
    "register_model": "runlab.tracking.fluent_registry",
    "search_registered_models": "runlab.tracking.fluent_registry",
    "search_model_versions": "runlab.tracking.fluent_registry",
    # classes
    "Client": "runlab.tracking.client",
    "MlflowClient": "runlab.tracking.client",
    "MlflowException": "runlab.errors",
    "RunlabError": "runlab.errors",
}

# Subpackages reachable as attributes, as with ``mlflow.entities`` or ``mlflow.tracking``.
_SUBMODULES = frozenset(
    {
        "artifacts",
        "autologging",
        "data",
        "entities",
        "errors",
        "evaluation",
        "exceptions",
        "keras",
        "lightgbm",
        "model_uris",
        "models",
        "pyfunc",
        "projects",
        "pytorch",
        "sklearn",
        "tracking",
        "transformers",
        "uris",
        "validation",
        "xgboost",
    }
)

# Spelled out (not list(_EXPORTS)) so linters and IDEs can read it; a test keeps the two equal.
__all__ = [
    "ActiveRun",
    "Client",
    "MlflowClient",
    "MlflowException",
    "RunlabError",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "end_run",
    "evaluate",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "rename_experiment",
    "restore_experiment",
    "run",
    "search_experiments",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


if TYPE_CHECKING:  # let type checkers and IDEs see the real objects
    from runlab.errors import MlflowException, RunlabError
    from runlab.evaluation.api import evaluate
    from runlab.projects.runner import run
    from runlab.tracking.client import Client, MlflowClient
    from runlab.tracking.config import (
        get_registry_uri,
        get_tracking_uri,
        is_tracking_uri_set,
        set_registry_uri,
        set_tracking_uri,
    )
    from runlab.tracking.fluent import (
        ActiveRun,
        active_run,
        delete_run,
        delete_tag,
        end_run,
        flush,
        get_parent_run,
        get_run,
        last_active_run,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
        set_tags,
        start_run,
    )
    from runlab.tracking.fluent_artifacts import (
        get_artifact_uri,
        load_table,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_table,
        log_text,
    )
    from runlab.tracking.fluent_experiments import (
        create_experiment,
        delete_experiment,
        get_experiment,
        get_experiment_by_name,
        rename_experiment,
        restore_experiment,
        search_experiments,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
    )
    from runlab.tracking.fluent_inputs import log_input, log_inputs
    from runlab.tracking.fluent_registry import (
        register_model,
        search_model_versions,
        search_registered_models,
    )
    from runlab.tracking.fluent_search import search_runs
    from runlab.tracking.system_metrics import (
        disable_system_metrics_logging,
        enable_system_metrics_logging,
        set_system_metrics_samples_before_logging,
        set_system_metrics_sampling_interval,
    )
