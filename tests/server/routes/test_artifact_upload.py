"""``POST /ajax-api/2.0/mlflow/upload-artifact`` (MLflow's UI upload) over the real app: files land
where the run's artifacts live, and every bad input is a clear 4xx that writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runlab.artifacts import LocalArtifactRepository
from runlab.server.routes.artifact_upload import UPLOAD_MAX_BYTES
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api

UPLOAD = "/ajax-api/2.0/mlflow/upload-artifact"


def upload(api: Api, body: bytes, **params: str) -> httpx.Response:
    return api.post(UPLOAD, params=params, content=body)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path → bytes), but the database's own."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("runlab.db")
    }


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


@pytest.fixture
def proxied(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, SqlTrackingStore, Path]]:
    """An app whose experiments have mlflow-artifacts:/ roots, proxied into tmp_path/dest."""
    destination = tmp_path / "dest"
    store = SqlTrackingStore(sqlite_url, "mlflow-artifacts:/")
    settings = ServerSettings(artifacts_destination=destination.as_uri())
    repo = LocalArtifactRepository(str(destination))
    try:
        for api in make_api(store, settings, artifact_repo=repo):
            yield api, store, destination
    finally:
        store.close()


def test_upload_into_a_proxied_run(proxied: tuple[Api, SqlTrackingStore, Path]) -> None:
    api, store, destination = proxied
    run = store.create_run("0", "u", 0, [], "r")
    run_id = run.info.run_id
    response = upload(api, b"hello\n", run_uuid=run_id, path="notes/readme.txt")
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert tree(destination) == {f"0/{run_id}/artifacts/notes/readme.txt": b"hello\n"}
    # The file is the run's artifact for every other route.
    listing = api.mlflow("GET", "artifacts/list", {"run_id": run_id, "path": "notes"}).json()
    assert listing["files"] == [{"path": "notes/readme.txt", "is_dir": False, "file_size": 6}]
    got = api.get("/get-artifact", params={"run_uuid": run_id, "path": "notes/readme.txt"})
    assert got.content == b"hello\n"
    # run_id works too, and a second upload replaces the file.
    again = upload(api, b"bye\n", run_id=run_id, path="notes/readme.txt")
    assert again.status_code == 200, again.text
    assert tree(destination) == {f"0/{run_id}/artifacts/notes/readme.txt": b"bye\n"}


def test_upload_into_a_local_run_root(api: Api, sqlite_store: SqlTrackingStore) -> None:
    run = sqlite_store.create_run("0", "u", 0, [], "r")
    response = upload(api, b"\x00\x01", run_uuid=run.info.run_id, path="model.bin")
    assert response.status_code == 200, response.text
    root = LocalArtifactRepository(run.info.artifact_uri)
    assert [f.path for f in root.list_artifacts()] == ["model.bin"]
    assert (root.root / "model.bin").read_bytes() == b"\x00\x01"


BAD_PATHS = ["../escape.txt", "a/../../escape.txt", "%2e%2e/escape.txt", "/etc/passwd", "a\\b"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_unsafe_paths_write_nothing(
    proxied: tuple[Api, SqlTrackingStore, Path], tmp_path: Path, path: str
) -> None:
    api, store, _ = proxied
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    before = tree(tmp_path)
    response = upload(api, b"pwned", run_uuid=run_id, path=path)
    assert error_of(response, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"
    assert tree(tmp_path) == before


def test_bad_requests_write_nothing(
    proxied: tuple[Api, SqlTrackingStore, Path], tmp_path: Path
) -> None:
    api, store, _ = proxied
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    before = tree(tmp_path)
    cases = [
        ({"path": "a.txt"}, b"x", 400, "Missing value for required parameter 'run_id'"),
        ({"run_uuid": run_id}, b"x", 400, "Missing value for required parameter 'path'"),
        ({"run_uuid": run_id, "path": ""}, b"x", 400, "must name a file"),
        ({"run_uuid": run_id, "path": "./"}, b"x", 400, "must name a file"),
        ({"run_uuid": run_id, "path": "a.txt"}, b"", 400, "The request body is empty"),
        ({"run_uuid": "0" * 32, "path": "a.txt"}, b"x", 404, "0" * 32),
        (
            {"run_uuid": run_id, "path": "big.bin"},
            b"\x00" * (UPLOAD_MAX_BYTES + 1),
            400,
            f"larger than {UPLOAD_MAX_BYTES} bytes",
        ),
    ]
    for params, body, status, fragment in cases:
        response = upload(api, body, **params)
        assert response.status_code == status, (params, response.text)
        assert fragment in response.json()["message"], (params, response.text)
    assert tree(tmp_path) == before
    # Only the ajax prefix serves it, and only for POST (as in MLflow).
    assert api.post("/api/2.0/mlflow/upload-artifact", content=b"x").status_code == 404
    assert api.get(UPLOAD, params={"run_uuid": run_id, "path": "a.txt"}).status_code == 405
    # A page on another origin cannot post files here.
    cross = api.post(
        UPLOAD,
        params={"run_uuid": run_id, "path": "a.txt"},
        content=b"x",
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert tree(tmp_path) == before


def test_a_name_too_long_is_named_as_sent(proxied: tuple[Api, SqlTrackingStore, Path]) -> None:
    api, store, destination = proxied
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    long = "n" * 300
    response = upload(api, b"x", run_uuid=run_id, path=f"dir/{long}")
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith(f"Invalid artifact path 'dir/{long}': a part of it is longer")
    assert tree(destination) == {}


def test_max_artifact_bytes_applies(sqlite_store: SqlTrackingStore, tmp_path: Path) -> None:
    run = sqlite_store.create_run("0", "u", 0, [], "r")
    for api in make_api(sqlite_store, ServerSettings(max_artifact_bytes=4)):
        response = upload(api, b"12345", run_uuid=run.info.run_id, path="a.txt")
        assert "larger than 4 bytes" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
        assert LocalArtifactRepository(run.info.artifact_uri).list_artifacts() == []
        ok = upload(api, b"1234", run_uuid=run.info.run_id, path="a.txt")
        assert ok.status_code == 200, ok.text
