"""Through the REST API, keys that differ by trailing spaces stay apart on every backend.

On MySQL/MariaDB this log-batch used to answer 500 (a duplicate primary key), and the second
set-tag overwrote the first tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api


@pytest.fixture
def api_on_each_backend(
    opened_by_tracking_store: None, db_url: str, tmp_path: Path
) -> Iterator[Api]:
    store = SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri())
    try:
        yield from make_api(store)
    finally:
        store.close()


def test_log_batch_and_set_tag(api_on_each_backend: Api) -> None:
    api = api_on_each_backend
    created = api.mlflow("POST", "runs/create", {"experiment_id": "0"})
    assert created.status_code == 200, created.text
    run_id = created.json()["run"]["info"]["run_id"]

    batch = {
        "run_id": run_id,
        "params": [{"key": "lr", "value": "0.1"}, {"key": "lr ", "value": "0.2"}],
        "metrics": [
            {"key": "loss", "value": 1.0, "timestamp": 1, "step": 0},
            {"key": "loss ", "value": 2.0, "timestamp": 1, "step": 0},
        ],
    }
    logged = api.mlflow("POST", "runs/log-batch", batch)
    assert logged.status_code == 200, logged.text
    for key, value in (("owner", "a"), ("owner ", "b")):
        tagged = api.mlflow("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": value})
        assert tagged.status_code == 200, tagged.text

    data = api.mlflow("GET", "runs/get", {"run_id": run_id}).json()["run"]["data"]
    assert {(p["key"], p["value"]) for p in data["params"]} == {("lr", "0.1"), ("lr ", "0.2")}
    assert {(m["key"], m["value"]) for m in data["metrics"]} == {("loss", 1.0), ("loss ", 2.0)}
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert (tags["owner"], tags["owner "]) == ("a", "b")
