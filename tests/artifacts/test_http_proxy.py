"""HttpArtifactRepository against a real runlab app served by uvicorn on a loopback port (and,
for compatibility, against a real ``mlflow server`` and with MLflow's own client)."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from runlab.artifacts import (
    LocalArtifactRepository,
    S3ArtifactRepository,
    get_artifact_repository,
    http_proxy,
)
from runlab.artifacts.http_proxy import (
    HttpArtifactRepository,
    HttpOptions,
    auth_headers,
    resolve_proxy_uri,
)
from runlab.artifacts.multipart import MultipartUpload, PartCredential, plan_parts, send_parts
from runlab.entities import FileInfo
from runlab.errors import (
    ArtifactNotFound,
    InvalidParameter,
    PermissionDenied,
    RunlabError,
    Unavailable,
)
from runlab.server.app import build_app
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from support.moto_s3 import MotoS3, free_loopback_port

MiB = 1024 * 1024
ROOT = "mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts"


@contextlib.contextmanager
def live_server(tmp_path: Path, repo: Any, **settings: Any) -> Iterator[str]:
    """The runlab app under uvicorn in a background thread; yields its base URL."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'server.db'}", (tmp_path / "default").as_uri())
    app = build_app(store, artifact_repo=repo, settings=ServerSettings(**settings))
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive(), "uvicorn exited during start-up"
            assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    folder = tmp_path / "destination"
    folder.mkdir()
    return folder


@pytest.fixture
def server_url(tmp_path: Path, destination: Path) -> Iterator[str]:
    with live_server(tmp_path, LocalArtifactRepository(str(destination))) as url:
        yield url


@pytest.fixture
def repo(server_url: str) -> Iterator[HttpArtifactRepository]:
    with HttpArtifactRepository(ROOT, server_url, env={}) as repository:
        yield repository


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "top.txt").write_text("top")
    (folder / "sub" / "a.json").write_text('{"a": 1}')
    (folder / "sub" / "deeper" / "b.bin").write_bytes(b"\x00\x01\x02")
    (folder / "sub" / "name with space é.txt").write_text("unicode")
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- round trips -----------------------------------------------------------------------------------


def test_file_round_trip_and_listing(
    repo: HttpArtifactRepository, tmp_path: Path, destination: Path
) -> None:
    local = tmp_path / "notes.txt"
    local.write_text("hello")
    repo.log_artifact(local, "docs")
    repo.log_artifact(local)
    stored = destination / "1" / "0123456789abcdef0123456789abcdef" / "artifacts"
    assert (stored / "docs" / "notes.txt").read_text() == "hello"
    assert repo.list_artifacts() == [
        FileInfo("docs", True, None),
        FileInfo("notes.txt", False, 5),
    ]
    assert repo.list_artifacts("docs") == [FileInfo("docs/notes.txt", False, 5)]
    assert repo.list_artifacts("docs/notes.txt") == []  # a file has no children
    assert repo.list_artifacts("missing") == []
    out = repo.download_artifacts("docs/notes.txt", str(tmp_path / "out"))
    assert out == str(tmp_path / "out" / "docs" / "notes.txt")
    assert Path(out).read_text() == "hello"


def test_folder_round_trip(repo: HttpArtifactRepository, source_dir: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source_dir, "model")
    assert [info.path for info in repo.list_artifacts("model/sub")] == [
        "model/sub/a.json",
        "model/sub/deeper",
        "model/sub/name with space é.txt",
    ]
    out = Path(repo.download_artifacts("model", str(tmp_path / "out")))
    assert out == tmp_path / "out" / "model"
    assert _tree(out) == _tree(source_dir)
    # The whole root into a fresh temporary folder; no partial files left behind.
    everything = Path(repo.download_artifacts())
    assert _tree(everything / "model") == _tree(source_dir)
    assert not [p for p in everything.rglob("*") if p.name.startswith(".runlab-partial-")]


def test_large_file_streams_both_ways(
    repo: HttpArtifactRepository, tmp_path: Path, destination: Path
) -> None:
    data = os.urandom(12 * MiB + 5)
    local = tmp_path / "weights.bin"
    local.write_bytes(data)
    repo.log_artifact(local, "big")
    out = repo.download_artifacts("big/weights.bin", str(tmp_path / "out"))
    assert Path(out).read_bytes() == data


def test_log_bytes_overwrite_and_delete(repo: HttpArtifactRepository, tmp_path: Path) -> None:
    repo.log_bytes(b"v1", "conf/settings.yaml")
    repo.log_bytes(b"version 2", "conf/settings.yaml")
    repo.log_bytes(b"x", "conf/other.txt")
    out = repo.download_artifacts("conf/settings.yaml", str(tmp_path / "a"))
    assert Path(out).read_bytes() == b"version 2"
    repo.delete_artifacts("conf/other.txt")
    assert [i.path for i in repo.list_artifacts("conf")] == ["conf/settings.yaml"]
    repo.delete_artifacts("conf")
    assert repo.list_artifacts() == []
    repo.delete_artifacts("never/there")  # not an error


def test_http_root_and_factory(server_url: str, tmp_path: Path) -> None:
    http_root = f"{server_url}/api/2.0/mlflow-artifacts/artifacts/1/0123456789abcdef0123456789abcdef/artifacts"
    via_http = get_artifact_repository(http_root)
    via_scheme = get_artifact_repository(ROOT, tracking_uri=server_url)
    assert isinstance(via_http, HttpArtifactRepository)
    assert isinstance(via_scheme, HttpArtifactRepository)
    via_http.log_bytes(b"shared", "x.txt")
    assert via_scheme.list_artifacts() == [FileInfo("x.txt", False, 6)]
    via_http.close()
    via_scheme.close()


def test_empty_root_downloads_as_empty_folder(repo: HttpArtifactRepository, tmp_path: Path) -> None:
    out = repo.download_artifacts("", str(tmp_path / "empty"))
    assert Path(out).is_dir() and list(Path(out).iterdir()) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(
    repo: HttpArtifactRepository,
    source_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(http_proxy, "PROGRESS_MIN_BYTES", 1)
    repo.log_artifacts(source_dir, "shown")
    out = repo.download_artifacts("shown", str(tmp_path / "out"))
    assert _tree(Path(out)) == _tree(source_dir)
    shown = terminal.getvalue()  # the bars went to stderr
    assert "Uploading source" in shown and "Downloading shown" in shown


# -- errors ----------------------------------------------------------------------------------------


def test_error_mapping(repo: HttpArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match=r"missing\.txt"):
        repo.download_artifacts("missing.txt", str(tmp_path / "out"))
    assert not (tmp_path / "out" / "missing.txt").exists()
    repo.log_bytes(b"x", "folder/file.txt")
    with pytest.raises(InvalidParameter, match="folder with that name exists"):
        repo.log_bytes(b"x", "folder")
    # Refused on the client side, before any request.
    for bad in ("../escape.txt", "a/%2e%2e/b", "/abs", "a\\b"):
        with pytest.raises(InvalidParameter, match="Invalid artifact path"):
            repo.log_bytes(b"x", bad)


def test_unavailable_and_denied(tmp_path: Path, destination: Path) -> None:
    local = LocalArtifactRepository(str(destination))
    with (
        live_server(tmp_path / "off", local, serve_artifacts=False) as url,
        HttpArtifactRepository(ROOT, url, env={}) as repo,
        pytest.raises(Unavailable, match="does not serve artifacts"),
    ):
        repo.list_artifacts()
    with (
        live_server(tmp_path / "hosts", local, allowed_hosts=("runlab.example",)) as url,
        HttpArtifactRepository(ROOT, url, env={}) as repo,
        pytest.raises(PermissionDenied, match="Host"),
    ):
        repo.log_bytes(b"x", "a.txt")
    with (
        live_server(tmp_path / "limit", local, max_artifact_bytes=10) as url,
        HttpArtifactRepository(ROOT, url, env={}) as repo,
    ):
        with pytest.raises(InvalidParameter, match="limit") as caught:
            repo.log_bytes(b"x" * 11, "a.txt")
        assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    nobody = f"http://127.0.0.1:{free_loopback_port()}"
    with (
        HttpArtifactRepository(ROOT, nobody, env={}) as repo,
        pytest.raises(Unavailable, match="cannot reach"),
    ):
        repo.list_artifacts()


# -- multipart ---------------------------------------------------------------------------------------


def test_multipart_upload_to_s3_destination(s3_env: MotoS3, s3_root: str, tmp_path: Path) -> None:
    data = os.urandom(7 * MiB + 3)  # two 5 MiB-chunk parts; below the server's own part size
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    env = {
        "RUNLAB_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(6 * MiB),
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MiB),  # the MLflow name works too
    }
    bucket_repo = S3ArtifactRepository(s3_root)
    with (
        live_server(tmp_path, bucket_repo, artifacts_destination=s3_root) as url,
        HttpArtifactRepository(ROOT, url, env=env) as repo,
    ):
        repo.log_artifact(local, "models")
        repo.log_bytes(b"small", "models/small.txt")
        path = "1/0123456789abcdef0123456789abcdef/artifacts/models/model.bin"
        info = bucket_repo.stat_file(path)
        # An S3 ETag of the form "<hash>-<parts>" shows the parts went up separately.
        assert info.size == len(data) and info.etag.strip('"').endswith("-2")
        out = repo.download_artifacts("models/model.bin", str(tmp_path / "out"))
        assert Path(out).read_bytes() == data


def test_multipart_falls_back_to_put_when_not_offered(
    server_url: str, tmp_path: Path, destination: Path
) -> None:
    data = os.urandom(2 * MiB)
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    env = {
        "RUNLAB_ENABLE_PROXY_MULTIPART_UPLOAD": "true",  # forced on: create answers 501
        "RUNLAB_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(MiB),
    }
    with HttpArtifactRepository(ROOT, server_url, env=env) as repo:
        repo.log_artifact(local)
        assert repo.list_artifacts() == [FileInfo("model.bin", False, len(data))]


def test_plan_parts() -> None:
    assert plan_parts(0, 10) == [(1, 0, 0)]
    assert plan_parts(25, 10) == [(1, 0, 10), (2, 10, 10), (3, 20, 5)]
    assert plan_parts(20, 10) == [(1, 0, 10), (2, 10, 10)]
    # Past 10,000 parts the chunk grows so that 10,000 are enough.
    many = plan_parts(10 * 10_000 + 1, 10)
    assert len(many) <= 10_000 and sum(length for _, _, length in many) == 10 * 10_000 + 1
    with pytest.raises(InvalidParameter):
        plan_parts(10, 0)


def test_send_parts_reads_the_right_bytes_and_reports_failures(tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(bytes(range(256)) * 4)
    parts = plan_parts(1024, 300)
    upload = MultipartUpload("u", [PartCredential(n, f"https://s3/{n}") for n, _, _ in parts])
    received: dict[int, bytes] = {}

    def put(credential: PartCredential, data: bytes) -> str:
        received[credential.part_number] = data
        return f'"etag-{credential.part_number}"'

    uploaded = send_parts(source, upload, parts, put)
    assert [p.etag for p in uploaded] == ['"etag-1"', '"etag-2"', '"etag-3"', '"etag-4"']
    assert b"".join(received[n] for n in sorted(received)) == source.read_bytes()

    def failing(credential: PartCredential, data: bytes) -> str:
        if credential.part_number == 2:
            raise Unavailable("part 2 lost")
        return "e"

    with pytest.raises(Unavailable, match="part 2 lost"):
        send_parts(source, upload, parts, failing)
    with pytest.raises(InvalidParameter, match="part URLs"):
        send_parts(source, MultipartUpload("u", upload.credentials[:2]), parts, put)


# -- configuration -----------------------------------------------------------------------------------


def test_auth_headers() -> None:
    assert auth_headers({}) == {}
    assert auth_headers({"MLFLOW_TRACKING_TOKEN": "t"}) == {"Authorization": "Bearer t"}
    assert auth_headers({"RUNLAB_TRACKING_TOKEN": "r", "MLFLOW_TRACKING_TOKEN": "m"}) == {
        "Authorization": "Bearer r"
    }
    basic = auth_headers(
        {
            "RUNLAB_TRACKING_TOKEN": "t",
            "RUNLAB_TRACKING_USERNAME": "ann",
            "MLFLOW_TRACKING_PASSWORD": "s3cret:x",
        }
    )
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret:x").decode()}


def test_auth_headers_are_sent(server_url: str) -> None:
    seen: list[str | None] = []
    with httpx.Client(
        event_hooks={"request": [lambda r: seen.append(r.headers.get("authorization"))]}
    ) as http:
        repo = HttpArtifactRepository(ROOT, server_url, http, env={"RUNLAB_TRACKING_TOKEN": "tok"})
        repo.list_artifacts()
        repo.close()  # a shared client stays open
        assert not http.is_closed
    assert seen == ["Bearer tok"]


def test_options_from_env() -> None:
    options = HttpOptions.from_env(
        {"MLFLOW_TRACKING_INSECURE_TLS": "true", "RUNLAB_HTTP_REQUEST_TIMEOUT": "5"}
    )
    assert options.verify is False and options.timeout == 5.0
    assert options.multipart_min_size == 500 * MiB and options.multipart_chunk_size == 10 * MiB
    assert options.multipart_forced is None
    with pytest.raises(InvalidParameter, match="use one of them"):
        HttpOptions.from_env(
            {"RUNLAB_TRACKING_INSECURE_TLS": "1", "RUNLAB_TRACKING_SERVER_CERT_PATH": "ca.pem"}
        )
    with pytest.raises(InvalidParameter, match="MULTIPART_UPLOAD_CHUNK_SIZE"):
        HttpOptions.from_env({"RUNLAB_MULTIPART_UPLOAD_CHUNK_SIZE": "ten"})


@pytest.mark.parametrize(
    ("uri", "tracking", "expected"),
    [
        ("mlflow-artifacts:/1/r/artifacts", "http://h:5000", ("http://h:5000", "1/r/artifacts")),
        ("mlflow-artifacts:/1/r", "https://h/prefix/", ("https://h/prefix", "1/r")),
        ("mlflow-artifacts://other:6000/1/r", "http://h:5000", ("http://other:6000", "1/r")),
        ("mlflow-artifacts:/", "http://h", ("http://h", "")),
        ("mlflow-artifacts:/a%20b/c", "http://h", ("http://h", "a b/c")),
        (
            "https://h:1/p/api/2.0/mlflow-artifacts/artifacts/1/r",
            None,
            ("https://h:1/p", "1/r"),
        ),
        ("http://h/api/2.0/mlflow-artifacts/artifacts", None, ("http://h", "")),
    ],
)
def test_resolve_proxy_uri(uri: str, tracking: str | None, expected: tuple[str, str]) -> None:
    assert resolve_proxy_uri(uri, tracking) == expected


@pytest.mark.parametrize(
    ("uri", "tracking", "fragment"),
    [
        ("mlflow-artifacts:/1/r", None, "set the tracking URI"),
        ("mlflow-artifacts:/1/r", "sqlite:///x.db", "http"),
        ("mlflow-artifacts:/1/../../x", "http://h", "Invalid artifact path"),
        ("mlflow-artifacts:/1/%2e%2e/x", "http://h", "Invalid artifact path"),
        ("mlflow-artifacts:/1/r?x=1", "http://h", "query"),
        ("http://h/some/where", None, "artifact proxy"),
        ("http://h/api/2.0/mlflow-artifacts/artifactsX", None, "artifact proxy"),
    ],
)
def test_resolve_proxy_uri_refusals(uri: str, tracking: str | None, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        resolve_proxy_uri(uri, tracking)


def test_factory_needs_a_tracking_uri_for_mlflow_artifacts() -> None:
    with pytest.raises(InvalidParameter, match="tracking"):
        get_artifact_repository("mlflow-artifacts:/1/abc/artifacts")


# -- compatibility ------------------------------------------------------------------------------------


def test_mlflow_client_repository_against_runlab(
    server_url: str, source_dir: Path, tmp_path: Path
) -> None:
    """MLflow's own proxy client logs, lists and downloads through runlab's proxy."""
    http_repo = pytest.importorskip("mlflow.store.artifact.mlflow_artifacts_repo")
    repo = http_repo.MlflowArtifactsRepository(ROOT, tracking_uri=server_url)
    repo.log_artifacts(str(source_dir), "model")
    listed = sorted((f.path, f.is_dir) for f in repo.list_artifacts("model/sub"))
    assert listed == [
        ("model/sub/a.json", False),
        ("model/sub/deeper", True),
        ("model/sub/name with space é.txt", False),
    ]
    (tmp_path / "out").mkdir()  # MLflow's client wants an existing destination
    out = repo.download_artifacts("model", str(tmp_path / "out"))
    assert _tree(Path(out)) == _tree(source_dir)
    ours = HttpArtifactRepository(ROOT, server_url, env={})
    assert [i.path for i in ours.list_artifacts("model")] == ["model/sub", "model/top.txt"]
    ours.close()


def test_mlflow_client_multipart_through_runlab(
    s3_env: MotoS3, s3_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's client, told by server-info that multipart is on, uploads in presigned parts."""
    http_repo = pytest.importorskip("mlflow.store.artifact.mlflow_artifacts_repo")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(6 * MiB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MiB))
    data = os.urandom(7 * MiB)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    bucket_repo = S3ArtifactRepository(s3_root)
    with live_server(tmp_path, bucket_repo, artifacts_destination=s3_root) as url:
        repo = http_repo.MlflowArtifactsRepository(ROOT, tracking_uri=url)
        repo.log_artifact(str(local), "models")
        info = bucket_repo.stat_file("1/0123456789abcdef0123456789abcdef/artifacts/models/big.bin")
        assert info.size == len(data) and info.etag.strip('"').endswith("-2")


@pytest.mark.slow
def test_runlab_client_against_mlflow_server(tmp_path: Path, source_dir: Path) -> None:
    """runlab's proxy client against a real ``mlflow server --serve-artifacts``."""
    from support.servers import mlflow_server, running

    with (
        running(mlflow_server(tmp_path)) as server,
        HttpArtifactRepository(ROOT, server.url, env={}) as repo,
    ):
        repo.log_artifacts(source_dir, "model")
        repo.log_bytes(b"bytes", "model/extra.bin")
        assert [i.path for i in repo.list_artifacts("model")] == [
            "model/extra.bin",
            "model/sub",
            "model/top.txt",
        ]
        out = Path(repo.download_artifacts("model/sub", str(tmp_path / "out")))
        assert _tree(out) == _tree(source_dir / "sub")
        with pytest.raises(ArtifactNotFound):
            repo.download_artifacts("model/missing.txt", str(tmp_path / "out2"))
        repo.delete_artifacts("model/extra.bin")
        assert "model/extra.bin" not in [i.path for i in repo.list_artifacts("model")]
        with pytest.raises(RunlabError):
            repo.log_bytes(b"x", "model")  # a folder is there
