"""Run endpoints: MLflow's response shapes, atomic log-batch, and 4xx answers naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


def new_run(api: Api, **fields: Any) -> str:
    response = api.mlflow("POST", "runs/create", {"experiment_id": "0", **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["run"]["info"]["run_id"])


def get_run(api: Api, run_id: str) -> dict[str, Any]:
    response = api.mlflow("GET", "runs/get", {"run_id": run_id})
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["run"]
    return run


def test_create_get_update_shapes(api: Api) -> None:
    created = api.mlflow(
        "POST",
        "runs/create",
        {
            "experiment_id": "0",
            "user_id": "ann",
            "run_name": "first",
            "start_time": 1700000000000,
            "tags": [{"key": "team", "value": "x"}],
        },
    ).json()["run"]
    info = created["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32
    assert info["run_name"] == "first" and info["user_id"] == "ann"
    assert info["status"] == "RUNNING" and info["lifecycle_stage"] == "active"
    assert info["start_time"] == 1700000000000 and "end_time" not in info
    assert info["artifact_uri"].endswith(f"/0/{info['run_id']}/artifacts")
    assert {"key": "mlflow.runName", "value": "first"} in created["data"]["tags"]
    assert "metrics" not in created["data"] and "params" not in created["data"]
    assert created["inputs"] == {}

    run_id = info["run_id"]
    # run_uuid alone is accepted, as older clients send only it.
    by_uuid = api.mlflow("GET", "runs/get", {"run_uuid": run_id}).json()["run"]
    assert by_uuid == created

    updated = api.mlflow(
        "POST",
        "runs/update",
        {"run_id": run_id, "status": "FINISHED", "end_time": 1700000001000, "run_name": "renamed"},
    ).json()
    assert set(updated) == {"run_info"}
    assert updated["run_info"]["status"] == "FINISHED"
    assert updated["run_info"]["end_time"] == 1700000001000
    assert updated["run_info"]["run_name"] == "renamed"
    # Enum numbers are accepted too (KILLED = 5).
    api.mlflow("POST", "runs/update", {"run_uuid": run_id, "status": 5})
    assert get_run(api, run_id)["info"]["status"] == "KILLED"


def test_run_name_is_made_up_when_absent(api: Api) -> None:
    run = get_run(api, new_run(api))
    assert run["info"]["run_name"]
    assert {"key": "mlflow.runName", "value": run["info"]["run_name"]} in run["data"]["tags"]


def test_delete_restore_and_deleted_run_writes(api: Api) -> None:
    run_id = new_run(api)
    assert api.mlflow("POST", "runs/delete", {"run_id": run_id}).json() == {}
    assert get_run(api, run_id)["info"]["lifecycle_stage"] == "deleted"
    refused = api.mlflow("POST", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    assert "active" in error_of(refused, 400, "INVALID_PARAMETER_VALUE")
    refused = api.mlflow(
        "POST",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1}]},
    )
    assert "active" in error_of(refused, 400, "INVALID_PARAMETER_VALUE")
    assert api.mlflow("POST", "runs/restore", {"run_id": run_id}).json() == {}
    assert get_run(api, run_id)["info"]["lifecycle_stage"] == "active"


def test_logging_endpoints_and_wire_values(api: Api) -> None:
    run_id = new_run(api)
    for value in (1.5, "NaN", "Infinity", "-Infinity"):
        response = api.mlflow(
            "POST",
            "runs/log-metric",
            {"run_id": run_id, "key": f"m{value}", "value": value, "timestamp": 5, "step": 2},
        )
        assert response.status_code == 200 and response.json() == {}, response.text
    # A numeric string for an int64 is accepted, as protobuf's JSON parser does.
    api.mlflow(
        "POST", "runs/log-metric", {"run_id": run_id, "key": "s", "value": 2, "timestamp": "7"}
    )
    api.mlflow("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    api.mlflow("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    api.mlflow("POST", "runs/set-tag", {"run_id": run_id, "key": "t", "value": "1"})
    api.mlflow("POST", "runs/set-tag", {"run_id": run_id, "key": "gone", "value": "1"})
    assert api.mlflow("POST", "runs/delete-tag", {"run_id": run_id, "key": "gone"}).json() == {}
    data = get_run(api, run_id)["data"]
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["m1.5"] == {"key": "m1.5", "value": 1.5, "timestamp": 5, "step": 2}
    assert metrics["mNaN"]["value"] == "NaN"
    assert metrics["mInfinity"]["value"] == "Infinity"
    assert metrics["m-Infinity"]["value"] == "-Infinity"
    assert metrics["s"] == {"key": "s", "value": 2.0, "timestamp": 7, "step": 0}
    assert isinstance(metrics["s"]["timestamp"], int)
    assert data["params"] == [{"key": "lr", "value": "0.1"}]
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["t"] == "1" and "gone" not in tags

    changed = api.mlflow(
        "POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "2"}
    )
    assert "lr" in error_of(changed, 400, "INVALID_PARAMETER_VALUE")
    absent = api.mlflow("POST", "runs/delete-tag", {"run_id": run_id, "key": "never"})
    assert "never" in error_of(absent, 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_batch_happy_path(api: Api) -> None:
    run_id = new_run(api)
    body = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 1.0 / (i + 1), "timestamp": i, "step": i} for i in range(900)
        ],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(50)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(50)],
    }
    assert api.mlflow("POST", "runs/log-batch", body).json() == {}
    data = get_run(api, run_id)["data"]
    assert len(data["params"]) == 50
    assert data["metrics"] == [{"key": "loss", "value": 1 / 900, "timestamp": 899, "step": 899}]


def test_log_batch_mixed_shapes(api: Api) -> None:
    """Plain points, int values, a missing step and dataset fields in one batch all arrive."""
    run_id = new_run(api)
    metrics: list[dict[str, Any]] = [
        {"key": "a", "value": 2, "timestamp": 5},
        {"key": "a", "value": 3.5, "timestamp": 6, "step": 1},
        {"key": "b", "value": 1.0, "timestamp": 7, "step": 0, "dataset_name": "train"},
        {"key": "c", "value": "NaN", "timestamp": 8, "step": 0},
    ]
    assert api.mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics}).json() == {}
    history = api.mlflow("GET", "metrics/get-history", {"run_id": run_id, "metric_key": "a"})
    assert history.json()["metrics"] == [
        {"key": "a", "value": 2.0, "timestamp": 5, "step": 0},
        {"key": "a", "value": 3.5, "timestamp": 6, "step": 1},
    ]
    latest = {m["key"]: m["value"] for m in get_run(api, run_id)["data"]["metrics"]}
    assert latest == {"a": 3.5, "b": 1.0, "c": "NaN"}


def metric_count(store: SqlTrackingStore, run_id: str) -> int:
    return len(store.get_metric_history(run_id, "m"))


@pytest.fixture
def any_backend(
    opened_by_tracking_store: None, db_url: str, tmp_path: Path
) -> Iterator[tuple[Api, SqlTrackingStore]]:
    """The app over a fresh store on each backend (for atomicity, which is per-database)."""
    store = SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri())
    try:
        for api in make_api(store):
            yield api, store
    finally:
        store.close()


def test_log_batch_is_atomic_on_every_backend(any_backend: tuple[Api, SqlTrackingStore]) -> None:
    api, store = any_backend
    run_id = new_run(api)
    api.mlflow("POST", "runs/log-parameter", {"run_id": run_id, "key": "fixed", "value": "1"})
    points = [{"key": "m", "value": float(i), "timestamp": i, "step": i} for i in range(10)]
    # The last param conflicts with the stored one: nothing of the batch may remain.
    conflicting = {
        "run_id": run_id,
        "metrics": points,
        "params": [{"key": "new", "value": "x"}, {"key": "fixed", "value": "2"}],
        "tags": [{"key": "tagged", "value": "y"}],
    }
    message = error_of(
        api.mlflow("POST", "runs/log-batch", conflicting), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "fixed" in message
    data = get_run(api, run_id)["data"]
    assert metric_count(store, run_id) == 0 and "metrics" not in data
    assert data["params"] == [{"key": "fixed", "value": "1"}]
    assert "tagged" not in {t["key"] for t in data["tags"]}
    # A bad item at the end is refused before anything is written.
    bad_last = {"run_id": run_id, "metrics": [*points, {"key": "m", "value": "x", "timestamp": 1}]}
    message = error_of(
        api.mlflow("POST", "runs/log-batch", bad_last), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "metrics[10].value" in message
    assert metric_count(store, run_id) == 0


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({}, "run_id"),
        ({"run_id": 5}, "run_id"),
        ({"run_id": "RID", "metrics": "x"}, "metrics"),
        ({"run_id": "RID", "metrics": [{"value": 1, "timestamp": 1}]}, "metrics[0].key"),
        ({"run_id": "RID", "metrics": [{"key": "m", "timestamp": 1}]}, "metrics[0].value"),
        ({"run_id": "RID", "metrics": [{"key": "m", "value": 1}]}, "metrics[0].timestamp"),
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": 1, "timestamp": -1}]},
            "metrics[0].timestamp",
        ),
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 1.5}]},
            "metrics[0].step",
        ),
        (
            {"run_id": "RID", "metrics": [{"key": "a//b", "value": 1, "timestamp": 1}]},
            "metrics[0].key",
        ),
        # JSON parsers read these as unsigned 64-bit integers; they are past int64.
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": 1, "timestamp": 2**63 + 5}]},
            "metrics[0].timestamp",
        ),
        (
            {
                "run_id": "RID",
                "metrics": [
                    {"key": "m", "value": 1.0, "timestamp": 1, "step": 0},
                    {"key": "m", "value": 1.0, "timestamp": 1, "step": 2**63 + 5},
                ],
            },
            "metrics[1].step",
        ),
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": True, "timestamp": 1, "step": 0}]},
            "metrics[0].value",
        ),
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}, 7]},
            "metrics[1]",
        ),
        (
            {"run_id": "RID", "metrics": [{"key": "m", "value": 1.0, "step": 1, "x": 2}]},
            "metrics[0].timestamp",
        ),
        ({"run_id": "RID", "params": [{"key": "p", "value": 3}]}, "params[0].value"),
        ({"run_id": "RID", "params": [{"key": "p", "value": "x" * 6001}]}, "params[0].value"),
        ({"run_id": "RID", "tags": [{"key": "t", "value": "x" * 8001}]}, "tags[0].value"),
        ({"run_id": "RID", "tags": [{"value": "v"}]}, "tags[0].key"),
        (
            {"run_id": "RID", "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "1"}]},
            "Duplicate parameter keys have been submitted: ['p']",
        ),
        (
            {
                "run_id": "RID",
                "metrics": [{"key": "m", "value": 1, "timestamp": i} for i in range(1001)],
            },
            "metrics",
        ),
        (
            {"run_id": "RID", "params": [{"key": f"p{i}", "value": "1"} for i in range(101)]},
            "params",
        ),
        ({"run_id": "RID", "tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]}, "tags"),
        (
            {
                "run_id": "RID",
                "metrics": [{"key": "m", "value": 1, "timestamp": i} for i in range(950)],
                "params": [{"key": f"p{i}", "value": "1"} for i in range(51)],
            },
            "at most 1000",
        ),
    ],
)
def test_log_batch_bad_input(api: Api, body: dict[str, Any], mentions: str) -> None:
    run_id = new_run(api)
    if body.get("run_id") == "RID":
        body = {**body, "run_id": run_id}
    message = error_of(api.mlflow("POST", "runs/log-batch", body), 400, "INVALID_PARAMETER_VALUE")
    assert mentions in message
    assert "metrics" not in get_run(api, run_id)["data"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "mentions"),
    [
        ("runs/create", {"experiment_id": "42"}, 404, "RESOURCE_DOES_NOT_EXIST", "42"),
        ("runs/create", {"start_time": "soon"}, 400, "INVALID_PARAMETER_VALUE", "start_time"),
        ("runs/create", {"tags": [{"key": 1}]}, 400, "INVALID_PARAMETER_VALUE", "tags[0].key"),
        ("runs/create", {"run_name": "x" * 251}, 400, "INVALID_PARAMETER_VALUE", "run_name"),
        ("runs/update", {"status": "DONE"}, 400, "INVALID_PARAMETER_VALUE", "status"),
        ("runs/update", {"end_time": -5}, 400, "INVALID_PARAMETER_VALUE", "end_time"),
        ("runs/get", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", "f" * 32),
        ("runs/delete", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", "f" * 32),
        ("runs/log-metric", {"key": "m", "value": 1}, 400, "INVALID_PARAMETER_VALUE", "timestamp"),
        (
            "runs/log-metric",
            {"key": "m", "value": "big", "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
            "value",
        ),
        (
            "runs/log-metric",
            {"key": "m", "value": True, "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
            "value",
        ),
        ("runs/log-parameter", {"value": "1"}, 400, "INVALID_PARAMETER_VALUE", "key"),
        ("runs/set-tag", {"key": "../x", "value": "1"}, 400, "INVALID_PARAMETER_VALUE", "key"),
        ("runs/delete-tag", {}, 400, "INVALID_PARAMETER_VALUE", "key"),
        ("runs/log-model", {}, 400, "INVALID_PARAMETER_VALUE", "model_json"),
        ("runs/log-model", {"model_json": "{"}, 400, "INVALID_PARAMETER_VALUE", "model_json"),
        ("runs/log-model", {"model_json": "[]"}, 400, "INVALID_PARAMETER_VALUE", "model_json"),
        (
            "runs/log-model",
            {"model_json": json.dumps({"artifact_path": "m"})},
            400,
            "INVALID_PARAMETER_VALUE",
            "flavors",
        ),
        (
            "runs/log-inputs",
            {"datasets": [{}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "datasets[0].dataset",
        ),
        (
            "runs/log-inputs",
            {"datasets": [{"dataset": {"name": "d", "digest": "1", "source_type": "s"}}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "datasets[0].dataset.source",
        ),
        (
            "runs/log-inputs",
            {
                "datasets": [
                    {
                        "dataset": {
                            "name": "d",
                            "digest": "x" * 37,
                            "source_type": "s",
                            "source": "s",
                        }
                    }
                ]
            },
            400,
            "INVALID_PARAMETER_VALUE",
            "'digest' exceeds the maximum length of 36 characters",
        ),
        ("runs/outputs", {}, 400, "INVALID_PARAMETER_VALUE", "models"),
        ("runs/outputs", {"models": [{"model_id": "m-1"}]}, 400, "INVALID_PARAMETER_VALUE", "step"),
    ],
)
def test_bad_input(
    api: Api, path: str, body: dict[str, Any], status: int, code: str, mentions: str
) -> None:
    if not path.startswith("runs/create") and "run_id" not in body:
        body = {**body, "run_id": new_run(api)}
    method = "GET" if path == "runs/get" else "POST"
    assert mentions in error_of(api.mlflow(method, path, body), status, code)


def test_run_id_and_run_uuid_must_agree(api: Api) -> None:
    run_id = new_run(api)
    response = api.mlflow("GET", "runs/get", {"run_id": run_id, "run_uuid": "0" * 32})
    assert "run_uuid" in error_of(response, 400, "INVALID_PARAMETER_VALUE")


def test_search(api: Api) -> None:
    ids = [new_run(api, run_name=f"r{i}") for i in range(3)]
    for i, run_id in enumerate(ids):
        api.mlflow(
            "POST", "runs/log-metric", {"run_id": run_id, "key": "acc", "value": i, "timestamp": 1}
        )
    assert api.mlflow("POST", "runs/search", {"experiment_ids": []}).json() == {}
    page = api.mlflow(
        "POST",
        "runs/search",
        {
            "experiment_ids": ["0"],
            "filter": "metrics.acc >= 1",
            "order_by": ["metrics.acc DESC"],
            "max_results": 1,
        },
    ).json()
    assert [r["info"]["run_name"] for r in page["runs"]] == ["r2"]
    rest = api.mlflow(
        "POST",
        "runs/search",
        {
            "experiment_ids": ["0"],
            "filter": "metrics.acc >= 1",
            "order_by": ["metrics.acc DESC"],
            "max_results": 1,
            "page_token": page["next_page_token"],
        },
    ).json()
    assert [r["info"]["run_name"] for r in rest["runs"]] == ["r1"]
    api.mlflow("POST", "runs/delete", {"run_id": ids[0]})
    deleted = api.mlflow(
        "POST", "runs/search", {"experiment_ids": ["0"], "run_view_type": "DELETED_ONLY"}
    ).json()
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [ids[0]]
    none = api.mlflow("POST", "runs/search", {"experiment_ids": ["0"], "filter": "tags.x = 'no'"})
    assert none.json() == {}


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"experiment_ids": ["0"], "filter": "metrics.acc >>> 1"}, "filter"),
        ({"experiment_ids": ["0"], "max_results": 50001}, "max_results"),
        ({"experiment_ids": ["0"], "max_results": 0}, "max_results"),
        ({"experiment_ids": ["0"], "max_results": "many"}, "max_results"),
        ({"experiment_ids": [0]}, "experiment_ids"),
        ({"experiment_ids": ["0"], "run_view_type": "SOME"}, "run_view_type"),
        ({"experiment_ids": ["0"], "order_by": ["bogus.x"]}, "bogus"),
        ({"experiment_ids": ["0"], "page_token": "%%"}, "page_token"),
    ],
)
def test_search_bad_input(api: Api, body: dict[str, Any], mentions: str) -> None:
    response = api.mlflow("POST", "runs/search", body)
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert mentions in message or "position" in message


def test_log_model_appends_to_history(api: Api) -> None:
    run_id = new_run(api)
    model = {
        "artifact_path": "model",
        "flavors": {"python_function": {}},
        "utc_time_created": "2024-01-01 00:00:00.000000",
        "run_id": run_id,
    }
    for path in ("model", "model2"):
        body = {"run_id": run_id, "model_json": json.dumps({**model, "artifact_path": path})}
        assert api.mlflow("POST", "runs/log-model", body).json() == {}
    tags = {t["key"]: t["value"] for t in get_run(api, run_id)["data"]["tags"]}
    history = json.loads(tags["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["model", "model2"]


def test_log_inputs(api: Api) -> None:
    run_id = new_run(api)
    dataset = {"name": "d", "digest": "abc", "source_type": "local", "source": "{}", "schema": "s"}
    body = {
        "run_id": run_id,
        "datasets": [
            {"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": dataset}
        ],
    }
    assert api.mlflow("POST", "runs/log-inputs", body).json() == {}
    inputs = get_run(api, run_id)["inputs"]
    assert inputs == {
        "dataset_inputs": [
            {"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": dataset}
        ]
    }
    summaries = api.request(
        "POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", json={"experiment_ids": ["0"]}
    ).json()
    assert summaries == {
        "dataset_summaries": [
            {"experiment_id": "0", "name": "d", "digest": "abc", "context": "train"}
        ]
    }
    # Only the ajax prefix serves it, as in MLflow.
    assert (
        api.mlflow("POST", "experiments/search-datasets", {"experiment_ids": ["0"]}).status_code
        == 404
    )
    too_many = api.request(
        "POST",
        "/ajax-api/2.0/mlflow/experiments/search-datasets",
        json={"experiment_ids": [str(i) for i in range(21)]},
    )
    assert "experiment_ids" in error_of(too_many, 400, "INVALID_PARAMETER_VALUE")
    unknown = api.mlflow("POST", "runs/log-inputs", {"run_id": "f" * 32})
    error_of(unknown, 404, "RESOURCE_DOES_NOT_EXIST")


def test_artifacts_list_local_root(api: Api, sqlite_store: SqlTrackingStore) -> None:
    run_id = new_run(api)
    root = get_run(api, run_id)["info"]["artifact_uri"]
    from runlab.artifacts import get_artifact_repository

    repo = get_artifact_repository(root)
    repo.log_bytes(b"hello", "a.txt")
    repo.log_bytes(b"nested!", "dir/b.txt")
    listing = api.mlflow("GET", "artifacts/list", {"run_id": run_id}).json()
    assert listing == {
        "root_uri": root,
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 5},
            {"path": "dir", "is_dir": True},
        ],
    }
    sub = api.mlflow("GET", "artifacts/list", {"run_id": run_id, "path": "dir"}).json()
    assert sub["files"] == [{"path": "dir/b.txt", "is_dir": False, "file_size": 7}]
    empty = api.mlflow("GET", "artifacts/list", {"run_id": run_id, "path": "none"}).json()
    assert empty == {"root_uri": root}


@pytest.mark.parametrize(
    "path", ["../x", "dir/../../x", "/etc", "%2e%2e/x", "a\\b", "a#b", "a;b", "a?b=1", "C:/x"]
)
def test_artifacts_list_refuses_traversal(api: Api, path: str) -> None:
    run_id = new_run(api)
    response = api.mlflow("GET", "artifacts/list", {"run_id": run_id, "path": path})
    assert "path" in error_of(response, 400, "INVALID_PARAMETER_VALUE")


def test_artifacts_list_through_the_proxy_root(sqlite_url: str, tmp_path: Path) -> None:
    from runlab.artifacts import LocalArtifactRepository

    store = SqlTrackingStore(sqlite_url, "mlflow-artifacts:/")
    proxied = LocalArtifactRepository((tmp_path / "dest").as_uri())
    try:
        for api in make_api(store, artifact_repo=proxied):
            run_id = new_run(api)
            root = get_run(api, run_id)["info"]["artifact_uri"]
            assert root.startswith("mlflow-artifacts:")
            proxied.log_bytes(b"abc", f"0/{run_id}/artifacts/model/MLmodel")
            listing = api.mlflow("GET", "artifacts/list", {"run_id": run_id}).json()
            assert listing == {"root_uri": root, "files": [{"path": "model", "is_dir": True}]}
            inner = api.mlflow("GET", "artifacts/list", {"run_id": run_id, "path": "model"})
            assert inner.json()["files"] == [
                {"path": "model/MLmodel", "is_dir": False, "file_size": 3}
            ]
    finally:
        store.close()
