"""runlab's own API: the downsampled metric series for charts."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from runlab.entities import Metric
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

URL = "/api/2.0/runlab/metrics/downsampled"


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert an MLflow-shaped error body and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    return str(body["message"])


@pytest.fixture
def run_id(api: Api, sqlite_store: SqlTrackingStore) -> str:
    run_id = str(
        api.mlflow("POST", "runs/create", {"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    )
    for start in range(0, 3000, 1000):
        sqlite_store.log_batch(
            run_id, [Metric("loss", float(s % 7), s, s) for s in range(start, start + 1000)]
        )
    sqlite_store.log_batch(run_id, [Metric("loss", 100.0, 5, 1500), Metric("nan", math.nan, 1, 0)])
    return run_id


def test_downsampled_buckets(api: Api, run_id: str) -> None:
    body = api.get(URL, params={"run_id": run_id, "metric_key": "loss", "buckets": 3}).json()
    assert body["run_id"] == run_id and body["metric_key"] == "loss"
    buckets = body["buckets"]
    assert [(b["first_step"], b["last_step"], b["count"]) for b in buckets] == [
        (0, 999, 1000),
        (1000, 1999, 1001),
        (2000, 2999, 1000),
    ]
    # The spike at step 1500 survives, and every bucket keeps its min and last value.
    assert buckets[1]["max"] == 100.0 and buckets[0]["min"] == 0.0
    assert buckets[2]["last"] == float(2999 % 7)
    assert all(isinstance(b["count"], int) for b in buckets)
    # The default is 500 buckets; the ajax prefix serves the same endpoint.
    default = api.get(
        "/ajax-api/2.0/runlab/metrics/downsampled", params={"run_id": run_id, "metric_key": "loss"}
    ).json()
    assert len(default["buckets"]) == 500 and sum(b["count"] for b in default["buckets"]) == 3001
    ranged = api.get(
        URL,
        params={
            "run_id": run_id,
            "metric_key": "loss",
            "buckets": 10,
            "start_step": 100,
            "end_step": 109,
        },
    ).json()["buckets"]
    assert [b["first_step"] for b in ranged] == list(range(100, 110))
    nan = api.get(URL, params={"run_id": run_id, "metric_key": "nan", "buckets": 1}).json()
    assert nan["buckets"] == [
        {
            "first_step": 0,
            "last_step": 0,
            "min": "NaN",
            "max": "NaN",
            "last": "NaN",
            "count": 1,
            "last_timestamp": 1,
        }
    ]
    # Each bucket's last point carries its wall time, for charts with a time axis.
    assert buckets[2]["last_timestamp"] == 2999
    empty = api.get(URL, params={"run_id": run_id, "metric_key": "none"}).json()
    assert empty["buckets"] == []


@pytest.mark.parametrize(
    ("params", "status", "mentions"),
    [
        ({"metric_key": "loss"}, 400, "run_id"),
        ({"run_id": "RID"}, 400, "metric_key"),
        ({"run_id": "RID", "metric_key": "loss", "buckets": 0}, 400, "buckets"),
        ({"run_id": "RID", "metric_key": "loss", "buckets": 10001}, 400, "buckets"),
        ({"run_id": "RID", "metric_key": "loss", "buckets": "many"}, 400, "buckets"),
        (
            {"run_id": "RID", "metric_key": "loss", "start_step": 9, "end_step": 1},
            400,
            "start_step",
        ),
        ({"run_id": "f" * 32, "metric_key": "loss"}, 404, "f" * 32),
    ],
)
def test_downsampled_bad_input(
    api: Api, run_id: str, params: dict[str, Any], status: int, mentions: str
) -> None:
    params = {k: (run_id if v == "RID" else v) for k, v in params.items()}
    code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
    assert mentions in error_of(api.get(URL, params=params), status, code)
