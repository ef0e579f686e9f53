"""check_model_source: which sources a model version may be registered from (MLflow's rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runlab.artifacts.model_sources import (
    MAX_SOURCE_LENGTH,
    check_model_source,
    names_registered_version,
)
from runlab.errors import InvalidParameter

RID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
MID = "m-00112233445566778899aabbccddeeff"
FILE_ROOT = f"file:///srv/art/1/{RID}/artifacts"
PLAIN_ROOT = f"/srv/art/1/{RID}/artifacts"
S3_ROOT = f"s3://bucket/exp/1/{RID}/artifacts"
PROXY_ROOT = f"mlflow-artifacts:/1/{RID}/artifacts"
HOST_PROXY_ROOT = f"mlflow-artifacts://store:5000/1/{RID}/artifacts"
HTTPS_ROOT = f"https://store.example.com/api/2.0/mlflow-artifacts/artifacts/1/{RID}/artifacts"
MODEL_ROOT = f"mlflow-artifacts:/1/models/{MID}/artifacts"


def _run(root: str | None) -> dict[str, str | None]:
    return {"run_id": RID, "run_artifact_uri": root}


RUN_FILE = _run(FILE_ROOT)
UNKNOWN_RUN = _run(None)  # a run id the store does not hold
MODEL = {"model_id": MID, "model_artifact_uri": MODEL_ROOT}

ACCEPTED: list[tuple[str, dict[str, str | None]]] = [
    # runs:/ names its run; the run need not be in this store.
    (f"runs:/{RID}/model", {"run_id": RID}),
    (f"runs:/{RID}", UNKNOWN_RUN),
    (f"runs:/{RID}/nested/model/", {"run_id": RID}),
    (f"runs:/{RID}//model", {"run_id": RID}),
    # Logged models and registered versions.
    (f"models:/{MID}", {"model_id": MID}),
    (f"models:/{MID}/sub", {"model_id": MID}),
    ("models:/fraud/3", {}),
    ("models:/fraud/3", {"model_id": MID, "run_id": RID}),
    # Local paths inside the run's local artifact directory, `..` resolved first.
    (f"{FILE_ROOT}/model", RUN_FILE),
    (FILE_ROOT, RUN_FILE),
    (f"{PLAIN_ROOT}/model", RUN_FILE),
    (f"{PLAIN_ROOT}/./model", RUN_FILE),
    (f"{PLAIN_ROOT}//model/", RUN_FILE),
    (f"{PLAIN_ROOT}/model/..", RUN_FILE),
    (f"{FILE_ROOT}/model/../other", RUN_FILE),
    (f"{FILE_ROOT}/%2e%2e/artifacts/model", RUN_FILE),  # decoded once: back inside
    (f"file://localhost{PLAIN_ROOT}/model", RUN_FILE),
    (f"{PLAIN_ROOT}/model", _run(PLAIN_ROOT)),
    (f"{FILE_ROOT}/model", _run(PLAIN_ROOT + "/")),
    (f"{FILE_ROOT}/my%20model", RUN_FILE),
    ("file:///srv/my%20art/x/model", _run("file:///srv/my%20art/x")),
    ("/srv/my art/x/model", _run("file:///srv/my%20art/x")),
    # Object stores: no run needed, wherever they point (as on MLflow's server).
    (f"{S3_ROOT}/model", _run(S3_ROOT)),
    ("s3://other-bucket/model", RUN_FILE),
    ("s3://bucket/models/fraud", UNKNOWN_RUN),
    ("s3://bucket/models/fraud", {}),
    ("S3://bucket/models//fraud/", {}),
    ("gs://bucket/models/fraud", {}),
    ("wasbs://models@account.blob.core.windows.net/fraud", {}),
    ("dbfs:/models/fraud", {}),
    # The server's proxy, and hosts it was set up with, inside the run's or model's root.
    (f"{PROXY_ROOT}/model", _run(PROXY_ROOT)),
    (f"mlflow-artifacts:///1/{RID}/artifacts//model/", _run(PROXY_ROOT)),
    (f"{HOST_PROXY_ROOT}/model", _run(HOST_PROXY_ROOT)),
    (f"{HTTPS_ROOT}/model", _run(HTTPS_ROOT)),
    (f"{MODEL_ROOT}/model", MODEL),
    # With model_id the logged model's root decides.
    (f"{MODEL_ROOT}/model", {**RUN_FILE, **MODEL}),
]


@pytest.mark.parametrize(("source", "owner"), ACCEPTED)
def test_accepted(source: str, owner: dict[str, str]) -> None:
    assert check_model_source(source, **owner) == source


_LOCAL = "To use a local path as a model version source"
_RELATIVE = "If supplying a source as an http, https,"

REFUSED: list[tuple[str, dict[str, str | None], str]] = [
    # Local paths outside the run's folder, or with nothing to lie inside.
    ("/etc/passwd", RUN_FILE, "lies outside"),
    ("file:///etc/passwd", RUN_FILE, "lies outside"),
    (f"/srv/art/1/{RID}/artifacts2/model", RUN_FILE, "lies outside"),
    (f"/srv/art/1/{OTHER}/artifacts/model", RUN_FILE, "lies outside"),
    (f"{PLAIN_ROOT}/../../{OTHER}/artifacts", RUN_FILE, "lies outside"),
    (f"{PLAIN_ROOT}/model/../../x", RUN_FILE, "lies outside"),
    (f"{FILE_ROOT}/%2e%2e/%2e%2e/x", RUN_FILE, "lies outside"),
    (f"file://evil.example.com{PLAIN_ROOT}/model", RUN_FILE, "is not a valid remote uri"),
    ("model", RUN_FILE, "relative path"),
    (f"./srv/art/1/{RID}/artifacts/model", RUN_FILE, "relative path"),
    (f"C:/srv/art/1/{RID}/artifacts/model", RUN_FILE, "relative path"),
    ("/tmp/model", {}, "no run_id was given"),
    ("file:///tmp/model", {}, "no run_id was given"),
    ("relative/model", {}, "no run_id was given"),
    (f"{PLAIN_ROOT}/model", UNKNOWN_RUN, "not in this server's tracking store"),
    (f"{PLAIN_ROOT}/model", _run(S3_ROOT), "not in a local directory"),
    (f"{PLAIN_ROOT}/model", {**RUN_FILE, **MODEL}, "not in a local directory"),
    # Encoded traversal inside the folder is refused as in artifact paths.
    (f"{PLAIN_ROOT}/%2e%2e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/%2E%2E/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/%252e%252e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/..%2fx", RUN_FILE, "encoded '/'"),
    (f"{FILE_ROOT}/%252e%252e/x", RUN_FILE, "'..'"),
    (f"{PLAIN_ROOT}/\uff0e\uff0e/x", RUN_FILE, "normalization"),
    # Relative references in other URIs, plain or encoded.
    ("s3://bucket/../x", {}, "'..'"),
    (f"{S3_ROOT}/../x", _run(S3_ROOT), _RELATIVE),
    (f"{PROXY_ROOT}/./model", _run(PROXY_ROOT), _RELATIVE),
    ("s3://bucket/./model", {}, "a '.' part"),
    (f"{S3_ROOT}/%2e%2e/x", _run(S3_ROOT), _RELATIVE),
    ("s3a://bucket/a/..%2f..%2fb", {}, "encoded '/'"),
    (f"{PROXY_ROOT}/%252e%252e/%252e%252e/x", _run(PROXY_ROOT), _RELATIVE),
    ("https://host/a/%2e%2e/b", {}, _RELATIVE),
    (f"dbfs:/{RID}/artifacts/a/../../../x", {"run_id": RID}, _RELATIVE),
    ("s3://../x", {}, _RELATIVE),
    ("javascript:alert(1)", {}, "is not absolute"),
    ("s3:bucket/model", {}, "is not absolute"),
    ("s3://bucket", {}, "is not absolute"),
    # Schemes that make the server connect to a host: only inside the run's or model's root.
    ("https://store.example.com/models/fraud", {}, "cannot use the 'https' scheme"),
    ("http://169.254.169.254/latest/meta-data", {}, "cannot use the 'http' scheme"),
    ("ftp://host/model", {}, "cannot use the 'ftp' scheme"),
    ("hdfs://namenode/models/fraud", {}, "cannot use the 'hdfs' scheme"),
    ("mlflow-artifacts://evil:5000/1/x", {}, "cannot use the 'mlflow-artifacts' scheme"),
    (f"mlflow-artifacts://evil:5000/1/{RID}/artifacts/m", _run(PROXY_ROOT), "outside"),
    ("https://evil.example.com/x", RUN_FILE, "cannot use the 'https' scheme outside"),
    (f"{HTTPS_ROOT}2/model", _run(HTTPS_ROOT), "cannot use the 'https' scheme outside"),
    (f"{HTTPS_ROOT}/model", UNKNOWN_RUN, "not in this server's tracking store"),
    # The server's own proxy: inside the run's (or logged model's) root.
    ("mlflow-artifacts:/3/models/fraud", {}, "must identify the run"),
    (f"{PROXY_ROOT}/model", UNKNOWN_RUN, "not in this server's tracking store"),
    (f"mlflow-artifacts:/1/{OTHER}/artifacts/model", _run(PROXY_ROOT), "lies outside"),
    (f"{MODEL_ROOT}/model", _run(PROXY_ROOT), "lies outside"),
    (f"{PROXY_ROOT}/model", {**_run(PROXY_ROOT), **MODEL}, "must identify the logged model"),
    # Characters that change what a URL or a path names.
    (f"{PLAIN_ROOT}/model\\..\\..\\x", RUN_FILE, "backslash"),
    (f"{PLAIN_ROOT}/model#/../../x", RUN_FILE, "'#'"),
    (f"{PLAIN_ROOT}/model?x=/../../", RUN_FILE, "'?'"),
    (f"{PLAIN_ROOT}/..;/x", RUN_FILE, "';'"),
    (f"{PLAIN_ROOT}/model\x00.txt", RUN_FILE, "control character"),
    ("mlflow-artifacts:/1/x%00", {}, "control character"),
    (f"{PLAIN_ROOT}/model\n", RUN_FILE, "white space"),
    (f"{PLAIN_ROOT}/mo\ndel", RUN_FILE, "control character"),
    (f" {PLAIN_ROOT}/model", RUN_FILE, "white space"),
    # runs:/ URIs.
    (f"runs:/{OTHER}/model", {"run_id": RID}, "must identify the run"),
    (f"runs:/{RID}/model", {}, "none was given"),
    (f"runs:/{RID}/model", {"run_id": RID, **MODEL}, "The model_id request parameter"),
    (f"runs:/{RID}/../x", {"run_id": RID}, "'..'"),
    (f"runs:/{RID}/%2e%2e/x", {"run_id": RID}, "'..'"),
    (f"runs:/{RID}/nested/./model", {"run_id": RID}, "a '.' part"),
    ("runs:/../x", {"run_id": RID}, "valid run id"),
    ("runs:/", {"run_id": RID}, "has the form"),
    (f"runs://{RID}/x", {"run_id": RID}, "without a host"),
    # models:/ URIs.
    (f"models:/{MID}", {}, "none was given"),
    (f"models:/{MID}", {"run_id": RID}, "none was given"),
    (f"models:/{MID}/../x", {"model_id": MID}, "'..'"),
    ("models:/m-ffff", {"model_id": MID}, "must identify the logged model"),
    ("models:/m-", {"model_id": "m-"}, "must name a logged model"),
    ("models://registry/fraud/1", {}, "without a host"),
    ("models:/fraud", {}, "say which version"),
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
    # MLflow's clients and tests match on this start.
    assert info.value.message.startswith("Invalid model version source: ")


def test_local_refusals_carry_mlflows_hint() -> None:
    for source, owner in [("/etc/passwd", RUN_FILE), ("/tmp/model", {})]:
        with pytest.raises(InvalidParameter, match=_LOCAL):
            check_model_source(source, **owner)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", [None, 3, b"/srv/model"])
def test_non_strings_are_refused(source: object) -> None:
    with pytest.raises(InvalidParameter, match="Expected a string"):
        check_model_source(source, run_id=RID, run_artifact_uri=FILE_ROOT)  # type: ignore[arg-type]


def test_a_symbolic_link_out_of_the_run_folder_is_outside_it(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    (root / "model").mkdir(parents=True)
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (root / "escape").symlink_to(secret, target_is_directory=True)
    owner = {"run_id": RID, "run_artifact_uri": root.as_uri()}
    assert check_model_source(str(root / "model"), **owner) == str(root / "model")
    with pytest.raises(InvalidParameter, match="lies outside"):
        check_model_source(str(root / "escape"), **owner)
    with pytest.raises(InvalidParameter, match="lies outside"):
        check_model_source((root / "escape" / "x").as_uri(), **owner)


def test_names_registered_version() -> None:
    assert names_registered_version("models:/fraud/3")
    assert names_registered_version("models:/fraud@champion")
    assert names_registered_version("models:/fraud/Production")
    assert not names_registered_version(f"models:/{MID}")
    assert not names_registered_version(f"runs:/{RID}/model")
    assert not names_registered_version("models:/fraud")  # malformed: check_model_source says why
    assert not names_registered_version(None)
