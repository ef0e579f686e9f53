"""A project written for MLflow (``import mlflow``, the real mlflow-skinny client) run by runlab
against a runlab tracking server process: its ``mlflow.start_run()`` logs into the run that
``runlab run`` created. And a project in a uv environment, end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runlab.projects.runner import run
from runlab.tracking.client import Client
from support.servers import runlab_server, running
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

MLFLOW_SCRIPT = """\
import sys
import mlflow

assert "runlab" not in mlflow.__file__, mlflow.__file__  # the real MLflow client
with mlflow.start_run() as run:
    mlflow.log_param("written_for", "mlflow")
    mlflow.log_metric("accuracy", float(sys.argv[2]), step=1)
    mlflow.set_tag("client", "mlflow " + mlflow.__version__)
    print("mlflow logged into", run.info.run_id)
"""

MLFLOW_PROJECT = """\
name: written-for-mlflow
entry_points:
  main:
    parameters:
      accuracy: {type: float, default: 0.9}
    command: "python train.py --accuracy {accuracy}"
"""


def test_mlflow_project_logs_into_the_run_on_a_runlab_server(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "MLproject").write_text(MLFLOW_PROJECT)
    (project / "train.py").write_text(MLFLOW_SCRIPT)
    with running(runlab_server(tmp_path / "server")) as server:
        submitted = run(
            str(project),
            parameters={"accuracy": "0.93"},
            experiment_name="mlflow project",
            env_manager="local",
            tracking_uri=server.url,
        )
        client = Client(server.url)
        recorded = client.get_run(submitted.run_id)
        experiment = client.get_experiment_by_name("mlflow project")
        assert experiment is not None
        assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [
            submitted.run_id
        ]  # no second run: MLflow's start_run() resumed runlab's
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params == {"accuracy": "0.93", "written_for": "mlflow"}
    assert recorded.data.metrics == {"accuracy": 0.93}
    assert recorded.data.tags["client"].startswith("mlflow 3.")
    assert recorded.data.tags["mlflow.source.type"] == "PROJECT"


PREFIX_SCRIPT = """\
import json, sys
json.dump({"prefix": sys.prefix, "executable": sys.executable}, open("where.json", "w"))
"""


def test_project_in_a_uv_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("RUNLAB_PROJECTS_CACHE", str(cache))
    project = tmp_path / "proj"
    project.mkdir()
    # No dependencies: the environment is made without downloading anything.
    (project / "python_env.yaml").write_text("dependencies: []\n")
    (project / "MLproject").write_text(
        "name: in-uv\npython_env: python_env.yaml\n"
        "entry_points:\n  main:\n    command: python where.py\n"
    )
    (project / "where.py").write_text(PREFIX_SCRIPT)
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    prefixes = []
    for _ in range(2):
        submitted = run(str(project), env_manager="uv", tracking_uri=uri)
        where = json.loads((project / "where.json").read_text())
        prefixes.append(Path(where["prefix"]).resolve())
    assert prefixes[0] == prefixes[1]  # the second run reused the cached environment
    assert prefixes[0].is_relative_to(cache.resolve())
    assert prefixes[0] != Path(sys.prefix).resolve()
    client = Client(uri)
    recorded = client.get_run(submitted.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.tags["mlflow.project.env"] == "uv"
    lock = Path(
        client.download_artifacts(submitted.run_id, "project/environment.lock", str(tmp_path / "d"))
    ).read_text()
    assert "uv" in lock.splitlines()[0]  # the lock's header names its manager
    env_file = client.download_artifacts(
        submitted.run_id, "project/python_env.yaml", str(tmp_path / "e")
    )
    assert Path(env_file).read_text() == "dependencies: []\n"
