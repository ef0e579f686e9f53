"""docker_env projects through the runner. No Docker engine runs here, so a stand-in ``docker``
on PATH answers ``info``/``build``/``image inspect`` like an engine and records the ``docker run``
it is asked for (argv and the tracking variables it would pass into the container); and with no
engine reachable the run is refused before anything is created."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from runlab.projects.environments_base import ProjectEnvironmentError
from runlab.projects.runner import run
from runlab.tracking.client import Client
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

MLPROJECT = """\
name: boxed
docker_env:
  image: python:3.11-slim
  environment: [["MODE", "test"]]
entry_points:
  main:
    parameters:
      n: {type: int, default: 3}
    command: "python train.py --n {n}"
"""

STAND_IN = """\
#!/bin/sh
case "$1" in
  info) echo 27.0.0 ;;
  image) exit 1 ;;
  build) cat > /dev/null ;;
  run)
    printf '%s\\n' "$@" > "{record}/argv"
    env | grep -E '^(RUNLAB|MLFLOW)_(RUN_ID|EXPERIMENT_ID|TRACKING_URI)=' | sort > "{record}/env"
    ;;
esac
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text("print('in the container')\n")
    return folder


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in docker first on PATH; returns the folder where it records `docker run`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    folder = tmp_path / "record"
    folder.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN.replace("{record}", str(folder)))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return folder


def test_docker_run_gets_the_run_and_the_project(
    project: Path, record: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    submitted = run(str(project), parameters={"n": "5"}, tracking_uri=uri)
    argv = (record / "argv").read_text().splitlines()
    assert argv[:2] == ["run", "--rm"]
    assert f"{project}:/mlflow/projects/code" in argv  # the project is mounted
    assert argv[-4:] == ["python:3.11-slim", "sh", "-c", "python train.py --n 5"]
    assert "MODE=test" in argv
    for name in ("RUNLAB_RUN_ID", "MLFLOW_RUN_ID", "RUNLAB_TRACKING_URI"):
        assert argv[argv.index(name) - 1] == "-e"  # passed in by name, values from the env
    env = dict(line.split("=", 1) for line in (record / "env").read_text().splitlines())
    assert env["RUNLAB_RUN_ID"] == env["MLFLOW_RUN_ID"] == submitted.run_id
    assert env["RUNLAB_TRACKING_URI"] == uri
    recorded = Client(uri).get_run(submitted.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.tags["mlflow.project.env"] == "docker"
    assert recorded.data.params == {"n": "5"}


def test_build_image_and_docker_args(project: Path, record: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    run(str(project), build_image=True, docker_args={"gpus": "all"}, tracking_uri=uri)
    argv = (record / "argv").read_text().splitlines()
    assert f"{project}:/mlflow/projects/code" not in argv  # baked into the image instead
    assert argv[argv.index("--gpus") + 1] == "all"
    assert argv[-4].startswith("runlab-project-boxed:")


def test_no_engine_is_refused_before_anything_exists(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever this machine has: the engine named here is not there.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    with pytest.raises(ProjectEnvironmentError, match="Docker"):
        run(str(project), experiment_name="never", tracking_uri=uri)
    client = Client(uri)
    assert client.get_experiment_by_name("never") is None
    assert list(client.search_runs(["0"])) == []
    assert list(scratch.iterdir()) == []
