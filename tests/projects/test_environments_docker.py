"""docker_env projects: the ``docker run`` argv, the image build, and the errors without Docker.

No Docker engine runs here. The argv is checked as built; the engine checks run against a
stand-in ``docker`` executable (a shell script on PATH that answers ``info`` as an engine that is
down, or up, and records what it is asked), which is the boundary runlab talks to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects.environments import (
    ProjectEnvironmentError,
    prepare_environment,
    resolve_env_manager,
)
from runlab.projects.environments_docker import (
    CONTAINER_PROJECT_DIR,
    DockerEnvironment,
    build_dockerfile,
)
from runlab.projects.spec import Project, load_project

TRACKING_NAMES = [
    "-e",
    "RUNLAB_TRACKING_URI",
    "-e",
    "MLFLOW_TRACKING_URI",
    "-e",
    "RUNLAB_EXPERIMENT_ID",
    "-e",
    "MLFLOW_EXPERIMENT_ID",
    "-e",
    "RUNLAB_RUN_ID",
    "-e",
    "MLFLOW_RUN_ID",
]


def docker_project(folder: Path) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text("print('hi')\n", encoding="utf-8")
    (folder / "MLproject").write_text(
        "name: Dock Demo\n"
        "docker_env:\n"
        "  image: python:3.11-slim\n"
        "  volumes: ['/data:/data:ro']\n"
        "  environment: [['MODE', 'fast run'], 'API_TOKEN']\n"
        "entry_points:\n  main:\n    command: 'python train.py'\n",
        encoding="utf-8",
    )
    return load_project(folder)


def stand_in_docker(bin_dir: Path, record: Path, *, engine_up: bool) -> None:
    """A ``docker`` on PATH: ``info`` fails like a stopped daemon, or succeeds; ``build`` records
    its argv and the Dockerfile it reads on stdin; ``image inspect`` prints an id."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    info = (
        "echo 27.0.1"
        if engine_up
        else "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 1"
    )
    script = f"""#!/bin/sh
case "$1" in
  info) {info} ;;
  build) python3 -c 'import json, sys; print(json.dumps({{"argv": sys.argv[1:], "dockerfile": sys.stdin.read()}}))' "$@" >> {record} ;;
  image) echo sha256:0123abcd ;;
  *) exit 2 ;;
esac
"""
    docker = bin_dir / "docker"
    docker.write_text(script, encoding="utf-8")
    docker.chmod(0o755)


def test_docker_run_argv(tmp_path: Path) -> None:
    project = docker_project(tmp_path / "p")
    env = DockerEnvironment(
        project.env.image or "",
        project.directory,
        volumes=project.env.volumes,
        environment=project.env.environment,
        docker_args={"gpus": "all", "privileged": True, "m": "2g", "init": False},
    )
    tracking = {"RUNLAB_TRACKING_URI": "sqlite:////srv/track/runlab.db"}
    argv = env.command_argv("python train.py --alpha '0.5; rm -rf ~'", env=tracking)
    assert argv == [
        "docker",
        "run",
        "--rm",
        "-v",
        f"{project.directory}:{CONTAINER_PROJECT_DIR}",
        "-w",
        CONTAINER_PROJECT_DIR,
        "-v",
        "/data:/data:ro",
        # The database's folder at the same path: the URI and the artifacts beside it work.
        "-v",
        "/srv/track:/srv/track",
        "-e",
        "MODE=fast run",
        "-e",
        "API_TOKEN",  # copied from the host by docker: its value is not in the argv
        *TRACKING_NAMES,
        "--gpus",
        "all",
        "--privileged",
        "-m",
        "2g",
        "python:3.11-slim",
        "sh",
        "-c",
        "python train.py --alpha '0.5; rm -rf ~'",  # one word: the container's sh parses it
    ]
    assert env.env_vars() == {}


@pytest.mark.parametrize(
    ("uri", "access"),
    [
        ("http://127.0.0.1:5000", ["--network", "host"]),
        ("http://localhost:5000", ["--network", "host"]),
        ("https://tracking.example.com", []),
        ("file:///srv/mlruns", ["-v", "/srv/mlruns:/srv/mlruns"]),
        ("postgresql://db.example.com/runs", []),
    ],
)
def test_tracking_store_reachable_from_the_container(
    tmp_path: Path, uri: str, access: list[str]
) -> None:
    env = DockerEnvironment("img", tmp_path)
    argv = env.command_argv("true", env={"MLFLOW_TRACKING_URI": uri})
    head = ["docker", "run", "--rm", "-v", f"{tmp_path}:{CONTAINER_PROJECT_DIR}", "-w"]
    assert argv[: len(head)] == head
    assert argv[len(head) + 1 :] == [*access, *TRACKING_NAMES, "img", "sh", "-c", "true"]


def test_bad_docker_args_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"'--rm; x' is not a docker run option"):
        DockerEnvironment("img", tmp_path, docker_args={"--rm; x": True})


def test_docker_env_takes_no_env_manager(tmp_path: Path) -> None:
    project = docker_project(tmp_path / "p")
    assert resolve_env_manager(project, None) == "docker"
    with pytest.raises(InvalidParameter, match=r"leave out --env-manager local"):
        prepare_environment(project, project.directory, "local")


def test_docker_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = docker_project(tmp_path / "p")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ProjectEnvironmentError) as caught:
        prepare_environment(project, project.directory, None)
    message = str(caught.value)
    assert "'python:3.11-slim' (docker_env)" in message
    assert "docker command is not installed" in message and "Install Docker Engine" in message


def test_docker_engine_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = docker_project(tmp_path / "p")
    record = tmp_path / "calls.jsonl"
    stand_in_docker(tmp_path / "bin", record, engine_up=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ProjectEnvironmentError) as caught:
        prepare_environment(project, project.directory, None, build_image=True)
    message = str(caught.value)
    assert "no Docker engine is reachable" in message and "Start the Docker daemon" in message
    assert "Cannot connect to the Docker daemon" in message  # docker's own words
    assert not record.exists()  # nothing was built


def test_build_image_bakes_the_project_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = docker_project(tmp_path / "p")
    record = tmp_path / "calls.jsonl"
    stand_in_docker(tmp_path / "bin", record, engine_up=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env = prepare_environment(
        project, project.directory, None, build_image=True, docker_args={"gpus": "all"}
    )
    assert isinstance(env, DockerEnvironment)
    assert env.built_image is not None
    assert env.built_image.startswith("runlab-project-dock-demo:")
    (call,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert call["argv"] == [
        "build",
        "--tag",
        env.built_image,
        "--file",
        "-",
        str(project.directory),
    ]
    assert call["dockerfile"] == build_dockerfile("python:3.11-slim")
    assert call["dockerfile"].startswith("FROM python:3.11-slim\n")
    argv = env.command_argv("python train.py", env={"RUNLAB_TRACKING_URI": "https://t.example"})
    assert argv[0] == str(tmp_path / "bin" / "docker")
    assert f"{project.directory}:{CONTAINER_PROJECT_DIR}" not in argv  # the code is in the image
    assert argv[-4:] == [env.built_image, "sh", "-c", "python train.py"]
    assert env.lock_text() == (
        "# runlab environment lock: docker\n"
        f"# image: {env.built_image}\n"
        "# base image: python:3.11-slim\n"
        "# image id: sha256:0123abcd\n"
    )
    # The same files make the same tag; a changed file another.
    again = prepare_environment(project, project.directory, None, build_image=True)
    assert isinstance(again, DockerEnvironment) and again.built_image == env.built_image
    (project.directory / "train.py").write_text("print('changed')\n", encoding="utf-8")
    changed = prepare_environment(project, project.directory, None, build_image=True)
    assert isinstance(changed, DockerEnvironment) and changed.built_image != env.built_image
