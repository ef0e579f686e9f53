"""A few fluent-API round trips on every database backend (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.tracking import Client


@pytest.fixture
def backend_client(db_url: str) -> Client:
    runlab.set_tracking_uri(db_url)
    return Client(db_url)


def test_fluent_round_trip(backend_client: Client) -> None:
    runlab.set_experiment("backends")
    with runlab.start_run(run_name="r", description="d") as run:
        runlab.log_params({"lr": 0.1, "batch": 32})
        for step in range(2500):
            runlab.log_metric("loss", 1.0 / (step + 1), step=step)
        runlab.set_tags({"a": "1", "b": "2"})
        with runlab.start_run(nested=True) as child:
            runlab.log_metric("child", 1.0)
    client = backend_client
    data = client.get_run(run.info.run_id).data
    assert data.params == {"lr": "0.1", "batch": "32"}
    assert data.metrics["loss"] == pytest.approx(1 / 2500)
    assert data.tags["mlflow.note.content"] == "d"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 2500
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_store_errors_surface(backend_client: Client) -> None:
    with runlab.start_run() as run:
        backend_client.log_param(run.info.run_id, "p", "a")
        runlab.log_param("p", "b")
        runlab.log_metric("m", 1.0)
        with pytest.raises(InvalidParameter, match="'p'"):
            runlab.flush()
    assert backend_client.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_search_runs_dataframe(backend_client: Client) -> None:
    pytest.importorskip("pandas")
    runlab.set_experiment("df")
    for i in range(3):
        with runlab.start_run():
            runlab.log_metric("acc", float(i))
    frame = runlab.search_runs(order_by=["metrics.acc DESC"])
    assert list(frame["metrics.acc"]) == [2.0, 1.0, 0.0]
