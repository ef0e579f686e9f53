"""The fluent run API: run lifecycle, nesting, system tags, experiments and logging."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

import runlab
from runlab.errors import ExperimentNotFound, InvalidParameter, InvalidState, RunlabError
from runlab.tracking import Client


def test_with_block_finishes_the_run(client: Client) -> None:
    with runlab.start_run() as run:
        assert runlab.active_run() is run
        assert isinstance(run, runlab.entities.Run)
        assert run.info.status == "RUNNING"
        runlab.log_metric("m", 1.0)
    assert runlab.active_run() is None
    info = client.get_run(run.info.run_id).info
    assert info.status == "FINISHED"
    assert info.end_time is not None
    assert info.end_time >= info.start_time


def test_exception_fails_the_run_and_propagates(client: Client) -> None:
    with pytest.raises(ValueError, match="boom"), runlab.start_run() as run:
        raise ValueError("boom")
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    assert runlab.active_run() is None


def test_keyboard_interrupt_kills_the_run(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), runlab.start_run() as run:
        raise KeyboardInterrupt
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_with_status_and_without_run(client: Client) -> None:
    runlab.end_run()  # nothing active: no-op
    run = runlab.start_run()
    runlab.end_run(status="KILLED")
    assert client.get_run(run.info.run_id).info.status == "KILLED"
    assert runlab.active_run() is None
    with pytest.raises(InvalidParameter):
        runlab.start_run()
        runlab.end_run(status="DONE")


def test_second_run_needs_nested(client: Client) -> None:
    with runlab.start_run() as outer:
        with pytest.raises(InvalidState, match="nested=True"):
            runlab.start_run()
        assert runlab.active_run() is outer


def test_nested_runs_carry_parent_tag(client: Client) -> None:
    with runlab.start_run() as parent:
        with runlab.start_run(nested=True) as child:
            assert runlab.active_run() is child
            with runlab.start_run(nested=True) as grandchild:
                pass
        assert runlab.active_run() is parent
    tags = client.get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert (
        client.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == child.info.run_id
    )
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags
    assert runlab.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id  # type: ignore[union-attr]


def test_leaving_outer_block_ends_open_children(client: Client) -> None:
    with pytest.raises(RuntimeError), runlab.start_run() as parent:
        child = runlab.start_run(nested=True)
        raise RuntimeError("stop")
    assert client.get_run(child.info.run_id).info.status == "FAILED"
    assert client.get_run(parent.info.run_id).info.status == "FAILED"
    assert runlab.active_run() is None


def test_system_tags_name_and_description(client: Client) -> None:
    with runlab.start_run(run_name="named", description="what this run tries", tags={"k": 1}) as r:
        pass
    run = client.get_run(r.info.run_id)
    tags = run.data.tags
    assert run.info.run_name == "named"
    assert tags["mlflow.runName"] == "named"
    assert tags["mlflow.note.content"] == "what this run tries"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"] == sys.argv[0]
    assert tags["mlflow.user"]
    assert tags["k"] == "1"
    assert run.info.user_id == tags["mlflow.user"]


def test_user_tags_override_system_tags(client: Client) -> None:
    with runlab.start_run(tags={"mlflow.source.type": "NOTEBOOK"}) as run:
        pass
    assert client.get_run(run.info.run_id).data.tags["mlflow.source.type"] == "NOTEBOOK"


def test_description_twice_is_refused(client: Client) -> None:
    with pytest.raises(InvalidParameter, match="description"):
        runlab.start_run(description="a", tags={"mlflow.note.content": "b"})
    assert runlab.active_run() is None


def test_resume_run(client: Client) -> None:
    with runlab.start_run() as first:
        runlab.log_param("lr", "0.1")
        runlab.log_metric("m", 1.0, step=0)
    run_id = first.info.run_id
    with runlab.start_run(run_id=run_id, tags={"resumed": "yes"}, description="again") as again:
        assert again.info.run_id == run_id
        assert again.info.status == "RUNNING"
        assert client.get_run(run_id).info.status == "RUNNING"
        runlab.log_param("lr", "0.1")  # same value: fine
        with pytest.raises(InvalidParameter, match="cannot change"):
            runlab.log_param("lr", "0.2")  # known from the stored run: refused at once
        runlab.log_metric("m", 2.0, step=1)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["resumed"] == "yes"
    assert run.data.tags["mlflow.note.content"] == "again"
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_resume_refuses_deleted_and_mismatched_runs(client: Client) -> None:
    with runlab.start_run() as run:
        pass
    exp_id = client.create_experiment("other")
    with pytest.raises(InvalidParameter, match="experiment"):
        runlab.start_run(run_id=run.info.run_id, experiment_id=exp_id)
    client.delete_run(run.info.run_id)
    with pytest.raises(InvalidState, match="deleted"):
        runlab.start_run(run_id=run.info.run_id)
    assert runlab.active_run() is None


def test_resume_from_env_run_id_once(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with runlab.start_run() as run:
        pass
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with runlab.start_run() as resumed:
        assert resumed.info.run_id == run.info.run_id
    with runlab.start_run() as fresh:
        assert fresh.info.run_id != run.info.run_id


def test_logging_without_run_starts_one(client: Client) -> None:
    runlab.log_metric("m", 3.0)
    run = runlab.active_run()
    assert run is not None
    runlab.end_run()
    assert client.get_run(run.info.run_id).data.metrics == {"m": 3.0}


def test_last_active_run(client: Client) -> None:
    assert runlab.last_active_run() is None
    with runlab.start_run() as run:
        runlab.log_metric("m", 1.0)
        during = runlab.last_active_run()
        assert during is not None
        assert during.data.metrics == {"m": 1.0}
    after = runlab.last_active_run()
    assert after is not None
    assert after.info.run_id == run.info.run_id
    assert after.info.status == "FINISHED"


def test_params(client: Client) -> None:
    with runlab.start_run() as run:
        assert runlab.log_param("lr", 0.01) == 0.01
        runlab.log_params({"layers": [64, 32], "act": "relu", "drop": None})
        runlab.log_param("lr", 0.01)
        with pytest.raises(InvalidParameter, match="'lr'"):
            runlab.log_param("lr", 0.02)
        with pytest.raises(InvalidParameter, match="cannot change"):
            runlab.log_params({"new": 1, "act": "tanh"})
    params = client.get_run(run.info.run_id).data.params
    assert params == {"lr": "0.01", "layers": "[64, 32]", "act": "relu", "drop": "None"}


def test_metrics_and_tags(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_metrics({"a": 1, "b": 2.5}, step=3)
        runlab.log_metric("c", 1.0, step=7, timestamp=1000)
        runlab.set_tags({"x": 1, "y": "two"})
        runlab.set_tag("x", "overwritten")
        runlab.set_tag("z", "soon gone")
        runlab.delete_tag("z")
    data = client.get_run(run.info.run_id).data
    assert data.metrics == {"a": 1.0, "b": 2.5, "c": 1.0}
    assert data.tags["x"] == "overwritten"
    assert data.tags["y"] == "two"
    assert "z" not in data.tags
    (c,) = client.get_metric_history(run.info.run_id, "c")
    assert (c.step, c.timestamp) == (7, 1000)
    assert client.get_metric_history(run.info.run_id, "a")[0].step == 3


def test_invalid_values_raise_at_the_call(client: Client) -> None:
    with runlab.start_run():
        with pytest.raises(InvalidParameter):
            runlab.log_metric("bad key!", 1.0)
        with pytest.raises(InvalidParameter):
            runlab.log_metric("m", "high")
        with pytest.raises(InvalidParameter):
            runlab.log_metric("m", 1.0, step=0.5)
        with pytest.raises(InvalidParameter):
            runlab.log_metrics({"ok": 1.0, "bad": "x"})
        with pytest.raises(InvalidParameter):
            runlab.set_tag("t", "x" * 8001)
        with pytest.raises(InvalidParameter):
            runlab.log_param("p", "x" * 6001)


def test_log_to_other_run_by_id(client: Client) -> None:
    other = client.create_run("0").info.run_id
    with runlab.start_run() as run:
        runlab.log_metric("m", 5.0, run_id=other)
        runlab.log_params({"p": "1"}, run_id=other)
        runlab.set_tags({"t": "v"}, run_id=other)
    data = client.get_run(other).data
    assert (data.metrics, data.params, data.tags["t"]) == ({"m": 5.0}, {"p": "1"}, "v")
    assert client.get_run(run.info.run_id).data.metrics == {}


def test_runs_are_per_thread(client: Client) -> None:
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["before"] = runlab.active_run()
        with runlab.start_run() as run:
            runlab.log_metric("thread", 1.0)
            seen["run"] = run.info.run_id

    with runlab.start_run() as main:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert runlab.active_run() is main
    assert seen["before"] is None
    assert seen["run"] != main.info.run_id
    assert client.get_run(str(seen["run"])).data.metrics == {"thread": 1.0}


def test_set_experiment_creates_and_activates(client: Client) -> None:
    exp = runlab.set_experiment("new-exp")
    assert exp.name == "new-exp"
    assert runlab.set_experiment("new-exp").experiment_id == exp.experiment_id
    with runlab.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    other = runlab.create_experiment("by-id")
    assert runlab.set_experiment(experiment_id=other).experiment_id == other
    with runlab.start_run() as run2:
        pass
    assert run2.info.experiment_id == other


def test_set_experiment_refusals(client: Client) -> None:
    with pytest.raises(InvalidParameter, match="exactly one"):
        runlab.set_experiment()
    with pytest.raises(InvalidParameter, match="exactly one"):
        runlab.set_experiment("a", "1")
    with pytest.raises(ExperimentNotFound):
        runlab.set_experiment(experiment_id="424242")
    exp_id = runlab.create_experiment("to-delete")
    runlab.delete_experiment(exp_id)
    with pytest.raises(InvalidState, match="deleted"):
        runlab.set_experiment("to-delete")
    runlab.restore_experiment(exp_id)
    assert runlab.set_experiment("to-delete").experiment_id == exp_id


def test_default_experiment_and_env(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with runlab.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    monkeypatch.setenv("RUNLAB_EXPERIMENT_ID", runlab.create_experiment("by-env-id"))
    with runlab.start_run() as run:
        pass
    assert client.get_experiment(run.info.experiment_id).name == "by-env-id"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "by-env-name")  # created on first use
    with runlab.start_run() as run:
        pass
    assert client.get_experiment(run.info.experiment_id).name == "by-env-name"
    exp_id = runlab.create_experiment("explicit")
    with runlab.start_run(experiment_id=exp_id) as run:
        pass
    assert run.info.experiment_id == exp_id


def test_set_experiment_is_forgotten_with_a_new_tracking_uri(tmp_path: Path) -> None:
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'a.db'}")
    runlab.set_experiment("only-in-a")
    runlab.set_tracking_uri(f"sqlite:///{tmp_path / 'b.db'}")
    with runlab.start_run() as run:
        pass
    assert run.info.experiment_id == "0"


def test_experiment_functions(client: Client) -> None:
    exp_id = runlab.create_experiment("fx", tags={"a": "1"})
    assert runlab.get_experiment(exp_id).name == "fx"
    assert runlab.get_experiment_by_name("fx").experiment_id == exp_id  # type: ignore[union-attr]
    runlab.set_experiment("fx")
    runlab.set_experiment_tag("b", 2)
    runlab.set_experiment_tags({"c": "3"})
    assert runlab.get_experiment(exp_id).tags == {"a": "1", "b": "2", "c": "3"}
    runlab.rename_experiment(exp_id, "fx2")
    names = [e.name for e in runlab.search_experiments()]
    assert "fx2" in names
    assert "Default" in names
    assert len(runlab.search_experiments(max_results=1)) == 1
    assert [e.name for e in runlab.search_experiments(filter_string="name = 'fx2'")] == ["fx2"]


def test_get_and_delete_run(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_metric("m", 1.0)
    assert runlab.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    runlab.delete_run(run.info.run_id)
    assert runlab.get_run(run.info.run_id).info.lifecycle_stage == "deleted"


def test_fluent_artifacts(client: Client, tmp_path: Path) -> None:
    pytest.importorskip("runlab.artifacts.repository_factory")
    src = tmp_path / "model"
    src.mkdir()
    (src / "weights.bin").write_bytes(b"\x00\x01")
    (tmp_path / "single.txt").write_text("1")
    with runlab.start_run() as run:
        runlab.log_artifact(tmp_path / "single.txt")
        runlab.log_artifacts(src, artifact_path="model")
        runlab.log_text("t", "notes.txt")
        runlab.log_dict({"k": [1, 2]}, "cfg.yaml")
        uri = runlab.get_artifact_uri()
        assert uri == run.info.artifact_uri
        assert runlab.get_artifact_uri("model/weights.bin") == uri + "/model/weights.bin"
    paths = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert paths == {"single.txt", "model", "notes.txt", "cfg.yaml"}


def test_mlflow_exception_alias() -> None:
    assert runlab.exceptions.MlflowException is RunlabError
    assert runlab.MlflowException is RunlabError
    assert issubclass(InvalidParameter, runlab.exceptions.MlflowException)
