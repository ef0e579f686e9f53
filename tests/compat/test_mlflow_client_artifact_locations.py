"""MLflow's client choosing experiment artifact locations on ``runlab server``.

MLflow's server makes a relative ``artifact_location`` absolute (against its working directory);
runlab's does the same and then holds it to the server's configured roots, so a client can place
an experiment inside the server's artifact folder but cannot make the server call another host.
This module starts ``runlab server`` through its command line, in a folder of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from support.cli_server import runlab_cli_server
from support.servers import ProxiedRunlabServer


@pytest.fixture(scope="module")
def runlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedRunlabServer]:
    """``runlab server`` with default options, started in its own folder (its working directory).

    Overrides the package's server fixture for this module, so MLflow's client talks to it.
    """
    folder = tmp_path_factory.mktemp("locations")
    process = runlab_cli_server(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # the child inherits it: relative locations resolve here
        process.start()
    try:
        yield ProxiedRunlabServer(process, folder / "runlab-artifacts")
    finally:
        process.stop()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_relative_location_is_made_absolute_inside_the_artifact_folder(
    runlab_server: ProxiedRunlabServer, tmp_path: Path
) -> None:
    client = MlflowClient()
    team = f"team-{uuid.uuid4().hex[:8]}"
    exp_id = client.create_experiment(_name("rel"), artifact_location=f"runlab-artifacts/{team}")
    location = client.get_experiment(exp_id).artifact_location
    folder = (runlab_server.artifacts_destination / team).resolve()
    assert location == folder.as_uri()

    # The location is a local folder, so MLflow's client writes there itself...
    notes = tmp_path / "notes.txt"
    notes.write_text("placed by the client")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_artifact(str(notes))
    assert (folder / run.info.run_id / "artifacts" / "notes.txt").read_text() == (
        "placed by the client"
    )
    # ...and the server lists it from the same folder.
    listed = httpx.get(
        f"{runlab_server.url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": run.info.run_id},
        timeout=30,
    )
    assert listed.json()["files"] == [{"path": "notes.txt", "is_dir": False, "file_size": 20}]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:9/api/2.0/mlflow-artifacts/artifacts/x",
        "mlflow-artifacts://169.254.169.254/latest",
        "s3://someone-elses-bucket/x",
        "../outside-the-folder",
        "runlab-artifacts/../../escape",
    ],
)
def test_locations_outside_the_configured_roots_are_refused(
    runlab_server: ProxiedRunlabServer, location: str
) -> None:
    client = MlflowClient()
    name = _name("refused")
    with pytest.raises(MlflowException) as refused:
        client.create_experiment(name, artifact_location=location)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "--allowed-artifact-locations" in refused.value.message
    assert client.get_experiment_by_name(name) is None


def test_default_and_proxy_locations_still_work(runlab_server: ProxiedRunlabServer) -> None:
    client = MlflowClient()
    plain = client.create_experiment(_name("plain"))
    assert client.get_experiment(plain).artifact_location == f"mlflow-artifacts:/{plain}"
    custom = client.create_experiment(_name("custom"), artifact_location="mlflow-artifacts:/mine")
    assert client.get_experiment(custom).artifact_location == "mlflow-artifacts:/mine"
