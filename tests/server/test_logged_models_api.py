"""Logged-model endpoints (MLflow 3's log_model path): shapes, path parameters, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.asgi_api import Api

BASE = "/api/2.0/mlflow/logged-models"


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post(BASE, json={"experiment_id": "0", **fields})
    assert response.status_code == 200, response.text
    model: dict[str, Any] = response.json()["model"]
    return model


def test_create_get_finalize_delete(api: Api) -> None:
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    model = create(
        api,
        name="clf",
        model_type="sklearn",
        source_run_id=run_id,
        tags=[{"key": "mlflow.user", "value": "ann"}],
        params=[{"key": "alpha", "value": "0.5"}],
    )
    info = model["info"]
    model_id = info["model_id"]
    assert model_id.startswith("m-") and len(model_id) == 34
    assert info["experiment_id"] == "0" and info["name"] == "clf"
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["source_run_id"] == run_id and info["model_type"] == "sklearn"
    assert info["artifact_uri"].endswith(f"/0/models/{model_id}/artifacts")
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["tags"] == [{"key": "mlflow.user", "value": "ann"}]
    assert model["data"] == {"params": [{"key": "alpha", "value": "0.5"}]}

    got = api.get(f"{BASE}/{model_id}").json()["model"]
    assert got == model
    # The ajax prefix serves the same routes.
    assert api.get(f"/ajax-api/2.0/mlflow/logged-models/{model_id}").json()["model"] == model

    ready = api.request("PATCH", f"{BASE}/{model_id}", json={"status": "LOGGED_MODEL_READY"})
    assert ready.status_code == 200, ready.text
    assert ready.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"

    assert api.request("DELETE", f"{BASE}/{model_id}").json() == {}
    error_of(api.get(f"{BASE}/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    deleted = api.get(f"{BASE}/{model_id}", params={"allow_deleted": "true"})
    assert deleted.json()["model"]["info"]["model_id"] == model_id


def test_tags_params_and_run_links(api: Api) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    tagged = api.request(
        "PATCH",
        f"{BASE}/{model_id}/tags",
        json={"tags": [{"key": "a/b", "value": "1"}, {"key": "c", "value": "2"}]},
    )
    assert tagged.status_code == 200, tagged.text
    assert {"key": "a/b", "value": "1"} in tagged.json()["model"]["info"]["tags"]
    # A tag key with a slash travels in the path.
    assert api.request("DELETE", f"{BASE}/{model_id}/tags/a/b").json() == {}
    tags = api.get(f"{BASE}/{model_id}").json()["model"]["info"]["tags"]
    assert tags == [{"key": "c", "value": "2"}]
    missing = api.request("DELETE", f"{BASE}/{model_id}/tags/nope")
    error_of(missing, 404, "RESOURCE_DOES_NOT_EXIST")

    params = {"params": [{"key": "k", "value": "v"}]}
    assert api.post(f"{BASE}/{model_id}/params", json=params).json() == {}
    changed = api.post(f"{BASE}/{model_id}/params", json={"params": [{"key": "k", "value": "w"}]})
    assert "k" in error_of(changed, 400, "INVALID_PARAMETER_VALUE")

    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    outputs = {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]}
    assert api.mlflow("POST", "runs/outputs", outputs).json() == {}
    inputs = {"run_id": run_id, "models": [{"model_id": model_id}]}
    assert api.mlflow("POST", "runs/log-inputs", inputs).json() == {}
    run = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    assert run["inputs"] == {"model_inputs": [{"model_id": model_id}]}
    unknown = {"run_id": run_id, "models": [{"model_id": "m-" + "0" * 32, "step": 0}]}
    error_of(api.mlflow("POST", "runs/outputs", unknown), 404, "RESOURCE_DOES_NOT_EXIST")


def test_metric_with_model_id_reaches_the_model(api: Api) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    run_id = api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    body = {
        "run_id": run_id,
        "key": "acc",
        "value": 0.9,
        "timestamp": 10,
        "step": 1,
        "model_id": model_id,
        "dataset_name": "val",
        "dataset_digest": "abc",
    }
    assert api.mlflow("POST", "runs/log-metric", body).json() == {}
    metrics = api.get(f"{BASE}/{model_id}").json()["model"]["data"]["metrics"]
    assert metrics == [
        {
            "key": "acc",
            "value": 0.9,
            "timestamp": 10,
            "step": 1,
            "run_id": run_id,
            "dataset_name": "val",
            "dataset_digest": "abc",
            "model_id": model_id,
        }
    ]
    # An unknown model is refused before the run's metric is written.
    bad = {**body, "model_id": "m-" + "1" * 32, "key": "other"}
    error_of(api.mlflow("POST", "runs/log-metric", bad), 404, "RESOURCE_DOES_NOT_EXIST")
    run = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]
    assert [m["key"] for m in run["data"]["metrics"]] == ["acc"]


def test_search(api: Api) -> None:
    ids = [create(api, name=f"m{i}")["info"]["model_id"] for i in range(3)]
    assert api.post(f"{BASE}/search", json={"experiment_ids": []}).json() == {}
    page = api.post(
        f"{BASE}/search",
        json={
            "experiment_ids": ["0"],
            "filter": "name != 'm1'",
            "order_by": [{"field_name": "name", "ascending": False}],
            "max_results": 1,
        },
    ).json()
    assert [m["info"]["name"] for m in page["models"]] == ["m2"]
    rest = api.post(
        f"{BASE}/search",
        json={
            "experiment_ids": ["0"],
            "filter": "name != 'm1'",
            "order_by": [{"field_name": "name", "ascending": False}],
            "max_results": 1,
            "page_token": page["next_page_token"],
        },
    ).json()
    assert [m["info"]["model_id"] for m in rest["models"]] == [ids[0]]
    assert "next_page_token" not in rest


def test_artifact_directories(api: Api) -> None:
    model = create(api, name="m")
    model_id, root = model["info"]["model_id"], model["info"]["artifact_uri"]
    from runlab.artifacts import get_artifact_repository

    get_artifact_repository(root).log_bytes(b"flavors: {}\n", "MLmodel")
    listing = api.get(f"{BASE}/{model_id}/artifacts/directories").json()
    assert listing == {
        "root_uri": root,
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}],
    }
    bad = api.get(
        f"{BASE}/{model_id}/artifacts/directories", params={"artifact_directory_path": "../x"}
    )
    # MLflow's exact answer to a refused artifact path (the reason goes to the server log).
    assert error_of(bad, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"


FILES = "/ajax-api/2.0/mlflow/logged-models/{}/artifacts/files"


def test_artifact_file_download(api: Api) -> None:
    # MLflow's UI reads a logged model's files here (ajax prefix only, as on MLflow's server).
    model = create(api, name="m")
    model_id, root = model["info"]["model_id"], model["info"]["artifact_uri"]
    from runlab.artifacts import get_artifact_repository

    repo = get_artifact_repository(root)
    repo.log_bytes(b"flavors: {}\n", "MLmodel")
    repo.log_bytes(b"<script>alert(1)</script>", "sub/page.html")
    got = api.get(FILES.format(model_id), params={"artifact_file_path": "MLmodel"})
    assert got.status_code == 200, got.text
    assert got.content == b"flavors: {}\n"
    assert got.headers["content-disposition"] == 'attachment; filename="MLmodel"'
    page = api.get(FILES.format(model_id), params={"artifact_file_path": "sub/page.html"})
    assert page.content == b"<script>alert(1)</script>"
    # Someone's file never runs as part of the UI: an attachment, sandboxed, not sniffed.
    assert page.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert page.headers["content-security-policy"] == "sandbox"
    assert page.headers["x-content-type-options"] == "nosniff"
    ranged = api.get(
        FILES.format(model_id),
        params={"artifact_file_path": "MLmodel"},
        headers={"Range": "bytes=0-6"},
    )
    assert (ranged.status_code, ranged.content) == (206, b"flavors")
    assert api.get(BASE.replace("/api/", "/ajax-api/") + f"/{model_id}").status_code == 200
    assert api.get(f"{BASE}/{model_id}/artifacts/files").status_code == 404  # no /api/ twin


@pytest.mark.parametrize(
    ("params", "status", "code", "mentions"),
    [
        ({}, 400, "BAD_REQUEST", 'Request must include the "artifact_file_path"'),
        ({"artifact_file_path": ""}, 400, "BAD_REQUEST", "artifact_file_path"),
        # MLflow's exact answer to a refused artifact path (the reason goes to the server log).
        (
            {"artifact_file_path": "../../etc/passwd"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid path",
        ),
        ({"artifact_file_path": "/etc/passwd"}, 400, "INVALID_PARAMETER_VALUE", "Invalid path"),
        ({"artifact_file_path": "%2e%2e/x"}, 400, "INVALID_PARAMETER_VALUE", "Invalid path"),
        ({"artifact_file_path": "missing.txt"}, 404, "RESOURCE_DOES_NOT_EXIST", "'missing.txt'"),
        ({"artifact_file_path": "sub"}, 400, "INVALID_PARAMETER_VALUE", "'sub'"),
    ],
)
def test_bad_artifact_file_requests(
    api: Api, params: dict[str, str], status: int, code: str, mentions: str
) -> None:
    model = create(api, name="m")
    from runlab.artifacts import get_artifact_repository

    get_artifact_repository(model["info"]["artifact_uri"]).log_bytes(b"x", "sub/file.txt")
    response = api.get(FILES.format(model["info"]["model_id"]), params=params)
    message = error_of(response, status, code)
    assert mentions in message
    # The file's place in the server's storage is not revealed.
    assert model["info"]["artifact_uri"] not in message


def test_artifact_file_of_a_missing_or_deleted_model(api: Api) -> None:
    missing = "m-" + "0" * 32
    response = api.get(FILES.format(missing), params={"artifact_file_path": "MLmodel"})
    assert missing in error_of(response, 404, "RESOURCE_DOES_NOT_EXIST")
    model_id = create(api, name="m")["info"]["model_id"]
    assert api.request("DELETE", f"{BASE}/{model_id}").status_code == 200
    gone = api.get(FILES.format(model_id), params={"artifact_file_path": "MLmodel"})
    error_of(gone, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "mentions"),
    [
        ("POST", "", {}, 400, "experiment_id"),
        ("POST", "", {"experiment_id": "0", "name": "a/b"}, 400, "name"),
        ("POST", "", {"experiment_id": "0", "tags": [{"value": "v"}]}, 400, "tags[0].key"),
        ("POST", "", {"experiment_id": "99"}, 404, "99"),
        ("POST", "/search", {}, 400, "experiment_ids"),
        ("POST", "/search", {"experiment_ids": ["0"], "filter": "name =="}, 400, "filter"),
        ("POST", "/search", {"experiment_ids": ["0"], "order_by": [{}]}, 400, "field_name"),
        ("POST", "/search", {"experiment_ids": ["0"], "datasets": [{}]}, 400, "dataset_name"),
        ("POST", "/search", {"experiment_ids": ["0"], "max_results": "x"}, 400, "max_results"),
        ("GET", "/m-" + "0" * 32, None, 404, "m-"),
        ("PATCH", "/MODEL", {}, 400, "status"),
        ("PATCH", "/MODEL", {"status": "DONE"}, 400, "status"),
        ("PATCH", "/MODEL/tags", {"tags": "x"}, 400, "tags"),
        ("POST", "/MODEL/params", {"params": [{"value": "1"}]}, 400, "params[0].key"),
    ],
)
def test_bad_input(
    api: Api,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    status: int,
    mentions: str,
) -> None:
    if "MODEL" in suffix:
        suffix = suffix.replace("MODEL", create(api, name="m")["info"]["model_id"])
    response = api.request(method, BASE + suffix, json=body) if body is not None else None
    if response is None:
        response = api.request(method, BASE + suffix)
    message = error_of(
        response,
        status,
        "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE",
    )
    assert mentions in message or "position" in message
