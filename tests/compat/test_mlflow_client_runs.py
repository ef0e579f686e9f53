"""MLflow's client against runlab server: runs, logging limits, search, history, lifecycle."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException


def _experiment() -> str:
    """A fresh experiment of this test's own; returns its id."""
    return MlflowClient().create_experiment(f"runs-{uuid.uuid4().hex[:12]}")


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- the fluent flow ---------------------------------------------------------------------------------


def test_fluent_run_params_metrics_tags_and_status() -> None:
    exp_id = _experiment()
    with mlflow.start_run(experiment_id=exp_id, run_name="fluent-run") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"nan": math.nan, "pos_inf": math.inf, "neg_inf": -math.inf})
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"a": "1", "b": "2"})
        run_id = run.info.run_id
        assert run.info.status == "RUNNING"
        assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"

    fetched = MlflowClient().get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.info.run_name == "fluent-run"
    assert fetched.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
    metrics = fetched.data.metrics
    assert metrics["loss"] == pytest.approx(0.2)
    assert math.isnan(metrics["nan"])
    # Infinities come back infinite or as the largest double (MLflow's SQL store clamps them).
    assert metrics["pos_inf"] >= 1.7976931348623157e308
    assert metrics["neg_inf"] <= -1.7976931348623157e308
    assert {k: fetched.data.tags[k] for k in ("team", "a", "b")} == {
        "team": "vision",
        "a": "1",
        "b": "2",
    }
    assert fetched.data.tags["mlflow.runName"] == "fluent-run"


def test_nested_runs_and_failed_status() -> None:
    exp_id = _experiment()
    # A nested run goes to the active experiment (not its parent's), as in MLflow.
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            mlflow.log_metric("child_metric", 1.0)
        parent_id, child_id = parent.info.run_id, child.info.run_id
    client = MlflowClient()
    assert client.get_run(child_id).data.tags["mlflow.parentRunId"] == parent_id
    children = client.search_runs(
        [exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert [r.info.run_id for r in children] == [child_id]

    run = mlflow.start_run(experiment_id=exp_id)
    mlflow.end_run(status=RunStatus.to_string(RunStatus.FAILED))
    assert client.get_run(run.info.run_id).info.status == "FAILED"

    with pytest.raises(ZeroDivisionError), mlflow.start_run(experiment_id=exp_id) as crashed:
        _ = 1 / 0
    assert client.get_run(crashed.info.run_id).info.status == "FAILED"


def test_unknown_run_and_experiment_do_not_exist() -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as info:
        client.get_run(uuid.uuid4().hex)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        client.log_metric(uuid.uuid4().hex, "m", 1.0)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        client.create_run("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# -- log_batch limits --------------------------------------------------------------------------------


def test_log_batch_at_its_limits() -> None:
    client = MlflowClient()
    run = client.create_run(_experiment())
    run_id = run.info.run_id
    ts = _now_ms()
    metrics = [Metric(f"m{i}", float(i), ts, 0) for i in range(1000)]
    client.log_batch(run_id, metrics=metrics)
    params = [Param(f"p{i}", str(i)) for i in range(100)]
    client.log_batch(run_id, params=params)
    tags = [RunTag(f"t{i}", str(i)) for i in range(100)]
    client.log_batch(run_id, tags=tags)

    data = client.get_run(run_id).data
    assert len(data.metrics) == 1000 and data.metrics["m999"] == 999.0
    assert len(data.params) == 100 and data.params["p42"] == "42"
    assert {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")} == {
        f"t{i}": str(i) for i in range(100)
    }


def _get_history(run_id: str, key: str, **params: object) -> dict[str, Any]:
    """One raw metrics/get-history page, requested as MLflow's client requests it."""
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request

    response = http_request(
        MlflowHostCreds(mlflow.get_tracking_uri()),
        "/api/2.0/mlflow/metrics/get-history",
        "GET",
        params={"run_id": run_id, "metric_key": key, **params},
        max_retries=0,
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def _post_log_batch(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    """Send one raw log-batch request the way MLflow's client would (its own HTTP helper)."""
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request

    response = http_request(
        MlflowHostCreds(url), "/api/2.0/mlflow/runs/log-batch", "POST", json=body, max_retries=0
    )
    payload: dict[str, object] = response.json()
    return response.status_code, payload


def test_log_batch_over_its_limits_writes_nothing() -> None:
    url = mlflow.get_tracking_uri()
    client = MlflowClient()
    run_id = client.create_run(_experiment()).info.run_id
    ts = _now_ms()
    # MLflow's client splits big batches itself, so over-limit requests are sent raw.
    over: dict[str, list[dict[str, Any]]] = {
        "metrics": [
            {"key": f"m{i}", "value": 1.0, "timestamp": ts, "step": 0} for i in range(1001)
        ],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(101)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(101)],
    }
    for field, items in over.items():
        status, payload = _post_log_batch(url, {"run_id": run_id, field: items})
        assert status == 400, (field, payload)
        assert payload["error_code"] == "INVALID_PARAMETER_VALUE"
    # 1000 metrics plus one param exceeds the 1000-entity total.
    status, payload = _post_log_batch(
        url,
        {
            "run_id": run_id,
            "metrics": over["metrics"][:1000],
            "params": [{"key": "p", "value": "v"}],
        },
    )
    assert (status, payload["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}
    assert not any(k.startswith("t") for k in data.tags)

    # Through MlflowClient: a batch with one invalid entity fails as a whole.
    with pytest.raises(MlflowException) as info:
        client.log_batch(
            run_id,
            metrics=[Metric("good", 1.0, ts, 0)],
            params=[Param("bad key?!", "v")],
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.metrics == {}


def test_log_batch_client_splits_large_batches() -> None:
    client = MlflowClient()
    run_id = client.create_run(_experiment()).info.run_id
    ts = _now_ms()
    client.log_batch(
        run_id,
        metrics=[Metric(f"m{i}", 1.0, ts, 0) for i in range(2500)],
        params=[Param(f"p{i}", "v") for i in range(250)],
        tags=[RunTag(f"t{i}", "v") for i in range(250)],
    )
    data = client.get_run(run_id).data
    assert (len(data.metrics), len(data.params)) == (2500, 250)
    assert sum(1 for k in data.tags if k.startswith("t")) == 250


def test_param_immutability() -> None:
    client = MlflowClient()
    run_id = client.create_run(_experiment()).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        client.log_batch(run_id, params=[Param("lr", "0.3")])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


# -- tags and the run lifecycle ----------------------------------------------------------------------


def test_set_and_delete_tag() -> None:
    client = MlflowClient()
    run_id = client.create_run(_experiment()).info.run_id
    client.set_tag(run_id, "keep", "1")
    client.set_tag(run_id, "drop", "2")
    client.delete_tag(run_id, "drop")
    tags = client.get_run(run_id).data.tags
    assert tags["keep"] == "1" and "drop" not in tags
    with pytest.raises(MlflowException) as info:
        client.delete_tag(run_id, "never-set")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_update_run_name_and_terminate() -> None:
    client = MlflowClient()
    run_id = client.create_run(_experiment(), run_name="before").info.run_id
    client.update_run(run_id, name="after")
    client.set_terminated(run_id, status="KILLED")
    info = client.get_run(run_id).info
    assert (info.run_name, info.status) == ("after", "KILLED")
    assert info.end_time is not None


def test_deleted_run_rules() -> None:
    client = MlflowClient()
    exp_id = _experiment()
    kept = client.create_run(exp_id).info.run_id
    gone = client.create_run(exp_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    writes = [
        lambda: client.log_metric(gone, "m", 1.0),
        lambda: client.log_param(gone, "p", "v"),
        lambda: client.set_tag(gone, "t", "v"),
        lambda: client.log_batch(gone, metrics=[Metric("m", 1.0, _now_ms(), 0)]),
    ]
    for write in writes:
        with pytest.raises(MlflowException) as info:
            write()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    def ids(view: int) -> set[str]:
        return {r.info.run_id for r in client.search_runs([exp_id], run_view_type=view)}

    assert ids(ViewType.ACTIVE_ONLY) == {kept}
    assert ids(ViewType.DELETED_ONLY) == {gone}
    assert ids(ViewType.ALL) == {kept, gone}
    frame = mlflow.search_runs([exp_id], run_view_type=ViewType.ALL)
    assert isinstance(frame, pd.DataFrame) and set(frame["run_id"]) == {kept, gone}

    client.restore_run(gone)
    client.log_metric(gone, "m", 2.0)
    assert client.get_run(gone).data.metrics == {"m": 2.0}
    assert ids(ViewType.ACTIVE_ONLY) == {kept, gone}


# -- search ------------------------------------------------------------------------------------------


def _search_fixture() -> tuple[str, list[str]]:
    """An experiment with five runs: metric acc = i/10, param model, tag parity; ids by i."""
    client = MlflowClient()
    exp_id = _experiment()
    ids = []
    for i in range(5):
        run_id = client.create_run(exp_id, run_name=f"run-{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("acc", i / 10, _now_ms(), 0)],
            params=[Param("model", "cnn" if i < 3 else "mlp")],
            tags=[RunTag("parity", "even" if i % 2 == 0 else "odd")],
        )
        client.set_terminated(run_id)
        ids.append(run_id)
    return exp_id, ids


def test_search_runs_filter_order_and_paging() -> None:
    client = MlflowClient()
    exp_id, ids = _search_fixture()

    def found(flt: str, order: list[str] | None = None) -> list[str]:
        return [r.info.run_id for r in client.search_runs([exp_id], flt, order_by=order)]

    assert found("metrics.acc > 0.15", ["metrics.acc ASC"]) == ids[2:]
    assert found("params.model = 'cnn' AND tags.parity = 'even'", ["metrics.acc DESC"]) == [
        ids[2],
        ids[0],
    ]
    assert found("attributes.run_name = 'run-3'") == [ids[3]]
    assert found("params.model LIKE 'm%'", ["attributes.run_name ASC"]) == ids[3:]
    assert set(found("attributes.status = 'FINISHED'")) == set(ids)

    with pytest.raises(MlflowException) as info:
        client.search_runs([exp_id], "metrics.acc > 'high'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    # Paging with the server's tokens, two at a time, ordered by the metric.
    seen: list[str] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [exp_id], order_by=["metrics.acc DESC"], max_results=2, page_token=token
        )
        seen.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    assert seen == ids[::-1]


def test_fluent_search_runs_dataframe() -> None:
    exp_id, ids = _search_fixture()
    frame = mlflow.search_runs(
        experiment_ids=[exp_id], filter_string="metrics.acc >= 0.1", order_by=["metrics.acc ASC"]
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == ids[1:]
    assert list(frame["metrics.acc"]) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert list(frame["params.model"]) == ["cnn", "cnn", "mlp", "mlp"]
    assert list(frame["tags.parity"]) == ["odd", "even", "odd", "even"]
    assert set(frame["status"]) == {"FINISHED"}
    as_list = mlflow.search_runs([exp_id], max_results=3, output_format="list")
    assert isinstance(as_list, list) and len(as_list) == 3


# -- metric history ----------------------------------------------------------------------------------


def test_metric_history_pages_past_the_clients_page_size() -> None:
    client = MlflowClient()
    run_id = client.create_run(_experiment()).info.run_id
    total = 25_000 + 1_234  # MLflow's client asks for pages of 25000 points
    ts = _now_ms()
    points = [Metric("loss", float(step) / 7, ts + step, step) for step in range(total)]
    points[10] = Metric("loss", math.nan, ts + 10, 10)
    client.log_batch(run_id, metrics=points)

    # The server pages the way the client expects: 25000 points and a token, then the rest.
    first = _get_history(run_id, "loss", max_results=25_000)
    assert len(first["metrics"]) == 25_000 and first.get("next_page_token")
    second = _get_history(
        run_id, "loss", max_results=25_000, page_token=str(first["next_page_token"])
    )
    assert len(second["metrics"]) == total - 25_000 and "next_page_token" not in second

    history = client.get_metric_history(run_id, "loss")
    assert len(history) == total
    assert [m.step for m in history] == list(range(total))
    assert math.isnan(history[10].value)
    assert history[-1].value == pytest.approx((total - 1) / 7)
    assert history[-1].timestamp == ts + total - 1
    assert client.get_metric_history(run_id, "never-logged") == []


# -- more of the fluent API --------------------------------------------------------------------------


def test_log_input_and_search_by_dataset() -> None:
    exp_id = _experiment()
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 0.25, 0.125]})
    dataset = from_pandas(frame, name="train-set")
    with mlflow.start_run(experiment_id=exp_id) as with_data:
        mlflow.log_input(dataset, context="training", tags={"split": "a"})
    with mlflow.start_run(experiment_id=exp_id):
        pass
    inputs = MlflowClient().get_run(with_data.info.run_id).inputs
    assert inputs is not None
    [logged] = inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("train-set", dataset.digest)
    assert {t.key: t.value for t in logged.tags} == {
        "mlflow.data.context": "training",
        "split": "a",
    }
    found = MlflowClient().search_runs(
        [exp_id], "datasets.name = 'train-set' AND datasets.context = 'training'"
    )
    assert [r.info.run_id for r in found] == [with_data.info.run_id]


def test_async_logging_and_resuming_a_run() -> None:
    exp_id = _experiment()
    with mlflow.start_run(experiment_id=exp_id) as run:
        for step in range(50):
            mlflow.log_metric("async_loss", 1.0 / (step + 1), step=step, synchronous=False)
        mlflow.log_param("p", "v", synchronous=False)
        mlflow.flush_async_logging()
    run_id = run.info.run_id
    history = MlflowClient().get_metric_history(run_id, "async_loss")
    assert [m.step for m in history] == list(range(50))

    with mlflow.start_run(run_id=run_id) as resumed:
        assert resumed.info.status == "RUNNING"
        mlflow.log_metric("after_resume", 1.0)
    data = MlflowClient().get_run(run_id)
    assert data.info.status == "FINISHED"
    assert data.data.params == {"p": "v"} and data.data.metrics["after_resume"] == 1.0
