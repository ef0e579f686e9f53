"""The example plugin of docs/deployment.md, installed as pip would and used as users would.

The module's code and its entry point are read from the page itself ("Writing a target plugin"),
so the page cannot drift from what works. The plugin is written into a temporary folder with a
``dist-info`` registering it; with that folder on ``sys.path`` it is used through
``get_deploy_client``, with it on ``PYTHONPATH`` through ``runlab deployments`` in subprocesses.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import runlab
from runlab.deployments import PredictionsResponse, get_deploy_client, target_help
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from support.deployment_plugins import env_with_path, install_plugin, on_sys_path, save_line_model
from support.servers import REPO_ROOT, ServerProcess, free_port

PAGE = REPO_ROOT / "docs" / "deployment.md"
HEADING = "## Writing a target plugin"
ROWS = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.5]]}}


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(HEADING)
    following = re.search(r"^## ", text[start + len(HEADING) :], re.M)
    return text[start : start + len(HEADING) + following.start()] if following else text[start:]


def _block(language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```", _section(), re.M | re.S)
    assert len(blocks) == 1, f"the section should hold one {language} block"
    return str(blocks[0])


def _entry_point() -> tuple[str, str]:
    """The target name and module of the page's ``pyproject.toml`` entry point."""
    toml = _block("toml")
    assert '[project.entry-points."runlab.deployments"]' in toml
    name, module = re.findall(r'^(\w+) = "([\w.]+)"$', toml, re.M)[0]
    return name, module


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page's plugin, installed into a folder (module + dist-info)."""
    name, module = _entry_point()
    return install_plugin(
        tmp_path_factory.mktemp("site"),
        "runlab-folder",
        modules={module: _block("python")},
        targets={name: module},
    )


@pytest.fixture
def installed(plugin: Path) -> Iterator[None]:
    with on_sys_path(plugin, _entry_point()[1]):
        yield


@pytest.fixture(scope="module")
def line_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_line_model(tmp_path_factory.mktemp("models") / "line")


def test_the_example_is_short_and_complete() -> None:
    code = _block("python")
    compile(code, "runlab_folder.py", "exec")
    assert len([line for line in code.splitlines() if line.strip()]) <= 55
    assert _entry_point() == ("folder", "runlab_folder")


def test_the_example_through_the_python_api(
    installed: None, line_model: Path, tmp_path: Path
) -> None:
    root = tmp_path / "deployments"
    client = get_deploy_client(f"folder:/{root}")
    created = client.create_deployment("line", str(line_model), config={"replicas": 2})
    assert created["flavor"] == "python_function"
    assert created["source"] == str(line_model.resolve())
    assert [d["name"] for d in client.list_deployments()] == ["line"]
    assert client.get_deployment("line")["config"] == {"replicas": 2}

    answer = client.predict("line", pd.DataFrame({"x": [1.0, 2.5]}))
    assert isinstance(answer, PredictionsResponse)
    assert answer.get_predictions(predictions_format="ndarray").tolist() == pytest.approx([3, 6])
    assert answer.get_predictions()[0].tolist() == pytest.approx([3, 6])
    assert client.predict("line", ROWS)["predictions"] == pytest.approx([3, 6])

    updated = client.update_deployment("line", config={"replicas": 3, "tier": "gold"})
    assert updated["config"] == {"replicas": 3, "tier": "gold"}
    assert updated["source"] == created["source"]

    client.delete_deployment("line")
    client.delete_deployment("line")  # already gone: not an error
    assert client.list_deployments() == []
    assert "folder:/" in target_help("folder")


def test_the_example_refuses_bad_input_and_writes_nothing(
    installed: None, line_model: Path, tmp_path: Path
) -> None:
    root = tmp_path / "deployments"
    client = get_deploy_client(f"folder:/{root}")
    with pytest.raises(NotFound, match="No model at"):
        client.create_deployment("ghost", str(tmp_path / "missing"))
    with pytest.raises(InvalidParameter, match="cannot deploy the flavor 'sklearn_x'"):
        client.create_deployment("odd", str(line_model), flavor="sklearn_x")
    with pytest.raises(InvalidParameter, match="letters, digits"):
        client.create_deployment("../escape", str(line_model))
    assert not root.exists()  # nothing was created for any of them

    client.create_deployment("line", str(line_model), config={"replicas": 1})
    before = client.get_deployment("line")
    with pytest.raises(AlreadyExists):
        client.create_deployment("line", str(line_model))
    with pytest.raises(NotFound):
        client.update_deployment("line", model_uri=str(tmp_path / "missing"))
    assert client.get_deployment("line") == before  # a failed update changes nothing
    with pytest.raises(NotFound, match="No deployment 'other'"):
        client.predict("other", ROWS)
    with pytest.raises(InvalidParameter, match="does not support create_endpoint"):
        client.create_endpoint("e")
    assert sorted(p.name for p in root.iterdir()) == ["line.json"]


def _cli(env: dict[str, str], *args: str, cwd: Path) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "runlab.cli", "deployments", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    try:
        return json.loads(done.stdout)
    except ValueError:  # help prints text
        return done.stdout


def _register(line_model: Path, tracking_uri: str) -> None:
    """Register the model as ``line`` version 1, aliased ``champion``, in a SQLite store."""
    from runlab.models.model import Model

    runlab.set_tracking_uri(tracking_uri)
    try:
        with runlab.start_run():
            runlab.log_artifacts(str(line_model), "model")
            uri = f"runs:/{runlab.active_run().info.run_id}/model"
        assert Model.load(line_model).flavors
        version = runlab.register_model(uri, "line")
        runlab.MlflowClient().set_registered_model_alias("line", "champion", version.version)
    finally:
        runlab.set_tracking_uri(None)


def test_the_example_through_the_command_line(
    plugin: Path, line_model: Path, tmp_path: Path
) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'runlab.db'}"
    _register(line_model, tracking_uri)
    env = env_with_path(plugin)
    target = f"folder:/{tmp_path / 'deployments'}"

    created = _cli(
        env,
        "create",
        *("-t", target, "--name", "line", "-m", "models:/line@champion"),
        *("-C", "replicas=2", "--tracking-uri", tracking_uri),
        cwd=tmp_path,
    )
    assert isinstance(created, dict)
    assert created["model_uri"] == "models:/line@champion"
    # The alias was resolved to the version's files when deployed.
    assert "artifacts" in created["source"] and created["config"] == {"replicas": 2}
    assert _cli(env, "list", "-t", target, cwd=tmp_path) == [created]
    assert _cli(env, "get", "-t", target, "--name", "line", cwd=tmp_path) == created

    (tmp_path / "rows.json").write_text(json.dumps(ROWS))
    _cli(
        env,
        "predict",
        *("-t", target, "--name", "line", "--input-path", "rows.json"),
        *("--output-path", "out.json"),
        cwd=tmp_path,
    )
    answer = PredictionsResponse.from_json((tmp_path / "out.json").read_text())
    assert answer["predictions"] == pytest.approx([3, 6])

    assert "folder:/<dir>" in str(_cli(env, "help", "-t", "folder", cwd=tmp_path))
    assert _cli(env, "delete", "-t", target, "--name", "line", cwd=tmp_path) == {
        "name": "line",
        "deleted": True,
    }
    assert not (tmp_path / "deployments" / "line.json").exists()


def test_run_local_serves_the_model(plugin: Path, line_model: Path, tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "runlab.cli", "deployments", "run-local"]
    argv += ["-t", "folder", "--name", "line", "-m", str(line_model), "-C", f"port={port}"]
    server = ServerProcess(argv, port, tmp_path / "run-local.log", env=env_with_path(plugin))
    server.start()
    try:
        answer = httpx.post(f"{server.url}/invocations", json=ROWS, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == pytest.approx([3, 6])
    finally:
        server.stop()
    assert not server.running
