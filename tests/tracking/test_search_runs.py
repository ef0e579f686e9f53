"""Fluent search_runs: the DataFrame MLflow users expect, and the list form."""

from __future__ import annotations

import math

import pytest

import runlab
from runlab.entities import Run, ViewType
from runlab.errors import InvalidParameter
from runlab.tracking import Client

pd = pytest.importorskip("pandas")


def _make_runs(exp_name: str) -> list[str]:
    runlab.set_experiment(exp_name)
    ids = []
    for i in range(3):
        with runlab.start_run(run_name=f"r{i}") as run:
            runlab.log_metric("acc", i / 10)
            if i == 2:
                runlab.log_metric("only_last", 1.0)
            runlab.log_param("i", i)
            if i == 0:
                runlab.set_tag("first", "yes")
        ids.append(run.info.run_id)
    return ids


def test_dataframe_columns_and_types(client: Client) -> None:
    ids = _make_runs("df")
    frame = runlab.search_runs(order_by=["params.i ASC"])
    assert list(frame.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.acc", "metrics.only_last", "params.i", "tags.first"} <= set(frame.columns)
    assert "tags.mlflow.runName" in frame.columns
    assert list(frame["run_id"]) == ids
    assert list(frame["status"]) == ["FINISHED"] * 3
    for column in ("start_time", "end_time"):
        # Timezone-aware UTC datetimes; the unit (ns or us) is the pandas version's default.
        assert isinstance(frame[column].dtype, pd.DatetimeTZDtype)
        assert str(frame[column].dtype.tz) == "UTC"
    first = client.get_run(ids[0]).info
    assert frame["start_time"][0] == pd.Timestamp(first.start_time, unit="ms", tz="UTC")
    assert list(frame["metrics.acc"]) == [0.0, 0.1, 0.2]
    assert math.isnan(frame["metrics.only_last"][0])
    assert frame["tags.first"][1] is None
    assert list(frame["params.i"]) == ["0", "1", "2"]
    assert list(frame["tags.mlflow.runName"]) == ["r0", "r1", "r2"]


def test_running_runs_have_no_end_time(client: Client) -> None:
    with runlab.start_run():
        frame = runlab.search_runs()
    assert frame["end_time"].isna().all()
    assert list(frame["status"]) == ["RUNNING"]


def test_empty_result_has_the_base_columns(client: Client) -> None:
    runlab.set_experiment("empty")
    frame = runlab.search_runs()
    assert len(frame) == 0
    assert list(frame.columns) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]


def test_filter_max_results_and_list_output(client: Client) -> None:
    ids = _make_runs("flt")
    frame = runlab.search_runs(filter_string="metrics.acc > 0.05")
    assert set(frame["run_id"]) == set(ids[1:])
    runs = runlab.search_runs(output_format="list", max_results=2, order_by=["metrics.acc DESC"])
    assert all(isinstance(r, Run) for r in runs)
    assert [r.info.run_id for r in runs] == [ids[2], ids[1]]
    with pytest.raises(InvalidParameter, match="output_format"):
        runlab.search_runs(output_format="json")


def test_experiment_selection(client: Client) -> None:
    a = _make_runs("exp-a")
    b = _make_runs("exp-b")
    exp_a = client.get_experiment_by_name("exp-a")
    assert exp_a is not None
    assert set(runlab.search_runs()["run_id"]) == set(b)  # the current experiment
    assert set(runlab.search_runs([exp_a.experiment_id])["run_id"]) == set(a)
    by_name = runlab.search_runs(experiment_names=["exp-a", "exp-b", "missing"])
    assert set(by_name["run_id"]) == set(a + b)
    assert set(runlab.search_runs(search_all_experiments=True)["run_id"]) == set(a + b)
    with pytest.raises(InvalidParameter, match="not both"):
        runlab.search_runs(experiment_ids=["0"], experiment_names=["exp-a"])


def test_deleted_runs_need_view_type(client: Client) -> None:
    ids = _make_runs("del")
    client.delete_run(ids[0])
    assert set(runlab.search_runs()["run_id"]) == set(ids[1:])
    deleted = runlab.search_runs(run_view_type=ViewType.DELETED_ONLY)
    assert list(deleted["run_id"]) == [ids[0]]
    assert len(runlab.search_runs(run_view_type=ViewType.ALL)) == 3


def test_paging_beyond_one_page(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlab.tracking import fluent_search

    monkeypatch.setattr(fluent_search, "_PAGE_SIZE", 2)
    ids = _make_runs("pages")
    assert set(runlab.search_runs()["run_id"]) == set(ids)
    assert len(runlab.search_runs(max_results=1)) == 1
