"""MLflow's client against runlab server: artifacts up and down through the artifact proxy.

Every run here has a ``mlflow-artifacts:/`` root, so MLflow's client uploads, lists and downloads
through the server's ``/api/2.0/mlflow-artifacts`` routes; the files must land in the server's
artifact destination byte for byte.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from support.servers import ProxiedRunlabServer


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative POSIX path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _stored(server: ProxiedRunlabServer, run: mlflow.ActiveRun | mlflow.entities.Run) -> Path:
    """Where the server keeps a run's artifacts: ``<destination>/<exp_id>/<run_id>/artifacts``."""
    return server.artifacts_destination / run.info.experiment_id / run.info.run_id / "artifacts"


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A small directory tree with nested folders, binary data and a non-ASCII name."""
    folder = tmp_path / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "top.txt").write_text("top level\n")
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    (folder / "sub" / "deeper" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "sub" / "name with space é.txt").write_text("unicode name")
    return folder


def test_log_artifact_and_log_artifacts(
    runlab_server: ProxiedRunlabServer, tmp_path: Path, source_dir: Path
) -> None:
    single = tmp_path / "notes.txt"
    single.write_bytes(b"first line\nsecond line\n\x00binary tail")
    experiment = mlflow.set_experiment(f"artifacts-{uuid.uuid4().hex[:12]}")
    assert experiment.artifact_location.startswith("mlflow-artifacts:/")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="copies")
        mlflow.log_artifacts(str(source_dir), artifact_path="tree")
        mlflow.log_artifacts(str(source_dir))
    stored = _stored(runlab_server, run)
    expected_tree = _tree(source_dir)
    assert (stored / "notes.txt").read_bytes() == single.read_bytes()
    assert (stored / "copies" / "notes.txt").read_bytes() == single.read_bytes()
    assert _tree(stored / "tree") == expected_tree
    assert {k: v for k, v in _tree(stored).items() if "/" not in k or k.startswith("sub/")} == {
        "notes.txt": single.read_bytes(),
        **expected_tree,
    }


def test_log_text_and_log_dict(runlab_server: ProxiedRunlabServer) -> None:
    experiment = mlflow.set_experiment(f"artifacts-{uuid.uuid4().hex[:12]}")
    payload = {"layers": [64, 32], "activation": "relu", "ünïcode": "ok"}
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_text("hello, proxy ✓\n", "texts/hello.txt")
        mlflow.log_dict(payload, "config/model.json")
        mlflow.log_dict(payload, "config/model.yaml")
    stored = _stored(runlab_server, run)
    assert (stored / "texts" / "hello.txt").read_text(encoding="utf-8") == "hello, proxy ✓\n"
    assert json.loads((stored / "config" / "model.json").read_text(encoding="utf-8")) == payload
    # MLflow reads them back through the proxy too.
    uri = f"runs:/{run.info.run_id}"
    assert mlflow.artifacts.load_text(f"{uri}/texts/hello.txt") == "hello, proxy ✓\n"
    assert mlflow.artifacts.load_dict(f"{uri}/config/model.json") == payload
    # load_dict reads JSON only; the YAML file is checked where it landed.
    assert yaml.safe_load((stored / "config" / "model.yaml").read_text(encoding="utf-8")) == payload


def test_list_artifacts_root_and_subdirectory(source_dir: Path) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment(f"artifacts-{uuid.uuid4().hex[:12]}")
    run_id = client.create_run(exp_id).info.run_id
    client.log_artifacts(run_id, str(source_dir))

    root = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)}
    assert root == {("sub", True, None), ("top.txt", False, len("top level\n"))}
    sub = {(f.path, f.is_dir) for f in client.list_artifacts(run_id, "sub")}
    assert sub == {
        ("sub/config.json", False),
        ("sub/deeper", True),
        ("sub/name with space é.txt", False),
    }
    deeper = client.list_artifacts(run_id, "sub/deeper")
    assert [(f.path, f.file_size) for f in deeper] == [("sub/deeper/weights.bin", 256 * 64)]
    assert client.list_artifacts(run_id, "no-such-dir") == []


def test_download_file_and_directory(tmp_path: Path, source_dir: Path) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment(f"artifacts-{uuid.uuid4().hex[:12]}")
    run_id = client.create_run(exp_id).info.run_id
    client.log_artifacts(run_id, str(source_dir), artifact_path="model")

    file_dst = tmp_path / "file-download"
    file_dst.mkdir()
    local_file = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="model/sub/deeper/weights.bin", dst_path=str(file_dst)
    )
    assert Path(local_file).read_bytes() == (source_dir / "sub/deeper/weights.bin").read_bytes()

    dir_dst = tmp_path / "dir-download"
    dir_dst.mkdir()
    local_dir = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run_id}/model", dst_path=str(dir_dst)
    )
    assert _tree(Path(local_dir)) == _tree(source_dir)

    # The whole run, straight from its mlflow-artifacts:/ root.
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith("mlflow-artifacts:/")
    everything = mlflow.artifacts.download_artifacts(
        artifact_uri=artifact_uri, dst_path=str(tmp_path / "all")
    )
    assert _tree(Path(everything) / "model") == _tree(source_dir)


def test_download_missing_artifact_fails(tmp_path: Path) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment(f"a-{uuid.uuid4().hex[:12]}")).info.run_id
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="missing.txt", dst_path=str(tmp_path)
        )


def test_empty_file_round_trip(runlab_server: ProxiedRunlabServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    client = MlflowClient()
    run = client.create_run(client.create_experiment(f"a-{uuid.uuid4().hex[:12]}"))
    client.log_artifact(run.info.run_id, str(empty), artifact_path="e")
    assert (_stored(runlab_server, run) / "e" / "empty.bin").read_bytes() == b""
    [info] = client.list_artifacts(run.info.run_id, "e")
    assert (info.path, info.file_size) == ("e/empty.bin", 0)
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="e/empty.bin", dst_path=str(tmp_path / "dl")
    )
    assert Path(local).read_bytes() == b""
