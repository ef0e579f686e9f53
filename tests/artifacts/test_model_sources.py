"""check_model_source: which sources a model version may be registered from."""

from __future__ import annotations

import pytest

from runlab.artifacts.model_sources import MAX_SOURCE_LENGTH, check_model_source, source_run_id
from runlab.errors import InvalidParameter

RID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
MID = "m-00112233445566778899aabbccddeeff"
FILE_ROOT = f"file:///srv/art/1/{RID}/artifacts"
PLAIN_ROOT = f"/srv/art/1/{RID}/artifacts"
S3_ROOT = f"s3://bucket/exp/1/{RID}/artifacts"
PROXY_ROOT = f"mlflow-artifacts:/1/{RID}/artifacts"
MODEL_ROOT = f"mlflow-artifacts:/1/models/{MID}/artifacts"


def _run(root: str) -> dict[str, str]:
    return {"run_id": RID, "run_artifact_uri": root}


RUN_FILE = _run(FILE_ROOT)
MODEL = {"model_id": MID, "model_artifact_uri": MODEL_ROOT}

ACCEPTED: list[tuple[str, dict[str, str]]] = [
    (f"runs:/{RID}/model", {"run_id": RID}),
    (f"runs:/{RID}", {"run_id": RID}),
    (f"runs:/{RID}/nested/./model/", {"run_id": RID}),
    (f"models:/{MID}", {"model_id": MID}),
    (f"models:/{MID}/sub", {"model_id": MID}),
    (f"{FILE_ROOT}/model", RUN_FILE),
    (FILE_ROOT, RUN_FILE),
    (f"{PLAIN_ROOT}/model", RUN_FILE),
    (f"{PLAIN_ROOT}/./model", RUN_FILE),
    (f"file://localhost{PLAIN_ROOT}/model", RUN_FILE),
    (f"{PLAIN_ROOT}/model", _run(PLAIN_ROOT)),
    (f"{FILE_ROOT}/model", _run(PLAIN_ROOT + "/")),
    (f"{FILE_ROOT}/my%20model", RUN_FILE),
    ("file:///srv/my%20art/x/model", _run("file:///srv/my%20art/x")),
    ("/srv/my art/x/model", _run("file:///srv/my%20art/x")),
    (f"{S3_ROOT}/model", _run(S3_ROOT)),
    (f"S3://bucket/exp/1/{RID}/artifacts/model", _run(S3_ROOT)),
    (f"{PROXY_ROOT}/model", _run(PROXY_ROOT)),
    (f"{MODEL_ROOT}/model", MODEL),
    # Either root will do when both are given.
    (f"{MODEL_ROOT}/model", {**RUN_FILE, **MODEL}),
    (f"{FILE_ROOT}/model", {**RUN_FILE, **MODEL}),
    # No run or logged model: remote stores only.
    ("s3://bucket/models/fraud", {}),
    ("https://store.example.com/models/fraud", {}),
    ("mlflow-artifacts:/3/models/fraud", {}),
]


@pytest.mark.parametrize(("source", "owner"), ACCEPTED)
def test_accepted(source: str, owner: dict[str, str]) -> None:
    assert check_model_source(source, **owner) == source


REFUSED: list[tuple[str, dict[str, str], str]] = [
    # Outside the run's folder.
    ("/etc/passwd", RUN_FILE, "must lie inside"),
    ("file:///etc/passwd", RUN_FILE, "must lie inside"),
    (f"/srv/art/1/{RID}/artifacts2/model", RUN_FILE, "must lie inside"),
    (f"/srv/art/1/{OTHER}/artifacts/model", RUN_FILE, "must lie inside"),
    (f"file://evil.example.com{PLAIN_ROOT}/model", RUN_FILE, "must lie inside"),
    ("model", RUN_FILE, "must lie inside"),
    (f"./srv/art/1/{RID}/artifacts/model", RUN_FILE, "must lie inside"),
    (f"C:/srv/art/1/{RID}/artifacts/model", RUN_FILE, "must lie inside"),
    (f"s3://other/exp/1/{RID}/artifacts/model", _run(S3_ROOT), "must lie inside"),
    (f"gs://bucket/exp/1/{RID}/artifacts/model", _run(S3_ROOT), "must lie inside"),
    (f"mlflow-artifacts://evil:5000/1/{RID}/artifacts/m", _run(PROXY_ROOT), "must lie inside"),
    (f"mlflow-artifacts:/1/{OTHER}/artifacts/model", _run(PROXY_ROOT), "must lie inside"),
    (f"{MODEL_ROOT}/model", RUN_FILE, "must lie inside"),
    # Traversal, plain and encoded.
    (f"{PLAIN_ROOT}/../../{OTHER}/artifacts", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/model/../../x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/%2e%2e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/%2E%2E/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/%252e%252e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/..%2fx", RUN_FILE, "encoded '/'"),
    (f"{FILE_ROOT}/%2e%2e/%2e%2e/x", RUN_FILE, "'..'"),
    (f"{FILE_ROOT}/%252e%252e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/\uff0e\uff0e/x", RUN_FILE, "normalization"),
    (f"{PLAIN_ROOT}//x", RUN_FILE, "absolute"),
    (f"{S3_ROOT}/../x", _run(S3_ROOT), "'..'"),
    (f"{S3_ROOT}/%2e%2e/x", _run(S3_ROOT), "'..'"),
    (f"{PROXY_ROOT}/%252e%252e/%252e%252e/x", _run(PROXY_ROOT), "'..'"),
    # Characters that change what a URL or a path names.
    (f"{PLAIN_ROOT}/model\\..\\..\\x", RUN_FILE, "backslash"),
    (f"{PLAIN_ROOT}/model#/../../x", RUN_FILE, "'#'"),
    (f"{PLAIN_ROOT}/model?x=/../../", RUN_FILE, "'?'"),
    (f"{PLAIN_ROOT}/..;/x", RUN_FILE, "';'"),
    (f"{PLAIN_ROOT}/model\x00.txt", RUN_FILE, "control character"),
    (f"{PLAIN_ROOT}/model\n", RUN_FILE, "white space"),
    (f"{PLAIN_ROOT}/mo\ndel", RUN_FILE, "control character"),
    (f" {PLAIN_ROOT}/model", RUN_FILE, "white space"),
    # runs:/ and models:/ URIs.
    (f"runs:/{OTHER}/model", {"run_id": RID}, "but the version's run_id"),
    (f"runs:/{RID}/model", {}, "needs the version's run_id"),
    (f"runs:/{RID}/../x", {"run_id": RID}, "'..'"),
    (f"runs:/{RID}/%2e%2e/x", {"run_id": RID}, "'..'"),
    (f"runs:/{RID}//x", {"run_id": RID}, "absolute"),
    (f"runs:/{RID}/a//x", {"run_id": RID}, "empty part"),
    ("runs:/../x", {"run_id": RID}, "valid run id"),
    (f"runs://{RID}/x", {"run_id": RID}, "valid run id"),
    (f"models:/{MID}", {}, "needs the version's model_id"),
    (f"models:/{MID}/../x", {"model_id": MID}, "'..'"),
    ("models:/m-ffff", {"model_id": MID}, "but the version's model_id"),
    ("models:/fraud/3", {"model_id": MID}, "must name a logged model"),
    ("models:/m-", {"model_id": "m-"}, "must name a logged model"),
    # A run or logged model without an artifact root.
    ("s3://bucket/model", {"run_id": RID}, "no artifact root"),
    ("s3://bucket/model", {"model_id": MID}, "no artifact root"),
    # No run or logged model.
    ("/tmp/model", {}, "local path"),
    ("file:///tmp/model", {}, "local path"),
    ("relative/model", {}, "local path"),
    ("javascript:alert(1)", {}, "not a known artifact store"),
    ("ftp://host/model", {}, "not a known artifact store"),
    ("s3://bucket/../x", {}, "'..'"),
    ("https://host/a/%2e%2e/b", {}, "'..'"),
    ("s3://bucket//x", {}, "absolute"),
    # Not a usable string at all.
    ("", {}, "empty"),
    ("s3://bucket/" + "x" * MAX_SOURCE_LENGTH, {}, "longer than"),
]


@pytest.mark.parametrize(("source", "owner", "reason"), REFUSED)
def test_refused(source: str, owner: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        check_model_source(source, **owner)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert reason in info.value.message
    assert "Invalid model version source" in info.value.message


@pytest.mark.parametrize("source", [None, 3, b"/srv/model"])
def test_non_strings_are_refused(source: object) -> None:
    with pytest.raises(InvalidParameter, match="expected a string"):
        check_model_source(source, run_id=RID, run_artifact_uri=FILE_ROOT)  # type: ignore[arg-type]


def test_source_run_id() -> None:
    assert source_run_id(f"runs:/{RID}/model") == RID
    assert source_run_id(f"runs:/{RID}") == RID
    assert source_run_id("runs:/../model") is None
    assert source_run_id(f"{FILE_ROOT}/model") is None
    assert source_run_id(None) is None


def test_a_bucket_root_holds_everything_in_it() -> None:
    owner = _run("s3://bucket")
    assert check_model_source("s3://bucket/x/model", **owner) == "s3://bucket/x/model"
    with pytest.raises(InvalidParameter, match="absolute"):
        check_model_source("s3://bucket//x", **owner)
