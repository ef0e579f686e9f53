"""Client (MlflowClient): experiments, runs, logging, search, history and artifacts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from runlab.entities import LifecycleStage, Metric, Param, RunTag, ViewType
from runlab.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    RunNotFound,
)
from runlab.tracking import Client, MlflowClient


def test_mlflow_client_is_client() -> None:
    import runlab

    assert MlflowClient is Client
    assert runlab.MlflowClient is Client
    assert runlab.Client is Client


def test_experiment_lifecycle(client: Client) -> None:
    exp_id = client.create_experiment("exp", tags={"team": "vision", "n": 3})
    exp = client.get_experiment(exp_id)
    assert exp.name == "exp"
    assert exp.tags == {"team": "vision", "n": "3"}
    assert client.get_experiment_by_name("exp") == exp
    assert client.get_experiment_by_name("missing") is None
    with pytest.raises(AlreadyExists):
        client.create_experiment("exp")

    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "team")
    assert client.get_experiment(exp_id).tags == {"n": "3", "stage": "dev"}

    client.rename_experiment(exp_id, "renamed")
    assert client.get_experiment(exp_id).name == "renamed"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
    active_names = [e.name for e in client.search_experiments()]
    assert "renamed" not in active_names
    assert "renamed" in [e.name for e in client.search_experiments(view_type=ViewType.ALL)]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE

    with pytest.raises(ExperimentNotFound):
        client.get_experiment("987654")
    with pytest.raises(InvalidParameter):
        client.create_experiment("  ")


def test_search_experiments_pages(client: Client) -> None:
    for i in range(5):
        client.create_experiment(f"e{i}")
    first = client.search_experiments(max_results=3, filter_string="name LIKE 'e%'")
    assert len(first) == 3
    assert first.token
    second = client.search_experiments(
        max_results=3, filter_string="name LIKE 'e%'", page_token=first.token
    )
    assert len(second) == 2
    assert second.token is None
    assert {e.name for e in [*first, *second]} == {f"e{i}" for i in range(5)}


def test_run_lifecycle(client: Client) -> None:
    exp_id = client.create_experiment("runs")
    run = client.create_run(exp_id, run_name="first", tags={"k": "v"}, start_time=1234)
    info = run.info
    assert info.status == "RUNNING"
    assert info.run_name == "first"
    assert info.start_time == 1234
    assert run.data.tags["mlflow.runName"] == "first"
    assert run.data.tags["k"] == "v"

    client.update_run(info.run_id, name="second")
    assert client.get_run(info.run_id).info.run_name == "second"
    assert client.get_run(info.run_id).data.tags["mlflow.runName"] == "second"

    client.set_terminated(info.run_id, "FAILED", end_time=5678)
    ended = client.get_run(info.run_id).info
    assert (ended.status, ended.end_time) == ("FAILED", 5678)

    client.update_run(info.run_id, status="KILLED")
    killed = client.get_run(info.run_id).info
    assert killed.status == "KILLED"
    assert killed.end_time is not None

    client.delete_run(info.run_id)
    assert client.get_run(info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidState):
        client.log_metric(info.run_id, "m", 1.0)
    client.restore_run(info.run_id)
    client.log_metric(info.run_id, "m", 1.0)

    with pytest.raises(RunNotFound):
        client.get_run("0" * 32)


def test_run_name_from_tag_and_conflict(client: Client) -> None:
    run = client.create_run("0", tags={"mlflow.runName": "from-tag"})
    assert run.info.run_name == "from-tag"
    with pytest.raises(InvalidParameter, match="once"):
        client.create_run("0", run_name="a", tags={"mlflow.runName": "b"})
    generated = client.create_run("0")
    assert generated.info.run_name
    assert generated.data.tags["mlflow.runName"] == generated.info.run_name


def test_logging_calls(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    assert client.log_param(run_id, "lr", 0.1) == 0.1
    client.log_param(run_id, "lr", 0.1)  # same value again is fine
    with pytest.raises(InvalidParameter):
        client.log_param(run_id, "lr", 0.2)
    client.log_metric(run_id, "loss", 0.5, timestamp=10, step=1)
    client.log_metric(run_id, "loss", math.nan, timestamp=11, step=2)
    client.set_tag(run_id, "t", 1)
    client.set_tag(run_id, "gone", "x")
    client.delete_tag(run_id, "gone")
    data = client.get_run(run_id).data
    assert data.params == {"lr": "0.1"}
    assert math.isnan(data.metrics["loss"])
    assert data.tags["t"] == "1"
    assert "gone" not in data.tags
    history = client.get_metric_history(run_id, "loss")
    assert [(m.timestamp, m.step) for m in history] == [(10, 1), (11, 2)]
    assert history[0].value == 0.5


@pytest.mark.parametrize(
    "call",
    [
        lambda c, r: c.log_metric(r, "bad key!", 1.0),
        lambda c, r: c.log_metric(r, "m", "1.0"),
        lambda c, r: c.log_metric(r, "m", 1.0, timestamp=-5),
        lambda c, r: c.log_param(r, "p", "x" * 6001),
        lambda c, r: c.set_tag(r, "t", "x" * 8001),
        lambda c, r: c.set_tag(r, "/abs", "x"),
    ],
)
def test_client_validates_before_writing(client: Client, call: object) -> None:
    run_id = client.create_run("0").info.run_id
    with pytest.raises(InvalidParameter):
        call(client, run_id)  # type: ignore[operator]


def test_log_batch_splits_into_store_sized_chunks(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    metrics = [Metric(f"m{i % 7}", float(i), 1000 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(250)]
    tags = [RunTag(f"t{i}", str(i)) for i in range(230)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    run = client.get_run(run_id)
    assert len(run.data.params) == 250
    assert sum(1 for k in run.data.tags if k.startswith("t")) == 230
    total = sum(len(client.get_metric_history(run_id, f"m{k}")) for k in range(7))
    assert total == 2500


def test_log_batch_rejects_duplicate_params_across_chunks(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    params = [Param(f"p{i}", "1") for i in range(150)] + [Param("p3", "2")]
    with pytest.raises(InvalidParameter, match="twice"):
        client.log_batch(run_id, params=params)
    assert client.get_run(run_id).data.params == {}


def test_search_runs_filters_orders_and_pages(client: Client) -> None:
    exp_id = client.create_experiment("search")
    for i in range(5):
        run_id = client.create_run(exp_id, run_name=f"r{i}").info.run_id
        client.log_metric(run_id, "acc", i / 10)
        client.log_param(run_id, "i", i)
    page = client.search_runs([exp_id], "metrics.acc >= 0.2", order_by=["metrics.acc DESC"])
    assert [r.data.params["i"] for r in page] == ["4", "3", "2"]
    first = client.search_runs(exp_id, max_results=2, order_by=["params.i ASC"])
    assert [r.data.params["i"] for r in first] == ["0", "1"]
    assert first.token
    rest = client.search_runs(
        [exp_id], max_results=10, order_by=["params.i ASC"], page_token=first.token
    )
    assert [r.data.params["i"] for r in rest] == ["2", "3", "4"]
    assert rest.token is None


def test_asynchronous_client_calls_are_flushed_before_reads(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    for step in range(50):
        client.log_metric(run_id, "m", float(step), step=step, synchronous=False)
    client.set_tag(run_id, "t", "v", synchronous=False)
    client.log_param(run_id, "p", "1", synchronous=False)
    run = client.get_run(run_id)
    assert run.data.metrics["m"] == 49.0
    assert run.data.tags["t"] == "v"
    assert run.data.params == {"p": "1"}
    assert len(client.get_metric_history(run_id, "m")) == 50


def test_artifacts(client: Client, tmp_path: Path) -> None:
    pytest.importorskip("runlab.artifacts.repository_factory")
    run_id = client.create_run("0").info.run_id
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    client.log_artifact(run_id, str(src / "a.txt"))
    client.log_artifacts(run_id, str(src), artifact_path="tree")
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.log_dict(run_id, {"a": 1}, "config.json")

    listing = {f.path: f.is_dir for f in client.list_artifacts(run_id)}
    assert listing == {"a.txt": False, "tree": True, "notes": True, "config.json": False}
    assert {f.path for f in client.list_artifacts(run_id, "tree")} == {"tree/a.txt", "tree/sub"}

    out = Path(client.download_artifacts(run_id, "tree", str(tmp_path / "dl")))
    assert (out / "sub" / "b.txt").read_text() == "B"
    notes = Path(client.download_artifacts(run_id, "notes/hello.txt", str(tmp_path / "dl2")))
    assert notes.read_text() == "hello"


def test_figures_and_images(client: Client, tmp_path: Path) -> None:
    pytest.importorskip("runlab.artifacts.rich_content")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    run_id = client.create_run("0").info.run_id
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    client.log_figure(run_id, fig, "plots/line.png")
    plt.close(fig)
    client.log_image(run_id, np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
    paths = {f.path for f in client.list_artifacts(run_id, "plots")}
    paths |= {f.path for f in client.list_artifacts(run_id, "images")}
    assert paths == {"plots/line.png", "images/black.png"}
    with pytest.raises(InvalidParameter, match="artifact_file"):
        client.log_image(run_id, np.zeros((2, 2)))


def test_parent_run(client: Client) -> None:
    parent = client.create_run("0").info.run_id
    child = client.create_run("0", tags={"mlflow.parentRunId": parent}).info.run_id
    found = client.get_parent_run(child)
    assert found is not None
    assert found.info.run_id == parent
    assert client.get_parent_run(parent) is None
