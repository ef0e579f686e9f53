"""runlab's Client and fluent API against a real ``mlflow server`` 3.17.2 process.

The server runs from a virtualenv with ``mlflow==3.17.2`` (see support/servers.py; the tests skip,
saying why, only if it cannot be installed). One server serves the whole module; each test works
in experiments of its own.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

import runlab
from runlab.entities import Metric, Param, RunTag, ViewType
from runlab.errors import (
    AlreadyExists,
    ArtifactNotFound,
    ExperimentNotFound,
    InvalidParameter,
    ModelNotFound,
    RunNotFound,
)
from runlab.store.base import LoggedModelStore
from runlab.tracking import Client, batch_writer, fluent, fluent_experiments
from runlab.tracking.store_factory import clear_store_cache
from support.mlflow_models import log_mlflow_multiplier
from support.servers import ServerProcess, mlflow_server

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow_server_compat")]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running ``mlflow server`` 3.17.2 over a fresh SQLite file."""
    server: ServerProcess = mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _reset() -> None:
    for run in list(fluent._live.values()):
        fluent._end(run, "FINISHED")
    batch_writer.close_all()
    clear_store_cache()
    runlab.set_tracking_uri(None)
    fluent_experiments._active_experiment = None
    fluent_experiments._client = None


@pytest.fixture(autouse=True)
def clean_tracking_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No tracking settings from the environment; no runs or writers left between tests."""
    for name in list(os.environ):
        if name.startswith(("RUNLAB_", "MLFLOW_")):
            monkeypatch.delenv(name)
    _reset()
    yield
    _reset()


@pytest.fixture
def client(mlflow_url: str) -> Client:
    """A runlab Client of the MLflow server."""
    return Client(mlflow_url)


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_experiments(client: Client) -> None:
    name = _name()
    exp_id = client.create_experiment(name, tags={"team": "a"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tags["team"]) == (name, "active", "a")
    # MLflow hands out proxied artifact locations when it serves artifacts.
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    assert client.get_experiment_by_name(name) is not None
    assert client.get_experiment_by_name(_name("missing")) is None

    client.rename_experiment(exp_id, name + "-renamed")
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "team")
    exp = client.get_experiment(exp_id)
    assert exp.name == name + "-renamed"
    assert "team" not in exp.tags and exp.tags["stage"] == "dev"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert exp_id in {e.experiment_id for e in deleted}
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_experiment_search_filters_orders_and_pages(client: Client) -> None:
    prefix = _name("page")
    ids = [client.create_experiment(f"{prefix}-{i}") for i in range(5)]
    seen: list[str] = []
    token = None
    while True:
        page = client.search_experiments(
            max_results=2,
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name DESC"],
            page_token=token,
        )
        assert len(page) <= 2
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert seen == ids[::-1]


def test_runs_params_metrics_tags_and_nan(client: Client) -> None:
    exp_id = client.create_experiment(_name())
    run = client.create_run(exp_id, run_name="compat-run", tags={"k": "v"})
    run_id = run.info.run_id
    assert run.info.run_name == "compat-run"
    client.log_param(run_id, "lr", 0.01)
    client.set_tag(run_id, "phase", "train")
    client.log_metric(run_id, "loss", 0.5, step=0)
    client.log_metric(run_id, "loss", math.nan, step=1)
    client.log_metric(run_id, "loss", math.inf, step=2)
    client.log_batch(
        run_id,
        metrics=[Metric("acc", i / 10, 1_000 + i, i) for i in range(10)],
        params=[Param("layers", "3")],
        tags=[RunTag("batch", "yes")],
    )
    fetched = client.get_run(run_id)
    assert fetched.data.params == {"lr": "0.01", "layers": "3"}
    assert fetched.data.tags["k"] == "v" and fetched.data.tags["batch"] == "yes"
    assert fetched.data.metrics["acc"] == pytest.approx(0.9)

    loss = client.get_metric_history(run_id, "loss")
    assert [m.step for m in loss] == [0, 1, 2]
    assert loss[0].value == 0.5 and math.isnan(loss[1].value)
    # MLflow's SQL store keeps +inf as the largest double.
    assert loss[2].value in (math.inf, 1.7976931348623157e308)
    assert [m.value for m in client.get_metric_history(run_id, "acc")] == pytest.approx(
        [i / 10 for i in range(10)]
    )

    client.set_terminated(run_id, "FAILED")
    info = client.get_run(run_id).info
    assert info.status == "FAILED" and info.end_time is not None
    client.delete_tag(run_id, "phase")
    assert "phase" not in client.get_run(run_id).data.tags


def test_search_runs_filters_orders_and_pages(client: Client) -> None:
    exp_id = client.create_experiment(_name())
    ids = []
    for i in range(7):
        run_id = client.create_run(exp_id).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("acc", i / 10, 1, 0)],
            params=[Param("parity", "even" if i % 2 == 0 else "odd")],
            tags=[RunTag("group", "g")],
        )
        ids.append(run_id)
    found: list[str] = []
    token = None
    while True:
        page = client.search_runs(
            [exp_id],
            filter_string="params.parity = 'even' and metrics.acc >= 0.2 and tags.group = 'g'",
            order_by=["metrics.acc DESC"],
            max_results=2,
            page_token=token,
        )
        found.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    assert found == [ids[6], ids[4], ids[2]]


def test_delete_and_restore_runs(client: Client) -> None:
    exp_id = client.create_experiment(_name())
    run_id = client.create_run(exp_id).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == []
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_id]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_error_codes_map_to_runlab_errors(client: Client) -> None:
    name = _name()
    exp_id = client.create_experiment(name)
    with pytest.raises(AlreadyExists) as exists:
        client.create_experiment(name)
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(ExperimentNotFound) as missing_exp:
        client.get_experiment("987654321")
    assert missing_exp.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(RunNotFound):
        client.get_run(uuid.uuid4().hex)

    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # the same value again is fine
    with pytest.raises(InvalidParameter) as changed:
        client.log_param(run_id, "p", "2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(InvalidParameter):
        client.search_runs([exp_id], filter_string="metrics.acc >>> 1")


def test_fluent_api_through_the_background_writer(mlflow_url: str) -> None:
    runlab.set_tracking_uri(mlflow_url)
    name = _name("fluent")
    exp = runlab.set_experiment(name)
    with runlab.start_run(run_name="fluent") as run:
        run_id = run.info.run_id
        runlab.log_params({"lr": 0.1, "epochs": 3})
        runlab.set_tags({"owner": "ci"})
        for step in range(1_500):
            runlab.log_metric("loss", 1.0 / (step + 1), step=step)
        runlab.log_metric("loss", float("nan"), step=1_500)
        runlab.log_metrics({"a": 1.0, "b": 2.0}, step=7)
    client = Client(mlflow_url)
    fetched = client.get_run(run_id)
    assert fetched.info.experiment_id == exp.experiment_id
    assert fetched.info.status == "FINISHED"
    assert fetched.data.params == {"lr": "0.1", "epochs": "3"}
    assert fetched.data.tags["owner"] == "ci"
    history = client.get_metric_history(run_id, "loss")
    steps = np.array([m.step for m in history])
    assert np.array_equal(np.sort(steps), np.arange(1_501))
    assert math.isnan(next(m.value for m in history if m.step == 1_500))
    found = runlab.search_runs(
        experiment_names=[name], filter_string="params.lr = '0.1'", output_format="list"
    )
    assert [r.info.run_id for r in found] == [run_id]


def test_fluent_errors_from_the_mlflow_server_surface_at_end_run(mlflow_url: str) -> None:
    runlab.set_tracking_uri(mlflow_url)
    runlab.set_experiment(_name("fluent-errors"))
    run_id = runlab.start_run().info.run_id
    Client(mlflow_url).log_param(run_id, "p", "elsewhere")
    runlab.log_param("p", "mine")  # MLflow refuses the change with a 400
    runlab.log_metric("m", 1.0)
    with pytest.raises(InvalidParameter, match="'p'"):
        runlab.end_run()
    assert len(Client(mlflow_url).get_metric_history(run_id, "m")) == 1


def test_metric_history_pages(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1_000 + i, i) for i in range(30)])
    steps: list[int] = []
    token = None
    while True:
        page = client.store.get_metric_history(run_id, "m", max_results=8, page_token=token)
        assert len(page) <= 8
        steps.extend(int(s) for s in page.steps)
        token = page.token
        if not token:
            break
    assert steps == list(range(30))
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(30))


# -- logged models (MLflow 3) -----------------------------------------------------------------------
def test_logged_models_through_the_client(client: Client) -> None:
    exp_id = client.create_experiment(_name("logged"))
    run_id = client.create_run(exp_id).info.run_id
    store = client.store
    assert isinstance(store, LoggedModelStore)
    model = store.create_logged_model(exp_id, name="clf", source_run_id=run_id, tags={"t": "1"})
    assert client.get_logged_model(model.model_id) == model
    assert (
        model.artifact_location == f"mlflow-artifacts:/{exp_id}/models/{model.model_id}/artifacts"
    )
    found = client.search_logged_models([exp_id], filter_string=f"source_run_id = '{run_id}'")
    assert [m.model_id for m in found] == [model.model_id]
    with pytest.raises(ModelNotFound) as missing:
        client.get_logged_model("m-" + "0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_model_mlflow_logs_loads_in_runlab_by_every_uri(
    mlflow_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pandas as pd

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    registered = _name("tripler")
    mlflow.set_tracking_uri(mlflow_url)
    try:
        with mlflow.start_run() as run:
            info = log_mlflow_multiplier(3, registered)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it
    runlab.set_tracking_uri(mlflow_url)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    for uri in (
        f"models:/{info.model_id}",
        f"runs:/{run.info.run_id}/model",
        f"models:/{registered}/1",
    ):
        # MLflow's custom model is a cloudpickle: loading it is an explicit decision.
        loaded = runlab.pyfunc.load_model(uri, trusted=True)
        assert loaded.predict(frame)["x"].tolist() == [3.0, 6.0], uri
    with pytest.raises(ArtifactNotFound, match="no model named 'other'"):
        runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/other")
