"""Runs, params and tags in the SQL store, on all three backends."""

from __future__ import annotations

import pytest

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunTag,
)
from runlab.errors import InvalidParameter, InvalidState, NotFound, RunNotFound
from runlab.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def run_id(store: SqlTrackingStore) -> str:
    return store.create_run("0", "alice", 1000, [RunTag("team", "nlp")], "my-run").info.run_id


def test_create_run(store: SqlTrackingStore, run_id: str) -> None:
    run = store.get_run(run_id)
    assert len(run_id) == 32 and int(run_id, 16) >= 0
    assert run.info.run_uuid == run_id
    assert run.info.run_name == "my-run"
    assert run.info.status == "RUNNING"
    assert run.info.start_time == 1000 and run.info.end_time is None
    assert run.info.user_id == "alice"
    assert run.info.experiment_id == "0"
    assert run.info.artifact_uri.endswith(f"/artifacts/0/{run_id}/artifacts")
    assert run.info.lifecycle_stage == LifecycleStage.ACTIVE
    assert run.data.tags == {"team": "nlp", "mlflow.runName": "my-run"}
    assert run.data.params == {} and run.data.metrics == {}


def test_run_name_generated_or_taken_from_tag(store: SqlTrackingStore) -> None:
    generated = store.create_run("0", "u", 1, [], None)
    assert (
        generated.info.run_name and generated.data.tags["mlflow.runName"] == generated.info.run_name
    )
    from_tag = store.create_run("0", "u", 1, [RunTag("mlflow.runName", "tagged")], None)
    assert from_tag.info.run_name == "tagged"
    with pytest.raises(InvalidParameter, match="must match"):
        store.create_run("0", "u", 1, [RunTag("mlflow.runName", "x")], "y")


def test_repeated_run_creation_still_checks_the_experiment(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("sweep")
    first = store.create_run(exp_id, "u", 1, [], "a")
    second = store.create_run(exp_id, "u", 2, [], "b")  # the experiment is known by now
    location = store.get_experiment(exp_id).artifact_location
    for run in (first, second):
        stored = store.get_run(run.info.run_id)
        assert stored.info == run.info
        assert stored.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"
        assert stored.data.tags["mlflow.runName"] == run.info.run_name
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidState, match="deleted"):
        store.create_run(exp_id, "u", 3, [], "c")
    store.restore_experiment(exp_id)
    assert store.create_run(exp_id, "u", 4, [], "d").info.experiment_id == exp_id
    with pytest.raises(NotFound):
        store.create_run("987654", "u", 5, [], "e")
    assert len(store.search_runs([exp_id])) == 3


def test_missing_run(store: SqlTrackingStore) -> None:
    with pytest.raises(RunNotFound):
        store.get_run("0" * 32)
    with pytest.raises(RunNotFound):
        store.log_batch("f" * 32, params=[Param("a", "1")])
    # Metrics alone: on PostgreSQL and MySQL the run is checked by the statement that locks it.
    with pytest.raises(RunNotFound):
        store.log_batch("f" * 32, metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(InvalidParameter, match="non-empty string"):
        store.log_batch("", metrics=[Metric("m", 1.0, 1, 0)])


def test_update_run_info(store: SqlTrackingStore, run_id: str) -> None:
    info = store.update_run_info(run_id, "FINISHED", 2000, "renamed")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 2000, "renamed")
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "renamed"
    assert info == store.get_run(run_id).info
    info = store.update_run_info(run_id, run_status=4)
    assert info.status == "FAILED" and info.run_name == "renamed"
    assert info == store.get_run(run_id).info
    # Nothing to change: the info as stored.
    assert store.update_run_info(run_id) == store.get_run(run_id).info
    with pytest.raises(InvalidParameter):
        store.update_run_info(run_id, "DONE")
    with pytest.raises(InvalidParameter):
        store.update_run_info(run_id, end_time=-1)


def test_set_tag_run_name_renames_run(store: SqlTrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("mlflow.runName", "via-tag"))
    assert store.get_run(run_id).info.run_name == "via-tag"


def test_delete_restore_and_writes_to_deleted_run(store: SqlTrackingStore, run_id: str) -> None:
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidState, match="'active' state"):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(InvalidState):
        store.update_run_info(run_id, "FINISHED")
    store.restore_run(run_id)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    assert store.get_run(run_id).data.metrics == {"m": 1.0}


def test_params_are_immutable(store: SqlTrackingStore, run_id: str) -> None:
    store.log_param(run_id, Param("lr", "0.1"))
    store.log_param(run_id, Param("lr", "0.1"))  # same value: fine
    with pytest.raises(InvalidParameter, match="Changing param values is not allowed"):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0, 1, 0)],
            params=[Param("lr", "0.2"), Param("epochs", "3")],
            tags=[RunTag("t", "v")],
        )
    # The failed batch wrote nothing at all.
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags
    assert len(store.get_metric_history(run_id, "loss")) == 0


def test_duplicate_param_keys_in_one_batch(store: SqlTrackingStore, run_id: str) -> None:
    with pytest.raises(InvalidParameter):
        store.log_batch(run_id, params=[Param("a", "1"), Param("a", "2")])
    assert store.get_run(run_id).data.params == {}


@pytest.mark.parametrize(
    "batch",
    [
        {"metrics": [Metric("../x", 1.0, 1, 0)]},
        {"metrics": [Metric("/abs", 1.0, 1, 0)]},
        {"metrics": [Metric("bad\\key", 1.0, 1, 0)]},
        {"metrics": [Metric("ok", "text", 1, 0)]},  # type: ignore[arg-type]
        {"metrics": [Metric("ok", 1.0, -5, 0)]},
        {"params": [Param("k" * 251, "v")]},
        {"params": [Param("long", "v" * 6001)]},
        {"tags": [RunTag("long", "v" * 8001)]},
        {"metrics": [Metric(f"m{i}", 1.0, 1, 0) for i in range(1001)]},
        {"params": [Param(f"p{i}", "v") for i in range(101)]},
        {"tags": [RunTag(f"t{i}", "v") for i in range(101)]},
    ],
)
def test_bad_batches_write_nothing(store: SqlTrackingStore, run_id: str, batch: dict) -> None:
    with pytest.raises(InvalidParameter):
        store.log_batch(run_id, **batch)
    run = store.get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {}
    assert set(run.data.tags) == {"team", "mlflow.runName"}


def test_tags_overwrite_and_delete(store: SqlTrackingStore, run_id: str) -> None:
    store.set_tag(run_id, RunTag("stage", "a"))
    store.log_batch(run_id, tags=[RunTag("stage", "b"), RunTag("stage", "c")])
    assert store.get_run(run_id).data.tags["stage"] == "c"
    store.delete_tag(run_id, "stage")
    assert "stage" not in store.get_run(run_id).data.tags
    with pytest.raises(NotFound):
        store.delete_tag(run_id, "stage")


def test_long_values_at_the_limits(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        params=[Param("p", "é" * 6000)],
        tags=[RunTag("t", "ü" * 8000)],
    )
    run = store.get_run(run_id)
    assert run.data.params["p"] == "é" * 6000
    assert run.data.tags["t"] == "ü" * 8000


def test_log_inputs(store: SqlTrackingStore, run_id: str) -> None:
    ds = Dataset(name="train", digest="abc123", source_type="local", source="/data/train.csv")
    store.log_inputs(run_id, [DatasetInput(ds, [InputTag("mlflow.data.context", "training")])])
    store.log_inputs(run_id, [DatasetInput(ds, [InputTag("mlflow.data.context", "training")])])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset == ds
    assert inputs[0].tags == [InputTag("mlflow.data.context", "training")]
    hits = store.search_runs(["0"], "datasets.context = 'training' AND datasets.name = 'train'")
    assert [r.info.run_id for r in hits] == [run_id]
    with pytest.raises(InvalidParameter):
        store.log_inputs(run_id, [DatasetInput(Dataset("x", "d" * 37, "local", "s"))])
