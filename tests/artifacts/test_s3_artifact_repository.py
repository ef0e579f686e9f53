"""S3ArtifactRepository against a real S3 API (moto's server on a loopback port)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runlab.artifacts import ArtifactRepository, S3ArtifactRepository, get_artifact_repository
from runlab.artifacts.s3 import _translate, parse_s3_uri
from runlab.entities import FileInfo
from runlab.errors import (
    ArtifactNotFound,
    InvalidParameter,
    PermissionDenied,
    RunlabError,
    Unavailable,
)

if TYPE_CHECKING:  # annotations only; fixtures come from conftest.py
    from .conftest import MotoS3

boto3 = pytest.importorskip("boto3")


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {
        path.relative_to(folder).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def _raw_client(env: MotoS3) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=env.endpoint_url)


def _keys(env: MotoS3, prefix: str) -> list[str]:
    answer = _raw_client(env).list_objects_v2(Bucket=env.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in answer.get("Contents", []))


@pytest.fixture
def repo(s3_root: str) -> S3ArtifactRepository:
    repository = get_artifact_repository(s3_root)
    assert isinstance(repository, S3ArtifactRepository)
    return repository


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "top.txt").write_text("top")
    (folder / "sub" / "a.json").write_text('{"a": 1}')
    (folder / "sub" / "deeper" / "b.bin").write_bytes(b"\x00\x01\x02")
    return folder


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("s3://", "s3:///x", "s3://b/../x", "s3://b/a#frag", "s3://b/a//c", "http://b/x"):
        with pytest.raises(InvalidParameter):
            parse_s3_uri(bad)


def test_satisfies_the_protocol(repo: S3ArtifactRepository) -> None:
    assert isinstance(repo, ArtifactRepository)


def test_upload_and_list(repo: S3ArtifactRepository, s3_env: MotoS3, source_dir: Path) -> None:
    repo.log_artifacts(source_dir)
    repo.log_artifact(source_dir / "top.txt", "nested/path")
    repo.log_bytes(b"hello", "notes/hi.txt")

    _, prefix = parse_s3_uri(repo.root_uri)
    assert _keys(s3_env, prefix + "/") == sorted(
        f"{prefix}/{name}"
        for name in (
            "top.txt",
            "sub/a.json",
            "sub/deeper/b.bin",
            "nested/path/top.txt",
            "notes/hi.txt",
        )
    )
    assert repo.list_artifacts() == [
        FileInfo("nested", True, None),
        FileInfo("notes", True, None),
        FileInfo("sub", True, None),
        FileInfo("top.txt", False, 3),
    ]
    assert repo.list_artifacts("sub") == [
        FileInfo("sub/a.json", False, 8),
        FileInfo("sub/deeper", True, None),
    ]
    assert repo.list_artifacts("./sub/deeper/") == [FileInfo("sub/deeper/b.bin", False, 3)]
    assert repo.list_artifacts("missing") == []
    assert repo.list_artifacts("top.txt") == []


def test_content_type_is_set(repo: S3ArtifactRepository, s3_env: MotoS3) -> None:
    repo.log_bytes(b"{}", "meta.json")
    _, prefix = parse_s3_uri(repo.root_uri)
    head = _raw_client(s3_env).head_object(Bucket=s3_env.bucket, Key=f"{prefix}/meta.json")
    assert head["ContentType"] == "application/json"


@pytest.mark.slow  # about 1000 PUTs to moto
def test_listing_paginates(repo: S3ArtifactRepository, s3_env: MotoS3) -> None:
    # More than one page (1000 keys) of children, to exercise the paginator with a delimiter.
    client = _raw_client(s3_env)
    _, prefix = parse_s3_uri(repo.root_uri)
    for index in range(1005):
        client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/many/f{index:04d}.txt", Body=b"")
    listed = repo.list_artifacts("many")
    assert len(listed) == 1005
    assert listed[0] == FileInfo("many/f0000.txt", False, 0)
    assert listed == sorted(listed, key=lambda info: info.path)


def test_download_file_and_directory(
    repo: S3ArtifactRepository, source_dir: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source_dir)
    dst = tmp_path / "dst"
    local = repo.download_artifacts("sub/deeper/b.bin", str(dst))
    assert local == str(dst / "sub" / "deeper" / "b.bin")
    assert Path(local).read_bytes() == b"\x00\x01\x02"

    folder = repo.download_artifacts("sub", str(tmp_path / "dst2"))
    assert _tree(Path(folder)) == _tree(source_dir / "sub")

    whole = repo.download_artifacts()
    assert _tree(Path(whole)) == _tree(source_dir)


def test_large_file_uses_managed_multipart_transfer(
    repo: S3ArtifactRepository, s3_env: MotoS3, tmp_path: Path
) -> None:
    # Above boto3's default 8 MiB multipart threshold, so the upload is split into parts.
    payload = (uuid.uuid4().bytes * (9 * 1024 * 1024 // 16 + 1))[: 9 * 1024 * 1024 + 7]
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    repo.log_artifact(source, "models")
    _, prefix = parse_s3_uri(repo.root_uri)
    head = _raw_client(s3_env).head_object(Bucket=s3_env.bucket, Key=f"{prefix}/models/big.bin")
    assert head["ContentLength"] == len(payload)
    assert "-" in head["ETag"]  # multipart uploads have "<md5>-<parts>" ETags
    local = repo.download_artifacts("models/big.bin", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == payload


def test_delete(repo: S3ArtifactRepository, s3_env: MotoS3, source_dir: Path) -> None:
    repo.log_artifacts(source_dir)
    repo.log_bytes(b"x", "subway.txt")  # shares a prefix with "sub" but is not inside it
    repo.delete_artifacts("sub/deeper/b.bin")
    assert repo.list_artifacts("sub") == [FileInfo("sub/a.json", False, 8)]
    repo.delete_artifacts("sub")
    assert repo.list_artifacts() == [
        FileInfo("subway.txt", False, 1),
        FileInfo("top.txt", False, 3),
    ]
    repo.delete_artifacts("missing")  # no error
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    _, prefix = parse_s3_uri(repo.root_uri)
    assert _keys(s3_env, prefix) == []


def test_delete_root_keeps_sibling_roots(s3_env: MotoS3, s3_root: str) -> None:
    repo = get_artifact_repository(s3_root)
    sibling = get_artifact_repository(s3_root + "-sibling")
    repo.log_bytes(b"a", "a.txt")
    sibling.log_bytes(b"b", "b.txt")
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert sibling.list_artifacts() == [FileInfo("b.txt", False, 1)]


def test_not_found_mapping(repo: S3ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        repo.download_artifacts("missing.txt", str(tmp_path))
    with pytest.raises(ArtifactNotFound):
        repo.download_artifacts("missing/dir", str(tmp_path))
    assert not any(tmp_path.iterdir())
    # An empty root is an empty tree, not an error.
    assert _tree(Path(repo.download_artifacts("", str(tmp_path / "empty")))) == {}


def test_missing_bucket(s3_env: MotoS3, tmp_path: Path) -> None:
    repo = get_artifact_repository(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x")
    with pytest.raises(ArtifactNotFound, match="bucket does not exist"):
        repo.list_artifacts()
    with pytest.raises(ArtifactNotFound, match="bucket does not exist"):
        repo.download_artifacts("a.txt", str(tmp_path))
    with pytest.raises(ArtifactNotFound, match="bucket does not exist"):
        repo.log_bytes(b"x", "a.txt")


def test_keys_that_would_escape_dst_are_refused(
    repo: S3ArtifactRepository, s3_env: MotoS3, tmp_path: Path
) -> None:
    # Anyone with write access to the bucket can create such a key; downloading must not follow it.
    _, prefix = parse_s3_uri(repo.root_uri)
    client = _raw_client(s3_env)
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/ok.txt", Body=b"ok")
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/dir/../../escape.txt", Body=b"evil")
    dst = tmp_path / "deep" / "dst"
    with pytest.raises(InvalidParameter):
        repo.download_artifacts("", str(dst))
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not dst.exists()  # refused before anything was written


@pytest.mark.parametrize("bad", ["../x", "%2e%2e/x", "/abs", "a\\b", "a#b"])
def test_bad_paths_are_refused_before_any_request(
    repo: S3ArtifactRepository, s3_env: MotoS3, source_dir: Path, tmp_path: Path, bad: str
) -> None:
    for call in (
        lambda: repo.log_bytes(b"x", bad),
        lambda: repo.log_artifact(source_dir / "top.txt", bad),
        lambda: repo.log_artifacts(source_dir, bad),
        lambda: repo.list_artifacts(bad),
        lambda: repo.download_artifacts(bad, str(tmp_path / "dl")),
        lambda: repo.delete_artifacts(bad),
    ):
        with pytest.raises(InvalidParameter):
            call()
    _, prefix = parse_s3_uri(repo.root_uri)
    assert _keys(s3_env, prefix) == []
    assert not (tmp_path / "dl").exists()


def test_custom_endpoint_env_precedence(
    s3_env: MotoS3, s3_root: str, unused_endpoint_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = unused_endpoint_url
    # MLflow's variable alone is honoured.
    monkeypatch.delenv("RUNLAB_S3_ENDPOINT_URL")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_env.endpoint_url)
    repo = S3ArtifactRepository(s3_root)
    assert repo.endpoint_url == s3_env.endpoint_url
    repo.log_bytes(b"via mlflow var", "a.txt")
    # runlab's own variable wins over MLflow's.
    monkeypatch.setenv("RUNLAB_S3_ENDPOINT_URL", s3_env.endpoint_url)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", dead)
    assert S3ArtifactRepository(s3_root).list_artifacts() == [FileInfo("a.txt", False, 14)]
    # An explicit argument wins over both.
    monkeypatch.setenv("RUNLAB_S3_ENDPOINT_URL", dead)
    explicit = S3ArtifactRepository(s3_root, endpoint_url=s3_env.endpoint_url)
    assert explicit.list_artifacts() == [FileInfo("a.txt", False, 14)]


def test_unreachable_endpoint_is_unavailable(
    s3_env: MotoS3, s3_root: str, unused_endpoint_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_S3_ENDPOINT_URL", unused_endpoint_url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries with backoff: keep the test fast
    repo = S3ArtifactRepository(s3_root)
    with pytest.raises(Unavailable, match="cannot reach"):
        repo.list_artifacts()
    with pytest.raises(Unavailable):
        repo.log_bytes(b"x", "a.txt")


def test_missing_credentials_are_permission_denied(
    s3_env: MotoS3, s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # Stop boto3 from asking an instance-metadata service that is not there.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    repo = S3ArtifactRepository(s3_root)
    with pytest.raises(PermissionDenied, match="credentials"):
        repo.list_artifacts()


def _client_error(code: str, status: int) -> BaseException:
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ArtifactNotFound),
        ("404", 404, ArtifactNotFound),
        ("NoSuchBucket", 404, ArtifactNotFound),
        ("AccessDenied", 403, PermissionDenied),
        ("403", 403, PermissionDenied),
        ("InvalidAccessKeyId", 403, PermissionDenied),
        ("SignatureDoesNotMatch", 403, PermissionDenied),
        ("SlowDown", 503, Unavailable),
        ("InternalError", 500, Unavailable),
        ("SomethingNew", 409, RunlabError),
    ],
)
def test_client_error_translation(code: str, status: int, expected: type[RunlabError]) -> None:
    # botocore's own ClientError, built the way botocore builds it from a response; moto does not
    # enforce IAM by default, so this is how the access-denied branch is reached.
    translated = _translate(_client_error(code, status), "Reading x")
    assert type(translated) is expected


def test_upload_failure_wrapping_is_unwrapped() -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise _client_error("AccessDenied", 403)
        except Exception as inner:
            raise S3UploadFailedError(f"Failed to upload: {inner}")  # noqa: B904 - as boto3 does
    except S3UploadFailedError as wrapped:
        assert isinstance(_translate(wrapped, "Uploading x"), PermissionDenied)
