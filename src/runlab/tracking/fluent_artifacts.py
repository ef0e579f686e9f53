"""Fluent artifact functions: files, folders, text, dicts, figures, images and tables of the
active run."""

from __future__ import annotations

import os
from typing import Any

from runlab import uris
from runlab.tracking.fluent import _target

__all__ = [
    "get_artifact_uri",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_table",
    "log_text",
]


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifact root, or of ``artifact_path`` inside it."""
    target = _target(None)
    root = target.client.artifact_uri(target.run_id)
    return uris.append_to_uri_path(root, artifact_path) if artifact_path else root


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload one local file to the active run's artifacts (under ``artifact_path``)."""
    target = _target(run_id)
    target.client.log_artifact(target.run_id, os.fspath(local_path), artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload the contents of a local folder to the active run's artifacts."""
    target = _target(run_id)
    target.client.log_artifacts(target.run_id, os.fspath(local_dir), artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save ``text`` as an artifact file of the active run."""
    target = _target(run_id)
    target.client.log_text(target.run_id, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict as a JSON (or .yaml/.yml) artifact of the active run."""
    target = _target(run_id)
    target.client.log_dict(target.run_id, dictionary, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> None:
    """Save a matplotlib or plotly figure as an artifact of the active run."""
    target = _target(run_id)
    target.client.log_figure(target.run_id, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, run_id: str | None = None) -> None:
    """Save a numpy array or PIL image as an image artifact of the active run."""
    target = _target(run_id)
    target.client.log_image(target.run_id, image, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a pandas DataFrame or a dict of columns as a table artifact of the active run.

    ``artifact_file`` ends in ``.json`` (MLflow's ``{"columns": [...], "data": [[...]]}``
    layout) or ``.parquet``. Logging to a table the run already has appends the rows; the run's
    ``mlflow.loggedArtifacts`` tag lists the table, as MLflow's does.
    """
    from runlab.tracking import tables

    # Check what can be checked before a run is started for this call.
    tables.check_table_file(artifact_file)
    tables.check_table_data(data)
    target = _target(run_id)
    target.client.log_table(target.run_id, data, artifact_file)


def load_table(
    artifact_file: str,
    run_ids: list[str] | None = None,
    extra_columns: list[str] | None = None,
) -> Any:
    """The table ``artifact_file`` of the current experiment's runs as one pandas DataFrame.

    Only the runs in ``run_ids`` when given. ``extra_columns`` adds columns of the runs (as
    :func:`runlab.search_runs` names them: ``"run_id"``, ``"params.lr"``, …) to every row.
    ArtifactNotFound when no run has logged the table.
    """
    from runlab.tracking.fluent_experiments import current_experiment_id, default_client

    client = default_client()
    return client.load_table(current_experiment_id(client), artifact_file, run_ids, extra_columns)
