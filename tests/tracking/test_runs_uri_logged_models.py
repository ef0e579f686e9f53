"""``runs:/<run_id>/<path>`` on a local SQL store: the run's artifacts first, then its logged model.

MLflow 3 stores a logged model's files in the model's own artifact location, yet
``runs:/<run_id>/<name>`` still names the model. The same rules over a tracking server are checked
in tests/compat/test_mlflow3_logged_model_uris.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import runlab
from runlab import uris
from runlab.entities import LoggedModel, LoggedModelOutput
from runlab.errors import ArtifactNotFound
from runlab.tracking.model_uris import resolve_model_uri


class AddOne(runlab.pyfunc.PythonModel):
    """Adds one to its input."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input + 1


def _local(location: str) -> Path:
    return Path(uris.file_uri_to_path(location))


def _logged_model(client: runlab.Client, run_id: str, name: str = "model") -> LoggedModel:
    """A logged model of ``run_id`` with a saved pyfunc model in its artifact location, linked
    as the run's output, as MLflow 3's ``log_model`` leaves it."""
    experiment_id = client.get_run(run_id).info.experiment_id
    store: Any = client.store
    model: LoggedModel = store.create_logged_model(experiment_id, name=name, source_run_id=run_id)
    runlab.pyfunc.save_model(_local(model.artifact_location), python_model=AddOne())
    store.finalize_logged_model(model.model_id, "READY")
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    return model


def _run(client: runlab.Client) -> str:
    return client.create_run("0").info.run_id


def test_a_logged_model_stands_in_when_the_run_has_no_such_folder(client: runlab.Client) -> None:
    run_id = _run(client)
    model = _logged_model(client, run_id)
    assert resolve_model_uri(f"runs:/{run_id}/model", client) == model.artifact_location
    inside = resolve_model_uri(f"runs:/{run_id}/model/MLmodel", client)
    assert inside == uris.append_to_uri_path(model.artifact_location, "MLmodel")
    assert runlab.pyfunc.load_model(f"runs:/{run_id}/model", trusted=True).predict(2.0) == 3.0


def test_the_runs_own_folder_comes_first(client: runlab.Client, tmp_path: Path) -> None:
    run_id = _run(client)
    _logged_model(client, run_id)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("the run's own")
    client.log_artifacts(run_id, str(tmp_path / "model"), "model")
    root = client.get_run(run_id).info.artifact_uri
    assert resolve_model_uri(f"runs:/{run_id}/model", client) == f"{root}/model"
    # A file of the run's artifacts is found by its parent folder's listing.
    assert resolve_model_uri(f"runs:/{run_id}/model/notes.txt", client).startswith(root)
    assert resolve_model_uri(f"runs:/{run_id}", client) == root


def test_the_newest_model_of_that_name_and_run_is_chosen(client: runlab.Client) -> None:
    run_id = _run(client)
    _logged_model(client, run_id, "clf")
    time.sleep(0.005)  # creation times in milliseconds must differ
    newest = _logged_model(client, run_id, "clf")
    _logged_model(client, _run(client), "other-run")
    assert resolve_model_uri(f"runs:/{run_id}/clf", client) == newest.artifact_location


def test_a_model_of_another_run_does_not_stand_in(client: runlab.Client) -> None:
    _logged_model(client, _run(client), "model")
    run_id = _run(client)
    with pytest.raises(ArtifactNotFound) as caught:
        resolve_model_uri(f"runs:/{run_id}/model", client)
    message = caught.value.message
    assert "artifacts have nothing at 'model'" in message
    assert "no model named 'model'" in message and run_id in message


def test_a_segment_no_model_can_be_named_is_not_searched(client: runlab.Client) -> None:
    run_id = _run(client)
    _logged_model(client, run_id, "model")
    with pytest.raises(ArtifactNotFound, match=r"no model named .model\.pkl."):
        resolve_model_uri(f"runs:/{run_id}/model.pkl", client)
