"""``/get-artifact`` and ``runlab/artifacts/preview`` over the real app: local roots, the artifact
proxy's local and S3 destinations, safe headers, and every bad input answered with a clear 4xx."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from runlab.artifacts import LocalArtifactRepository, S3ArtifactRepository
from runlab.server.artifact_preview import MAX_CSV_BYTES, MAX_ROWS, MAX_TEXT_BYTES
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api
from support.moto_s3 import MotoS3, moto_s3, s3_env, s3_root  # noqa: F401 (fixtures)

PREVIEW = "/ajax-api/2.0/runlab/artifacts/preview"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b4e1fd0000000049454e44ae426082"
)
SECRET = "top secret outside the artifact root"


@pytest.fixture
def run(sqlite_store: SqlTrackingStore, tmp_path: Path) -> tuple[str, LocalArtifactRepository]:
    """A run with a local artifact root, and that root's repository to write files with."""
    created = sqlite_store.create_run("0", "u", 0, [], "artifacts")
    (tmp_path / "secret.txt").write_text(SECRET)
    return created.info.run_id, LocalArtifactRepository(created.info.artifact_uri)


def download(api: Api, run_id: str, path: str, **params: str) -> httpx.Response:
    return api.get("/get-artifact", params={"run_uuid": run_id, "path": path, **params})


def preview(api: Api, run_id: str, path: str) -> httpx.Response:
    return api.get(PREVIEW, params={"run_id": run_id, "path": path})


def assert_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    for fragment in fragments:
        assert fragment in body["message"]
    assert SECRET not in response.text


def assert_sandboxed(response: httpx.Response) -> None:
    """The headers that keep an artifact from running script in the UI's origin."""
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


# -- downloads ------------------------------------------------------------------------------------


def test_text_file_is_streamed_inline_with_safe_headers(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(b"hello artifacts\n", "notes/readme.txt")

    response = download(api, run_id, "notes/readme.txt")

    assert response.status_code == 200
    assert response.content == b"hello artifacts\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == 'inline; filename="readme.txt"'
    assert_sandboxed(response)
    assert response.headers["content-length"] == "16"


def test_binary_file_is_an_attachment(api: Api, run: tuple[str, LocalArtifactRepository]) -> None:
    run_id, repo = run
    payload = bytes(range(256)) * 4096  # 1 MiB, more than one read chunk
    repo.log_bytes(payload, "model/weights.bin")

    response = download(api, run_id, "model/weights.bin")

    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="weights.bin"'
    assert_sandboxed(response)


def test_run_id_works_like_run_uuid_and_ranges_are_honoured(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(b"0123456789", "digits.txt")

    response = api.get(
        "/get-artifact",
        params={"run_id": run_id, "path": "digits.txt"},
        headers={"Range": "bytes=2-4"},
    )

    assert response.status_code == 206
    assert response.content == b"234"
    assert_sandboxed(response)


@pytest.mark.parametrize("flag", ["1", "true"])
def test_download_flag_forces_an_attachment(
    api: Api, run: tuple[str, LocalArtifactRepository], flag: str
) -> None:
    run_id, repo = run
    repo.log_bytes(b"a,b\n1,2\n", "table.csv")

    response = download(api, run_id, "table.csv", download=flag)

    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="table.csv"'


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("page.html", "text/plain; charset=utf-8", "inline"),
        ("code.js", "text/plain; charset=utf-8", "inline"),
        ("data.xml", "text/plain; charset=utf-8", "inline"),
        # An <img> shows an SVG without running its scripts; opening it downloads it.
        ("chart.svg", "image/svg+xml", "attachment"),
        ("plot.png", "image/png", "inline"),
        ("MLmodel", "text/plain; charset=utf-8", "inline"),
        ("conda.yaml", "text/plain; charset=utf-8", "inline"),
    ],
)
def test_active_content_never_renders_in_our_origin(
    api: Api,
    run: tuple[str, LocalArtifactRepository],
    name: str,
    content_type: str,
    disposition: str,
) -> None:
    run_id, repo = run
    repo.log_bytes(b"<script>alert(1)</script>", f"files/{name}")

    response = download(api, run_id, f"files/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"].startswith(f"{disposition};")
    assert_sandboxed(response)


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "../../../secret.txt",
        "/etc/passwd",
        "a/../../b",
        "%2e%2e/secret.txt",
        "%252e%252e/secret.txt",
        "..%2fsecret.txt",
        "a\\..\\..\\secret.txt",
        "C:/secret.txt",
        "file:///etc/passwd",
        "a//b",
        "a\x00b",
        "\uff0e\uff0e/secret.txt",
    ],
)
def test_traversal_paths_are_refused(
    api: Api, run: tuple[str, LocalArtifactRepository], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_id, repo = run
    repo.log_bytes(b"x", "a/b")

    # MLflow's exact body (its clients and tests compare it whole); the reason goes to the log.
    for response in (download(api, run_id, path), preview(api, run_id, path)):
        assert_error(response, 400)
        assert response.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Invalid path",
        }
    refusals = [r.getMessage() for r in caplog.records if r.name == "runlab.server"]
    assert len(refusals) == 2
    assert all("Invalid artifact path" in m and "(request field 'path')" in m for m in refusals)


def test_encoded_traversal_in_the_raw_query_is_refused(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, _ = run
    for query in ("path=%2e%2e%2fsecret.txt", "path=%2E%2E/%2E%2E/secret.txt", "path=%2fetc"):
        response = api.get(f"/get-artifact?run_uuid={run_id}&{query}")
        assert_error(response, 400, "Invalid path")


def test_unknown_run_is_404_like_the_api(api: Api) -> None:
    for response in (
        download(api, "0" * 32, "a.txt"),
        preview(api, "0" * 32, "a.txt"),
    ):
        assert_error(response, 404, "0" * 32)
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_missing_file_is_404(api: Api, run: tuple[str, LocalArtifactRepository]) -> None:
    run_id, _ = run
    assert_error(download(api, run_id, "nothing/here.txt"), 404, "nothing/here.txt")
    assert_error(preview(api, run_id, "nothing/here.txt"), 404, "nothing/here.txt")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "a.txt"}, "'run_id'"),
        ({"run_id": "RUN", "path": "folder"}, "it is a folder"),
        ({"run_id": "RUN", "path": ""}, "must name an artifact file"),
        ({"run_id": "RUN", "path": "."}, "must name an artifact file"),
        ({"run_id": "RUN"}, "'path'"),
        ({"run_id": "RUN", "run_uuid": "other", "path": "a.txt"}, "disagree"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    api: Api, run: tuple[str, LocalArtifactRepository], params: dict[str, str], message: str
) -> None:
    run_id, repo = run
    repo.log_bytes(b"x", "a.txt")
    repo.log_bytes(b"x", "folder/inner.txt")
    sent = {key: run_id if value == "RUN" else value for key, value in params.items()}
    for url in ("/get-artifact", PREVIEW):
        assert_error(api.get(url, params=sent), 400, message)


def test_download_flag_must_be_a_boolean(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(b"x", "a.txt")
    assert_error(download(api, run_id, "a.txt", download="yes please"), 400, "'download'")


# -- previews ----------------------------------------------------------------------------------------


def test_previews_text_kinds(api: Api, run: tuple[str, LocalArtifactRepository]) -> None:
    run_id, repo = run
    files = {
        "logs/train.log": ("text", "epoch 1 loss 0.5\n"),
        "metrics.json": ("json", '{"a": [1, 2]}'),
        "model/conda.yaml": ("yaml", "name: env\n"),
        "model/MLmodel": ("mlmodel", "flavors:\n  python_function: {}\n"),
        "LICENSE": ("text", "Permission is hereby granted\n"),  # no suffix: sniffed
    }
    for path, (_, text) in files.items():
        repo.log_bytes(text.encode(), path)

    for path, (kind, text) in files.items():
        response = preview(api, run_id, path)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "path": path,
            "kind": kind,
            "size": len(text),
            "truncated": False,
            "text": text,
        }


def test_large_text_is_truncated_to_the_first_part(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    # A multi-byte character straddles the cut: it is dropped, not shown as garbage.
    body = b"a" * (MAX_TEXT_BYTES - 1) + "é".encode() + b"b" * 1000
    repo.log_bytes(body, "big.txt")

    reply = preview(api, run_id, "big.txt").json()

    assert reply["kind"] == "text"
    assert reply["truncated"] is True
    assert reply["size"] == len(body)
    assert reply["text"] == "a" * (MAX_TEXT_BYTES - 1)


def test_invalid_utf8_text_is_shown_with_replacement_characters(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(b"caf\xe9 ok\n", "latin1.txt")
    assert preview(api, run_id, "latin1.txt").json()["text"] == "caf\ufffd ok\n"


def test_images_and_binaries_have_no_content_in_the_preview(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(PNG, "plots/loss.png")
    repo.log_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "plots/arch.svg")
    repo.log_bytes(b"\x00\x01\x02binary", "model.pkl")

    assert preview(api, run_id, "plots/loss.png").json() == {
        "path": "plots/loss.png",
        "kind": "image",
        "size": len(PNG),
        "truncated": False,
    }
    assert preview(api, run_id, "plots/arch.svg").json()["kind"] == "image"
    assert preview(api, run_id, "model.pkl").json() == {
        "path": "model.pkl",
        "kind": "binary",
        "size": 9,
        "truncated": False,
    }


def test_csv_preview_has_the_first_rows_and_the_row_count(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    lines = ["step,loss,note"] + [f'{i},{i / 10},"a, b"' for i in range(250)]
    repo.log_bytes("\n".join(lines).encode(), "eval/results.csv")
    repo.log_bytes(b"x\ty\n1\t2\n", "eval/small.tsv")

    reply = preview(api, run_id, "eval/results.csv").json()
    assert reply["kind"] == "table"
    assert reply["columns"] == ["step", "loss", "note"]
    assert len(reply["rows"]) == MAX_ROWS
    assert reply["rows"][0] == ["0", "0.0", "a, b"]
    assert reply["total_rows"] == 250
    assert reply["truncated"] is True

    small = preview(api, run_id, "eval/small.tsv").json()
    assert small["columns"] == ["x", "y"]
    assert small["rows"] == [["1", "2"]]
    assert small["total_rows"] == 1
    assert small["truncated"] is False


def test_csv_too_long_to_count_reports_no_total(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    row = "x" * 99 + "\n"
    body = ("col\n" + row * (MAX_CSV_BYTES // len(row) + 10)).encode()
    repo.log_bytes(body, "long.csv")

    reply = preview(api, run_id, "long.csv").json()

    assert reply["total_rows"] is None
    assert reply["truncated"] is True
    assert len(reply["rows"]) == MAX_ROWS


def _parquet_bytes(rows: int, row_group_size: int) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "id": list(range(rows)),
            "score": [i / 2 for i in range(rows)],
            "label": [f"row {i}" for i in range(rows)],
            "missing": [None] * rows,
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def test_parquet_preview_reads_the_first_rows_and_reports_the_row_count(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(_parquet_bytes(1000, 300), "data/train.parquet")
    repo.log_bytes(b"PAR1 not really", "data/broken.parquet")

    reply = preview(api, run_id, "data/train.parquet").json()
    assert reply["kind"] == "table"
    assert reply["columns"] == ["id", "score", "label", "missing"]
    assert reply["rows"][:2] == [[0, 0.0, "row 0", None], [1, 0.5, "row 1", None]]
    assert len(reply["rows"]) == MAX_ROWS
    assert reply["total_rows"] == 1000
    assert reply["truncated"] is True

    broken = preview(api, run_id, "data/broken.parquet").json()
    assert broken["kind"] == "binary"
    assert "Not a readable parquet file" in broken["message"]


def test_preview_is_served_under_both_prefixes_and_documented(
    api: Api, run: tuple[str, LocalArtifactRepository]
) -> None:
    run_id, repo = run
    repo.log_bytes(b"hi", "a.txt")
    response = api.get(
        "/api/2.0/runlab/artifacts/preview", params={"run_id": run_id, "path": "a.txt"}
    )
    assert response.json()["text"] == "hi"
    paths = api.get("/openapi.json").json()["paths"]
    assert "/api/2.0/runlab/artifacts/preview" in paths


# -- other artifact roots ----------------------------------------------------------------------------


def test_proxied_root_on_a_local_destination(sqlite_url: str, tmp_path: Path) -> None:
    store = SqlTrackingStore(sqlite_url, "mlflow-artifacts:/")
    destination = LocalArtifactRepository((tmp_path / "destination").as_uri())
    try:
        for api in make_api(store, artifact_repo=destination):
            run_id = store.create_run("0", "u", 0, [], "proxied").info.run_id
            destination.log_bytes(b"a,b\n1,2\n", f"0/{run_id}/artifacts/eval/t.csv")

            response = download(api, run_id, "eval/t.csv")
            assert response.status_code == 200
            assert response.content == b"a,b\n1,2\n"
            assert_sandboxed(response)
            reply = preview(api, run_id, "eval/t.csv").json()
            assert reply["path"] == "eval/t.csv"
            assert reply["rows"] == [["1", "2"]]
            assert_error(download(api, run_id, "../../x"), 400, "Invalid path")
            # Named as asked, not by the file's place in the proxy's destination.
            missing = download(api, run_id, "eval/none.csv")
            assert_error(missing, 404, "No artifact at 'eval/none.csv'")
            assert run_id not in missing.json()["message"]
    finally:
        store.close()


def test_proxied_root_without_the_proxy_is_unavailable(sqlite_url: str) -> None:
    store = SqlTrackingStore(sqlite_url, "mlflow-artifacts:/")
    try:
        for api in make_api(store, settings=ServerSettings()):
            run_id = store.create_run("0", "u", 0, [], "proxied").info.run_id
            assert_error(download(api, run_id, "a.txt"), 503, "--serve-artifacts")
            assert_error(preview(api, run_id, "a.txt"), 503, "--serve-artifacts")
    finally:
        store.close()


def test_proxied_root_on_s3_streams_and_previews_parquet_by_ranges(
    sqlite_url: str,
    s3_root: str,  # noqa: F811
) -> None:
    store = SqlTrackingStore(sqlite_url, "mlflow-artifacts:/")
    destination = S3ArtifactRepository(s3_root)
    try:
        for api in make_api(store, artifact_repo=destination):
            run_id = store.create_run("0", "u", 0, [], "on-s3").info.run_id
            prefix = f"0/{run_id}/artifacts"
            destination.log_bytes(_parquet_bytes(500, 200), f"{prefix}/data.parquet")
            destination.log_bytes(json.dumps({"k": 1}).encode(), f"{prefix}/conf/m.json")

            reply = preview(api, run_id, "data.parquet").json()
            assert reply["kind"] == "table"
            assert reply["total_rows"] == 500
            assert reply["rows"][99] == [99, 49.5, "row 99", None]
            assert preview(api, run_id, "conf/m.json").json()["text"] == '{"k": 1}'
            response = download(api, run_id, "conf/m.json")
            assert response.json() == {"k": 1}
            assert_sandboxed(response)
            assert_error(download(api, run_id, "conf"), 400, "'conf': it is a folder")
            assert_error(preview(api, run_id, "conf"), 400, "'conf': it is a folder")
            assert_error(preview(api, run_id, "nope.txt"), 404, "nope.txt")
    finally:
        store.close()


def test_s3_root_of_a_run(sqlite_url: str, s3_root: str) -> None:  # noqa: F811
    store = SqlTrackingStore(sqlite_url, s3_root)
    try:
        for api in make_api(store):
            run = store.create_run("0", "u", 0, [], "direct-s3")
            S3ArtifactRepository(run.info.artifact_uri).log_bytes(PNG, "p.png")
            response = download(api, run.info.run_id, "p.png")
            assert response.status_code == 200
            assert response.content == PNG
            assert response.headers["content-type"] == "image/png"
            assert response.headers["content-disposition"] == 'inline; filename="p.png"'
    finally:
        store.close()


def test_a_root_the_server_cannot_read_is_501(sqlite_url: str) -> None:
    # A run whose artifacts sit behind another server's artifact proxy: not ours to stream.
    store = SqlTrackingStore(
        sqlite_url, "https://elsewhere.invalid/api/2.0/mlflow-artifacts/artifacts/a"
    )
    try:
        for api in make_api(store):
            run_id = store.create_run("0", "u", 0, [], "remote").info.run_id
            assert_error(download(api, run_id, "a.txt"), 501, "HttpArtifactRepository")
            assert_error(preview(api, run_id, "a.txt"), 501, "HttpArtifactRepository")
    finally:
        store.close()


def test_a_link_out_of_the_root_is_refused(
    api: Api,
    run: tuple[str, LocalArtifactRepository],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id, repo = run
    repo.log_bytes(b"x", "inside.txt")
    (repo.root / "escape.txt").symlink_to(tmp_path / "secret.txt")

    assert_error(download(api, run_id, "escape.txt"), 400, "Invalid path")
    assert_error(preview(api, run_id, "escape.txt"), 400, "Invalid path")
    reasons = [r.getMessage() for r in caplog.records if r.name == "runlab.server"]
    assert len(reasons) == 2
    assert all("outside the artifact root" in reason for reason in reasons)
