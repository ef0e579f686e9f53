"""The artifact proxy in-process, over a local folder and over S3 (moto): streaming, ranges, limits,
multipart uploads, and every traversal trick answered with a 400 that writes nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.types import ASGIApp, Message

from runlab.artifacts import LocalArtifactRepository, S3ArtifactRepository
from runlab.server.app import build_app
from runlab.server.routes.artifact_proxy import MULTIPART_UNSUPPORTED, parse_range
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api
from support.moto_s3 import MotoS3, moto_s3, s3_env, s3_root  # noqa: F401 (fixtures)

BASE = "/api/2.0/mlflow-artifacts"
FILES = f"{BASE}/artifacts"
MiB = 1024 * 1024


# -- harness ---------------------------------------------------------------------------------------


class Proxy:
    """The app plus two ways to call it: httpx (normal URLs) and raw ASGI (exact request targets,
    since httpx normalizes ``..`` away before sending)."""

    def __init__(self, app: ASGIApp, api: Api, repo: Any) -> None:
        self.app = app
        self.api = api
        self.repo = repo

    def put(self, path: str, content: Any, **kwargs: Any) -> httpx.Response:
        return self.api.request("PUT", f"{FILES}/{path}", content=content, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.get(f"{FILES}/{path}", **kwargs)

    def raw(
        self, method: str, target: bytes, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """Send ``target`` exactly as given, decoded into ``path`` the way uvicorn does."""
        raw_path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(raw_path.decode("ascii", "surrogateescape")),
            "raw_path": raw_path,
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", b"localhost"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
        }
        messages: list[Message] = []
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            messages.append(message)

        async def call() -> None:
            await self.app(scope, receive, send)

        anyio.run(call)
        start = next(m for m in messages if m["type"] == "http.response.start")
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], headers, data


def _proxy(store: SqlTrackingStore, repo: Any, **settings: Any) -> Iterator[Proxy]:
    app = build_app(store, artifact_repo=repo, settings=ServerSettings(**settings))
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        try:
            yield Proxy(app, Api(portal, client), repo)
        finally:
            portal.call(client.aclose)


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    folder = tmp_path / "destination"
    folder.mkdir()
    return folder


@pytest.fixture
def local(sqlite_store: SqlTrackingStore, destination: Path) -> Iterator[Proxy]:
    yield from _proxy(sqlite_store, LocalArtifactRepository(str(destination)))


@pytest.fixture
def s3(sqlite_store: SqlTrackingStore, s3_root: str) -> Iterator[Proxy]:  # noqa: F811
    yield from _proxy(sqlite_store, S3ArtifactRepository(s3_root))


@pytest.fixture(params=["local", "s3"])
def proxy(request: pytest.FixtureRequest) -> Proxy:
    """The proxy over each kind of destination in turn."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def _chunks(data: bytes, size: int) -> Callable[[], Iterator[bytes]]:
    def gen() -> Iterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return gen


async def _achunks(data: bytes, size: int) -> Any:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- round trips -----------------------------------------------------------------------------------


def test_small_file_round_trip_and_headers(proxy: Proxy) -> None:
    put = proxy.put(
        "1/run/artifacts/notes.txt", b"hello artifacts", headers={"Content-Type": "text/plain"}
    )
    assert put.status_code == 200 and put.content in (b"", b"{}")
    got = proxy.get("1/run/artifacts/notes.txt")
    assert got.status_code == 200 and got.content == b"hello artifacts"
    assert got.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-length"] == "15"
    assert got.headers["etag"]
    # The same API under the ajax prefix.
    ajax = proxy.api.get("/ajax-api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/notes.txt")
    assert ajax.content == b"hello artifacts"


def test_multi_megabyte_upload_streamed_in_chunks(proxy: Proxy) -> None:
    # Over one S3 part (8 MiB), so the S3 side goes through a streamed multipart upload.
    data = os.urandom(9 * MiB + 12345)
    async_body = _achunks(data, 256 * 1024)
    put = proxy.put("big/model.bin", async_body)
    assert put.status_code == 200, put.text
    got = proxy.get("big/model.bin")
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert got.headers["content-type"] == "application/octet-stream"
    listing = proxy.api.get(FILES, params={"path": "big"}).json()
    assert listing == {"files": [{"path": "model.bin", "is_dir": False, "file_size": len(data)}]}


def test_overwrite_replaces_and_changes_etag(proxy: Proxy) -> None:
    proxy.put("a.txt", b"first")
    first = proxy.get("a.txt").headers["etag"]
    proxy.put("a.txt", b"second version")
    got = proxy.get("a.txt")
    assert got.content == b"second version" and got.headers["etag"] != first


def test_empty_file(proxy: Proxy) -> None:
    assert proxy.put("empty.bin", b"").status_code == 200
    got = proxy.get("empty.bin")
    assert got.status_code == 200 and got.content == b"" and got.headers["content-length"] == "0"
    assert proxy.get("empty.bin", headers={"Range": "bytes=0-9"}).status_code == 416


def test_names_with_spaces_and_unicode(proxy: Proxy) -> None:
    assert proxy.put("my plots/loss curve é.png", b"png").status_code == 200
    got = proxy.get("my plots/loss curve é.png")
    assert got.content == b"png" and got.headers["content-type"] == "image/png"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="loss curve _.png"')
    assert "filename*=UTF-8''loss%20curve%20%C3%A9.png" in disposition
    names = [f["path"] for f in proxy.api.get(FILES, params={"path": "my plots"}).json()["files"]]
    assert names == ["loss curve é.png"]


@pytest.mark.parametrize(
    "name", ["MLmodel", "MLproject", "conda.yaml", "requirements.txt", "input_example.json"]
)
def test_model_files_are_served_as_text_like_mlflow(proxy: Proxy, name: str) -> None:
    # MLflow's server sends these as text/plain (its list of text extensions, plus the
    # extension-less MLmodel and MLproject); binary payloads stay octet-stream.
    proxy.put(f"model/{name}", b"flavors: {}\n")
    got = proxy.get(f"model/{name}")
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
    proxy.put("model/model.pkl", b"\x80\x04")
    assert proxy.get("model/model.pkl").headers["content-type"] == "application/octet-stream"


def test_active_content_is_served_as_text(proxy: Proxy) -> None:
    proxy.put("report.html", b"<script>alert(1)</script>")
    got = proxy.get("report.html")
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"


# -- ranges and validators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status", "content", "content_range"),
    [
        ("bytes=0-9", 206, b"0123456789", "bytes 0-9/36"),
        ("bytes=-5", 206, b"vwxyz", "bytes 31-35/36"),
        ("bytes=10-", 206, b"abcdefghijklmnopqrstuvwxyz", "bytes 10-35/36"),
        ("bytes=30-1000", 206, b"uvwxyz", "bytes 30-35/36"),
        ("bytes=-100", 206, b"0123456789abcdefghijklmnopqrstuvwxyz", "bytes 0-35/36"),
        ("bytes=0-1,5-6", 200, b"0123456789abcdefghijklmnopqrstuvwxyz", None),  # several: all
        ("items=0-1", 200, b"0123456789abcdefghijklmnopqrstuvwxyz", None),  # unknown unit
        ("bytes=5-2", 200, b"0123456789abcdefghijklmnopqrstuvwxyz", None),  # malformed
    ],
)
def test_range_requests(
    proxy: Proxy, header: str, status: int, content: bytes, content_range: str | None
) -> None:
    proxy.put("r/digits.bin", b"0123456789abcdefghijklmnopqrstuvwxyz")
    got = proxy.get("r/digits.bin", headers={"Range": header})
    assert got.status_code == status
    assert got.content == content
    assert got.headers.get("content-range") == content_range
    assert got.headers["content-length"] == str(len(content))


@pytest.mark.parametrize("header", ["bytes=36-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_range(proxy: Proxy, header: str) -> None:
    proxy.put("r/digits.bin", b"0123456789abcdefghijklmnopqrstuvwxyz")
    got = proxy.get("r/digits.bin", headers={"Range": header})
    error_of(got, 416, "INVALID_PARAMETER_VALUE")
    assert got.headers["content-range"] == "bytes */36"


def test_if_range_and_if_none_match(proxy: Proxy) -> None:
    proxy.put("v.txt", b"0123456789")
    etag = proxy.get("v.txt").headers["etag"]
    assert proxy.get("v.txt", headers={"If-None-Match": etag}).status_code == 304
    assert proxy.get("v.txt", headers={"If-None-Match": '"other"'}).status_code == 200
    matching = proxy.get("v.txt", headers={"Range": "bytes=0-1", "If-Range": etag})
    assert matching.status_code == 206 and matching.content == b"01"
    stale = proxy.get("v.txt", headers={"Range": "bytes=0-1", "If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == b"0123456789"


def test_parse_range_table() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) == (2, 4)
    assert parse_range("bytes = 2 - 4", 10) == (2, 4)
    assert parse_range("bytes=x-4", 10) is None
    assert parse_range("bytes=-", 10) is None
    assert parse_range("bytes=4", 10) is None


# -- listing, delete, errors -----------------------------------------------------------------------


def test_listing_shapes(proxy: Proxy) -> None:
    proxy.put("exp/run/a.txt", b"aa")
    proxy.put("exp/run/sub/b.txt", b"bbb")
    listing = proxy.api.get(FILES, params={"path": "exp/run"}).json()
    assert listing == {
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 2},
            {"path": "sub", "is_dir": True},
        ]
    }
    assert proxy.api.get(FILES, params={"path": "exp/missing"}).json() == {}
    assert proxy.api.get(FILES, params={"path": "exp/run/a.txt"}).json() == {}
    root = proxy.api.get(FILES).json()
    assert root == {"files": [{"path": "exp", "is_dir": True}]}
    error_of(
        proxy.api.get(FILES, params=[("path", "a"), ("path", "b")]), 400, "INVALID_PARAMETER_VALUE"
    )


def test_download_errors(proxy: Proxy) -> None:
    proxy.put("d/x.txt", b"x")
    assert "d/missing.txt" in error_of(proxy.get("d/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "folder" in error_of(proxy.get("d"), 400, "INVALID_PARAMETER_VALUE")
    error_of(proxy.get(""), 400, "INVALID_PARAMETER_VALUE")


def test_upload_errors(proxy: Proxy) -> None:
    assert "file name" in error_of(proxy.put("d/", b"x"), 400, "INVALID_PARAMETER_VALUE")
    if isinstance(proxy.repo, LocalArtifactRepository):
        proxy.put("d/x.txt", b"x")
        error_of(proxy.put("d", b"x"), 400, "INVALID_PARAMETER_VALUE")  # a folder is there
        error_of(proxy.put("d/x.txt/y.txt", b"x"), 400, "INVALID_PARAMETER_VALUE")


def test_delete_file_and_folder(proxy: Proxy) -> None:
    proxy.put("del/a.txt", b"a")
    proxy.put("del/sub/b.txt", b"b")
    proxy.put("keep/c.txt", b"c")
    deleted = proxy.api.request("DELETE", f"{FILES}/del/a.txt")
    assert deleted.status_code == 200 and deleted.json() == {}
    assert proxy.get("del/a.txt").status_code == 404
    assert proxy.api.request("DELETE", f"{FILES}/del").json() == {}
    assert proxy.api.get(FILES, params={"path": "del"}).json() == {}
    assert proxy.get("keep/c.txt").content == b"c"
    # Deleting what is not there is fine; deleting the whole destination is refused.
    assert proxy.api.request("DELETE", f"{FILES}/del/nothing").status_code == 200
    error_of(proxy.api.request("DELETE", f"{FILES}/"), 400, "INVALID_PARAMETER_VALUE")
    assert proxy.get("keep/c.txt").content == b"c"


# -- traversal -------------------------------------------------------------------------------------

TRAVERSALS = [
    b"../outside.txt",
    b"a/../../outside.txt",
    b"..",
    b"a/./../../outside.txt",
    b"%2e%2e/outside.txt",
    b"%2E%2E/outside.txt",
    b"a/%2e%2e/%2e%2e/outside.txt",
    b".%2e/outside.txt",
    b"..%2foutside.txt",
    b"a%2F..%2F..%2Foutside.txt",
    b"%252e%252e/outside.txt",
    b"%25252e%25252e%25252foutside.txt",
    b"..%5coutside.txt",
    b"a\\..\\..\\outside.txt",
    b"%5c%5cserver%5cshare.txt",
    b"/etc/outside.txt",
    b"%2fetc%2foutside.txt",
    b"C:%5coutside.txt",
    b"C:/outside.txt",
    b"file:outside.txt",
    b"a.txt%23.html",
    b"..%23/outside.txt",
    b"a.txt;.html",
    b"..;/outside.txt",
    b"a%3b/outside.txt",
    b"a%3f.txt",
    b"a.txt?../outside.txt",
    b"a%00.txt",
    b"%c0%ae%c0%ae/outside.txt",
    b"%ef%bc%8e%ef%bc%8e/outside.txt",
    b"a//b.txt",
    b"a/%0a.txt",
]


def _snapshot(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode("latin-1"))
def test_traversal_refused_and_nothing_written(
    local: Proxy, destination: Path, tmp_path: Path, target: bytes
) -> None:
    (destination / "a").mkdir()
    (destination / "a" / "keep.txt").write_bytes(b"keep")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    before = _snapshot(tmp_path)
    for method, prefix in [
        ("PUT", b"/artifacts/"),
        ("GET", b"/artifacts/"),
        ("DELETE", b"/artifacts/"),
        ("GET", b"/presigned/"),
    ]:
        status, headers, body = local.raw(method, BASE.encode() + prefix + target, b"pwned")
        assert status == 400, (method, target, body)
        assert headers["content-type"] == "application/json"
        assert b'"INVALID_PARAMETER_VALUE"' in body and b"Invalid" in body, body
    assert _snapshot(tmp_path) == before
    assert (tmp_path / "outside.txt").read_bytes() == b"secret"


@pytest.mark.parametrize(
    "value", ["..", "../x", "a/../../x", "%2e%2e", "%252e%252e/x", "/etc", "a\\b", "a#b", "a;b"]
)
def test_listing_traversal_refused(local: Proxy, value: str) -> None:
    message = error_of(local.api.get(FILES, params={"path": value}), 400, "INVALID_PARAMETER_VALUE")
    assert "Invalid" in message


def test_names_too_long_for_the_file_system_are_refused(local: Proxy, destination: Path) -> None:
    # One part longer than a file name may be (255 bytes on common file systems): a 400 that says
    # so, not a 500 from the OS error, and nothing written.
    long = "a" * 300
    for response in (local.put(f"dir/{long}", b"x"), local.api.get(FILES, params={"path": long})):
        message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
        assert "longer than" in message and "use shorter names" in message
    assert not destination.exists() or list(destination.rglob("*")) == []
    # Reading such a name finds nothing there.
    error_of(local.get(f"dir/{long}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_traversal_in_multipart_routes(s3: Proxy) -> None:
    for target in (b"..", b"%2e%2e/x", b"a%2f..%2f..", b"..%5c"):
        for kind in (b"create", b"complete", b"abort"):
            status, _, body = s3.raw("POST", BASE.encode() + b"/mpu/" + kind + b"/" + target)
            assert status == 400, body
    # The file name in the body is checked as well.
    for name in ("..", "%2e%2e", "a;b", "x\x00"):
        answer = s3.api.post(f"{BASE}/mpu/create/dir", json={"path": name, "num_parts": 1})
        error_of(answer, 400, "INVALID_PARAMETER_VALUE")


def test_traversal_with_s3_destination(s3: Proxy) -> None:
    for target in (b"../x.txt", b"%2e%2e/x.txt", b"a%2f..%2f..%2fx.txt"):
        status, _, _ = s3.raw("PUT", FILES.encode() + b"/" + target, b"pwned")
        assert status == 400
    assert s3.api.get(FILES).json() == {}


# -- serving off, size limit ------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"serve_artifacts": False}, {}])
def test_unavailable_when_not_serving(
    sqlite_store: SqlTrackingStore, destination: Path, settings: dict[str, Any]
) -> None:
    repo = LocalArtifactRepository(str(destination)) if settings else None
    for proxy in _proxy(sqlite_store, repo, **settings):
        for method, url in [
            ("GET", FILES),
            ("GET", f"{FILES}/a.txt"),
            ("PUT", f"{FILES}/a.txt"),
            ("DELETE", f"{FILES}/a.txt"),
            ("POST", f"{BASE}/mpu/create/a"),
            ("GET", f"{BASE}/presigned/a.txt"),
        ]:
            response = proxy.api.request(method, url, content=b"x" if method == "PUT" else None)
            error_of(response, 503, "TEMPORARILY_UNAVAILABLE")
    assert list(destination.iterdir()) == []


def test_size_limit(sqlite_store: SqlTrackingStore, destination: Path) -> None:
    for proxy in _proxy(
        sqlite_store, LocalArtifactRepository(str(destination)), max_artifact_bytes=1000
    ):
        assert proxy.put("ok.bin", b"x" * 1000).status_code == 200
        error_of(proxy.put("big.bin", b"x" * 1001), 413, "REQUEST_LIMIT_EXCEEDED")
        # Without a Content-Length (chunked), the limit is enforced while streaming.
        streamed = proxy.put("big2.bin", _achunks(b"x" * 5000, 300))
        error_of(streamed, 413, "REQUEST_LIMIT_EXCEEDED")
    assert _snapshot(destination) == ["ok.bin"]


def test_size_limit_s3_aborts_started_multipart(
    sqlite_store: SqlTrackingStore,
    s3_root: str,  # noqa: F811
    s3_env: MotoS3,  # noqa: F811
) -> None:
    repo = S3ArtifactRepository(s3_root)
    for proxy in _proxy(sqlite_store, repo, max_artifact_bytes=9 * MiB):
        small = proxy.put("big.bin", _achunks(b"x" * 5000, 300))
        assert small.status_code == 200
        # Over the limit only after the first 8 MiB part went to S3: that upload is aborted.
        too_big = proxy.put("bigger.bin", _achunks(b"y" * (10 * MiB), MiB))
        error_of(too_big, 413, "REQUEST_LIMIT_EXCEEDED")
        assert [f["path"] for f in proxy.api.get(FILES).json()["files"]] == ["big.bin"]
    pending = repo.client.list_multipart_uploads(Bucket=s3_env.bucket, Prefix=repo.prefix)
    assert pending.get("Uploads", []) == []


# -- multipart and presigned --------------------------------------------------------------------


def test_multipart_not_implemented_on_local_disk(local: Proxy) -> None:
    answer = local.api.post(f"{BASE}/mpu/create/dir", json={"path": "big.bin", "num_parts": 2})
    assert error_of(answer, 501, "NOT_IMPLEMENTED").startswith(MULTIPART_UNSUPPORTED)
    for kind in ("complete", "abort"):
        body = {"path": "big.bin", "upload_id": "x", "parts": [{"part_number": 1, "etag": "e"}]}
        error_of(local.api.post(f"{BASE}/mpu/{kind}/dir", json=body), 501, "NOT_IMPLEMENTED")
    local.put("f.txt", b"x")
    error_of(local.api.get(f"{BASE}/presigned/f.txt"), 501, "NOT_IMPLEMENTED")


def test_multipart_upload_through_presigned_urls(s3: Proxy) -> None:
    data = os.urandom(5 * MiB + 777)  # S3 parts but the last must be at least 5 MiB
    # MLflow's client sends its full local path; only the file name is used.
    created = s3.api.post(
        f"{BASE}/mpu/create/exp/run/artifacts",
        json={"path": "/home/someone/data/big.bin", "num_parts": 2},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    parts = []
    with httpx.Client() as raw:
        for credential, chunk in zip(
            body["credentials"], (data[: 5 * MiB], data[5 * MiB :]), strict=True
        ):
            sent = raw.put(credential["url"], content=chunk, headers=credential["headers"])
            assert sent.status_code == 200, sent.text
            parts.append(
                {"part_number": credential["part_number"], "etag": sent.headers["etag"], "url": ""}
            )
    done = s3.api.post(
        f"{BASE}/mpu/complete/exp/run/artifacts",
        json={"path": "big.bin", "upload_id": body["upload_id"], "parts": parts[::-1]},
    )
    assert done.status_code == 200 and done.json() == {}
    assert s3.get("exp/run/artifacts/big.bin").content == data


def test_multipart_abort_and_bad_completions(s3: Proxy) -> None:
    created = s3.api.post(f"{BASE}/mpu/create/", json={"path": "x.bin", "num_parts": 1}).json()
    upload_id = created["upload_id"]
    wrong = s3.api.post(
        f"{BASE}/mpu/complete/",
        json={"path": "x.bin", "upload_id": upload_id, "parts": [{"part_number": 1, "etag": "no"}]},
    )
    error_of(wrong, 400, "INVALID_PARAMETER_VALUE")
    aborted = s3.api.post(f"{BASE}/mpu/abort", json={"path": "x.bin", "upload_id": upload_id})
    assert aborted.status_code == 200 and aborted.json() == {}
    # (What S3 answers for an upload id it no longer knows, NoSuchUpload, moto answers with a
    # 500, so that path is not exercised here.)
    for bad in ({"path": "x.bin", "num_parts": 0}, {"path": "x.bin", "num_parts": 10001}, {}):
        error_of(s3.api.post(f"{BASE}/mpu/create/d", json=bad), 400, "INVALID_PARAMETER_VALUE")
    missing_parts = s3.api.post(f"{BASE}/mpu/complete/d", json={"path": "x", "upload_id": "u"})
    assert "parts" in error_of(missing_parts, 400, "INVALID_PARAMETER_VALUE")


def test_presigned_download(s3: Proxy) -> None:
    s3.put("p/file.txt", b"presigned bytes")
    answer = s3.api.get(f"{BASE}/presigned/p/file.txt").json()
    assert answer["file_size"] == 15 and answer["headers"] == {}
    with httpx.Client() as raw:
        assert raw.get(answer["url"]).content == b"presigned bytes"
    error_of(s3.api.get(f"{BASE}/presigned/p/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
