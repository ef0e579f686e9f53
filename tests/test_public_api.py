"""The top-level namespace: exactly the documented public API, all of it importable."""

from __future__ import annotations

import importlib.metadata
import inspect

import runlab

# The documented fluent API. Adding or removing a public name is a decision: change it here too.
DOCUMENTED = {
    # tracking URI
    "set_tracking_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "get_registry_uri",
    # experiments
    "set_experiment",
    "create_experiment",
    "get_experiment",
    "get_experiment_by_name",
    "search_experiments",
    "delete_experiment",
    "restore_experiment",
    "rename_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    # runs
    "ActiveRun",
    "start_run",
    "end_run",
    "active_run",
    "last_active_run",
    "get_run",
    "get_parent_run",
    "delete_run",
    "search_runs",
    # logging
    "log_param",
    "log_params",
    "log_metric",
    "log_metrics",
    "set_tag",
    "set_tags",
    "delete_tag",
    "flush",
    # artifacts
    "get_artifact_uri",
    "log_artifact",
    "log_artifacts",
    "log_text",
    "log_dict",
    "log_figure",
    "log_image",
    "log_table",
    "load_table",
    # datasets and models a run used
    "log_input",
    "log_inputs",
    # system metrics
    "enable_system_metrics_logging",
    "disable_system_metrics_logging",
    "set_system_metrics_sampling_interval",
    "set_system_metrics_samples_before_logging",
    # autologging
    "autolog",
    # projects
    "run",
    # model evaluation
    "evaluate",
    # model registry
    "register_model",
    "search_registered_models",
    "search_model_versions",
    # classes
    "Client",
    "MlflowClient",
    "MlflowException",
    "RunlabError",
}


def test_all_is_the_documented_set() -> None:
    assert set(runlab.__all__) == DOCUMENTED
    assert len(runlab.__all__) == len(DOCUMENTED)
    assert set(runlab._EXPORTS) == DOCUMENTED  # the lazy loader knows every name


def test_every_public_name_resolves() -> None:
    for name in runlab.__all__:
        value = getattr(runlab, name)
        assert value is not None
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__doc__, f"{name} has no docstring"


def test_submodules_are_reachable_like_mlflows() -> None:
    assert runlab.entities.Run.__name__ == "Run"
    assert runlab.tracking.MlflowClient is runlab.MlflowClient
    assert runlab.exceptions.MlflowException is runlab.errors.RunlabError
    assert runlab.Client is runlab.MlflowClient
    assert runlab.data.from_pandas.__module__ == "runlab.data.pandas_dataset"
    assert runlab.artifacts.load_dict.__module__ == "runlab.tracking.artifact_reading"
    assert runlab.projects.run is runlab.run  # mlflow.projects.run and mlflow.run are one


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        runlab.not_a_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "not_a_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_version_matches_the_package_metadata() -> None:
    assert runlab.__version__ == importlib.metadata.version("runlab")


def test_dir_lists_the_public_names() -> None:
    assert set(dir(runlab)) >= DOCUMENTED
