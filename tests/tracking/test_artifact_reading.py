"""``runlab.artifacts.download_artifacts`` / ``list_artifacts`` / ``load_*`` on local stores.

Runs live in a fresh SQLite database with artifacts on disk (and, for S3, in moto's real S3
API). The same functions through a tracking server's artifact proxy, next to the real MLflow
client, are in tests/compat/test_mlflow_client_datasets.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import runlab
import runlab.artifacts
from runlab import uris
from runlab.entities import FileInfo, LoggedModelOutput
from runlab.errors import ArtifactNotFound, InvalidParameter, RunNotFound
from support.moto_s3 import BUCKET, moto_s3, s3_env  # noqa: F401  (fixtures used by name)

artifacts = runlab.artifacts


@pytest.fixture
def run_id(client: runlab.Client) -> str:
    """A run with a text file, a folder tree, a JSON and a YAML dict and a PNG image."""
    pil = pytest.importorskip("PIL.Image")
    with runlab.start_run() as run:
        runlab.log_text("hello", "notes.txt")
        runlab.log_text("deep", "dir/sub/a.txt")
        runlab.log_text("b", "dir/b.txt")
        runlab.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.json")
        runlab.log_dict({"name": "x", "n": 3}, "config.yaml")
        runlab.log_image(pil.new("RGB", (4, 3), (255, 0, 0)), "images/red.png")
    return run.info.run_id


def _paths(infos: list[FileInfo]) -> list[tuple[str, bool]]:
    return [(i.path, i.is_dir) for i in infos]


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- list_artifacts --------------------------------------------------------------------------------


def test_list_by_run_id_and_by_runs_uri(run_id: str) -> None:
    root = [("config.json", False), ("config.yaml", False), ("dir", True), ("images", True)]
    root.append(("notes.txt", False))
    assert _paths(artifacts.list_artifacts(run_id=run_id)) == root
    assert _paths(artifacts.list_artifacts(f"runs:/{run_id}")) == root
    # As MLflow: with run_id the path stays whole; a runs:/ URI reads its last segment in the
    # folder above it.
    assert _paths(artifacts.list_artifacts(run_id=run_id, artifact_path="dir/sub")) == [
        ("dir/sub/a.txt", False)
    ]
    assert _paths(artifacts.list_artifacts(f"runs:/{run_id}/dir/sub")) == [("sub/a.txt", False)]
    assert _paths(artifacts.list_artifacts(f"runs:/{run_id}/dir")) == [
        ("dir/b.txt", False),
        ("dir/sub", True),
    ]
    sizes = {i.path: i.file_size for i in artifacts.list_artifacts(run_id=run_id)}
    assert sizes["notes.txt"] == 5 and sizes["dir"] is None


def test_list_a_location(run_id: str) -> None:
    root_uri = runlab.get_run(run_id).info.artifact_uri
    assert [p for p, _ in _paths(artifacts.list_artifacts(root_uri))][:2] == [
        "artifacts/config.json",
        "artifacts/config.yaml",
    ]
    assert _paths(artifacts.list_artifacts(root_uri + "/dir/sub")) == [("sub/a.txt", False)]
    local = uris.file_uri_to_path(root_uri)
    assert _paths(artifacts.list_artifacts(Path(local) / "dir" / "sub")) == [("sub/a.txt", False)]


def test_listing_nothing_or_a_file_is_empty(run_id: str) -> None:
    assert artifacts.list_artifacts(f"runs:/{run_id}/missing") == []
    assert artifacts.list_artifacts(run_id=run_id, artifact_path="missing/deeper") == []
    assert artifacts.list_artifacts(f"runs:/{run_id}/notes.txt") == []


# -- download_artifacts ----------------------------------------------------------------------------


def test_download_layouts_match_mlflows(run_id: str, tmp_path: Path) -> None:
    # run_id + artifact_path keeps the whole path below dst_path ...
    got = artifacts.download_artifacts(
        run_id=run_id, artifact_path="dir/sub/a.txt", dst_path=tmp_path / "one"
    )
    assert got == str(tmp_path / "one" / "dir" / "sub" / "a.txt")
    assert Path(got).read_text() == "deep"
    # ... a runs:/ URI keeps its last segment only ...
    got = artifacts.download_artifacts(f"runs:/{run_id}/dir/sub/a.txt", dst_path=tmp_path / "two")
    assert got == str(tmp_path / "two" / "a.txt")
    got = artifacts.download_artifacts(f"runs:/{run_id}/dir", dst_path=tmp_path / "three")
    assert got == str(tmp_path / "three" / "dir")
    assert _tree(Path(got)) == ["b.txt", "sub/a.txt"]
    # ... and a whole run lands in dst_path itself, created when missing.
    got = artifacts.download_artifacts(run_id=run_id, dst_path=tmp_path / "new" / "four")
    assert got == str(tmp_path / "new" / "four")
    assert "dir/sub/a.txt" in _tree(Path(got)) and "notes.txt" in _tree(Path(got))


def test_local_artifacts_are_not_copied_without_dst_path(run_id: str) -> None:
    root = Path(uris.file_uri_to_path(runlab.get_run(run_id).info.artifact_uri))
    assert artifacts.download_artifacts(f"runs:/{run_id}/dir/b.txt") == str(root / "dir" / "b.txt")
    assert artifacts.download_artifacts(run_id=run_id) == str(root)
    assert artifacts.download_artifacts(str(root / "notes.txt")) == str(root / "notes.txt")


def test_download_a_location(run_id: str, tmp_path: Path) -> None:
    root_uri = runlab.get_run(run_id).info.artifact_uri
    got = artifacts.download_artifacts(root_uri, dst_path=tmp_path)
    assert got == str(tmp_path / "artifacts")
    assert "config.yaml" in _tree(Path(got))
    got = artifacts.download_artifacts(root_uri + "/dir/b.txt", dst_path=tmp_path / "f")
    assert Path(got).read_text() == "b"


def test_models_uris_read_inside_the_model(client: runlab.Client, tmp_path: Path) -> None:
    with runlab.start_run() as run:
        runlab.log_text("flavors: {}", "clf/MLmodel")
        runlab.log_text("weights", "clf/data/model.bin")
    client.create_registered_model("clf")
    source = uris.append_to_uri_path(runlab.get_run(run.info.run_id).info.artifact_uri, "clf")
    client.create_model_version("clf", source, run.info.run_id)
    client.set_registered_model_alias("clf", "champion", 1)

    for uri in ("models:/clf/1", "models:/clf@champion", "models:/clf/latest"):
        assert _paths(artifacts.list_artifacts(uri)) == [("MLmodel", False), ("data", True)]
    assert _paths(artifacts.list_artifacts("models:/clf/1/data")) == [("data/model.bin", False)]
    got = artifacts.download_artifacts("models:/clf/1/data/model.bin", dst_path=tmp_path)
    assert got == str(tmp_path / "data" / "model.bin")
    assert artifacts.load_text("models:/clf@champion/MLmodel") == "flavors: {}"
    got = artifacts.download_artifacts("models:/clf/1", dst_path=tmp_path / "whole")
    assert _tree(Path(got)) == ["MLmodel", "data/model.bin"]


def test_a_logged_model_stands_in_for_a_runs_path(client: runlab.Client, tmp_path: Path) -> None:
    run_id = client.create_run("0").info.run_id
    store: Any = client.store
    model = store.create_logged_model("0", name="model", source_run_id=run_id)
    folder = Path(uris.file_uri_to_path(model.artifact_location))
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}")
    (folder / "data" / "w.bin").write_bytes(b"\x00\x01")
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])

    # Paths read as the run's: model/…
    assert _paths(artifacts.list_artifacts(f"runs:/{run_id}/model")) == [
        ("model/MLmodel", False),
        ("model/data", True),
    ]
    assert _paths(artifacts.list_artifacts(run_id=run_id, artifact_path="model/data")) == [
        ("model/data/w.bin", False)
    ]
    got = artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=tmp_path / "a")
    assert got == str(tmp_path / "a" / "model") and _tree(Path(got)) == ["MLmodel", "data/w.bin"]
    got = artifacts.download_artifacts(
        run_id=run_id, artifact_path="model/data/w.bin", dst_path=tmp_path / "b"
    )
    assert got == str(tmp_path / "b" / "model" / "data" / "w.bin")
    assert artifacts.load_text(f"runs:/{run_id}/model/MLmodel") == "flavors: {}"


@pytest.mark.usefixtures("s3_env")
def test_s3_runs_and_locations(client: runlab.Client, tmp_path: Path) -> None:
    root = f"s3://{BUCKET}/experiments/{tmp_path.name}/artifacts"
    experiment_id = client.create_experiment("on-s3", artifact_location=root)
    with runlab.start_run(experiment_id=experiment_id) as run:
        runlab.log_text("on s3", "dir/a b.txt")
        runlab.log_dict({"k": [1, 2]}, "conf.yml")
    run_uri = f"runs:/{run.info.run_id}"
    assert _paths(artifacts.list_artifacts(f"{run_uri}/dir")) == [("dir/a b.txt", False)]
    assert artifacts.load_text(f"{run_uri}/dir/a b.txt") == "on s3"
    assert artifacts.load_dict(f"{run_uri}/conf.yml") == {"k": [1, 2]}
    # Without dst_path a remote file goes to a new temporary folder.
    got = Path(artifacts.download_artifacts(f"{run_uri}/dir/a b.txt"))
    assert got.name == "a b.txt" and got.read_text() == "on s3"
    location = runlab.get_run(run.info.run_id).info.artifact_uri + "/dir"
    got = Path(artifacts.download_artifacts(location, dst_path=tmp_path))
    assert got == tmp_path / "dir" and _tree(got) == ["a b.txt"]
    with pytest.raises(ArtifactNotFound):
        artifacts.load_text(f"{run_uri}/dir/missing.txt")


# -- load_text / load_dict / load_image ------------------------------------------------------------


def test_loaders_read_what_the_loggers_wrote(run_id: str) -> None:
    assert artifacts.load_text(f"runs:/{run_id}/notes.txt") == "hello"
    assert artifacts.load_dict(f"runs:/{run_id}/config.json") == {"lr": 0.1, "layers": [1, 2]}
    assert artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {"name": "x", "n": 3}
    image = artifacts.load_image(f"runs:/{run_id}/images/red.png")
    assert image.size == (4, 3) and image.getpixel((0, 0)) == (255, 0, 0)
    root = runlab.get_run(run_id).info.artifact_uri
    assert artifacts.load_text(root + "/dir/sub/a.txt") == "deep"
    assert artifacts.load_text(Path(uris.file_uri_to_path(root)) / "dir" / "b.txt") == "b"


def _write(run_id: str, name: str, content: bytes) -> str:
    folder = Path(uris.file_uri_to_path(runlab.get_run(run_id).info.artifact_uri))
    (folder / name).write_bytes(content)
    return f"runs:/{run_id}/{name}"


@pytest.mark.parametrize(
    ("name", "content", "loader", "message"),
    [
        ("latin1.txt", "café".encode("latin-1"), "load_text", "not valid UTF-8"),
        ("broken.json", b'{"a": 1', "load_dict", "not valid JSON"),
        ("tabs.yaml", b"a: [1\n\tb: 2", "load_dict", "not valid YAML"),
        ("notes.png", b"this is not an image", "load_image", "not an image"),
    ],
)
def test_content_that_does_not_load_is_refused(
    run_id: str, name: str, content: bytes, loader: str, message: str
) -> None:
    uri = _write(run_id, name, content)
    with pytest.raises(InvalidParameter, match=message):
        getattr(artifacts, loader)(uri)


def test_a_folder_is_not_a_file_to_load(run_id: str) -> None:
    with pytest.raises(InvalidParameter, match="names a folder"):
        artifacts.load_text(f"runs:/{run_id}/dir")
    with pytest.raises(InvalidParameter, match="names a folder"):
        artifacts.load_dict(runlab.get_run(run_id).info.artifact_uri + "/dir")


# -- bad arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of artifact_uri and run_id"),
        ({"artifact_uri": "runs:/" + "a" * 32, "run_id": "a" * 32}, "exactly one"),
        ({"artifact_uri": "/tmp/x", "artifact_path": "x"}, "artifact_path goes with run_id"),
        ({"artifact_uri": ""}, "non-empty string"),
        ({"artifact_uri": 12}, "non-empty string"),
        ({"run_id": "a" * 32, "artifact_path": "../etc/passwd"}, r"'\.\.'"),
        ({"run_id": "a" * 32, "artifact_path": "/etc/passwd"}, "absolute"),
        ({"run_id": "bad id'"}, "Invalid run id"),
        ({"artifact_uri": "runs:/" + "a" * 32 + "/../x"}, "Malformed URI"),
        ({"artifact_uri": "models:/"}, "Malformed"),
        ({"artifact_uri": "gs://bucket/x"}, "not supported"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(
    client: runlab.Client, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    destination = tmp_path / "dst"
    with pytest.raises(InvalidParameter, match=message):
        artifacts.download_artifacts(dst_path=destination, **kwargs)
    assert not destination.exists()
    with pytest.raises(InvalidParameter, match=message):
        artifacts.list_artifacts(**kwargs)


def test_missing_things_are_not_found(client: runlab.Client, run_id: str, tmp_path: Path) -> None:
    destination = tmp_path / "dst"
    with pytest.raises(ArtifactNotFound, match=r"missing\.txt"):
        artifacts.download_artifacts(f"runs:/{run_id}/missing.txt", dst_path=destination)
    with pytest.raises(ArtifactNotFound, match=r"missing\.txt"):
        artifacts.download_artifacts(run_id=run_id, artifact_path="missing.txt")
    assert not destination.exists()
    with pytest.raises(RunNotFound):
        artifacts.download_artifacts(run_id="f" * 32)
    with pytest.raises(runlab.errors.NotFound):
        artifacts.load_text("models:/no-such-model/1/MLmodel")
    with pytest.raises(ArtifactNotFound):
        artifacts.load_text(tmp_path / "nothing-here.txt")


def test_tracking_uri_chooses_the_store(run_id: str, tracking_uri: str, tmp_path: Path) -> None:
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(RunNotFound):
        artifacts.load_text(f"runs:/{run_id}/notes.txt")
    assert (
        Path(
            artifacts.download_artifacts(f"runs:/{run_id}/notes.txt", tracking_uri=tracking_uri)
        ).read_text()
        == "hello"
    )
    listed = artifacts.list_artifacts(run_id=run_id, tracking_uri=tracking_uri)
    assert "notes.txt" in [i.path for i in listed]


def test_json_written_by_hand_loads(run_id: str) -> None:
    uri = _write(run_id, "list.json", json.dumps([1, {"a": None}]).encode())
    assert artifacts.load_dict(uri) == [1, {"a": None}]
