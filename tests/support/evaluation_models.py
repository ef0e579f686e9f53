"""Logging a scikit-learn model as an MLflow 3 logged model with runlab alone, for the tests of
evaluation (runlab's own log_model does not create logged models)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import runlab
from runlab.uris import file_uri_to_path

__all__ = ["log_as_logged_model"]


def log_as_logged_model(client: runlab.MlflowClient, estimator: Any, run_id: str) -> str:
    """Log ``estimator`` as an MLflow 3 logged model named ``model`` of ``run_id``: files in the
    model's own location, its id in MLmodel. Returns the model id."""
    from runlab.models import Model

    run = client.get_run(run_id)
    model = client.store.create_logged_model(  # type: ignore[union-attr]
        run.info.experiment_id, name="model", source_run_id=run_id
    )
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "model"
        meta = Model(artifact_path="model", run_id=run_id, model_id=model.model_id)
        runlab.sklearn.save_model(estimator, saved, mlflow_model=meta)
        shutil.copytree(saved, file_uri_to_path(model.artifact_location), dirs_exist_ok=True)
    client.store.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")  # type: ignore[union-attr]
    return str(model.model_id)
