"""Entities to MLflow's JSON shapes: what is left out, what is kept, and special values."""

from __future__ import annotations

import dataclasses
import math

import orjson

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunRows,
)
from runlab.server import wire


def _info(**changes: object) -> RunInfo:
    fields: dict[str, object] = {
        "run_id": "r1",
        "experiment_id": "7",
        "run_name": "",
        "user_id": "",
        "status": "RUNNING",
        "start_time": 5,
        "end_time": None,
        "artifact_uri": "s3://b/r1",
        "lifecycle_stage": "active",
    }
    fields.update(changes)
    return RunInfo(**fields)  # type: ignore[arg-type]


def test_run_info_leaves_out_unset_fields_but_sends_empty_strings() -> None:
    out = wire.run_info(_info())
    assert out == {
        "run_id": "r1",
        "run_uuid": "r1",
        "run_name": "",
        "experiment_id": "7",
        "user_id": "",
        "status": "RUNNING",
        "start_time": 5,
        "artifact_uri": "s3://b/r1",
        "lifecycle_stage": "active",
    }
    assert list(out) == [  # MLflow's field order
        "run_id",
        "run_uuid",
        "run_name",
        "experiment_id",
        "user_id",
        "status",
        "start_time",
        "artifact_uri",
        "lifecycle_stage",
    ]
    assert wire.run_info(_info(end_time=9, start_time=None))["end_time"] == 9
    assert "start_time" not in wire.run_info(_info(start_time=None))


def test_a_runs_latest_points_keep_special_values_and_their_links() -> None:
    points = {
        "plain": Metric("plain", 0.5, 10, 1),
        "nan": Metric("nan", math.nan, 11, 2),
        "inf": Metric("inf", -math.inf, 12, 3),
        "linked": Metric("linked", 1.5, 13, 4, "train", "d1", "m-1"),
    }
    run = Run(
        info=_info(),
        data=RunData(
            metrics={k: p.value for k, p in points.items()} | {"bare": 2.0},
            params={"lr": "0.1"},
            tags={"t": "v"},
            latest_points=points,
        ),
        inputs=RunInputs(),
        outputs=RunOutputs(),
    )
    out = wire.run(run)
    assert out["data"]["metrics"] == [
        {"key": "plain", "value": 0.5, "timestamp": 10, "step": 1},
        {"key": "nan", "value": "NaN", "timestamp": 11, "step": 2},
        {"key": "inf", "value": "-Infinity", "timestamp": 12, "step": 3},
        {
            "key": "linked",
            "value": 1.5,
            "timestamp": 13,
            "step": 4,
            "dataset_name": "train",
            "dataset_digest": "d1",
            "model_id": "m-1",
        },
        {"key": "bare", "value": 2.0},
    ]
    assert out["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert out["data"]["tags"] == [{"key": "t", "value": "v"}]
    assert out["inputs"] == {}


def _rows() -> RunRows:
    """Two runs: one with every part (special values, datasets, model links), one bare."""
    full, bare = "r1", "r2"
    return RunRows(
        run_ids=[full, bare],
        infos={full: _info(), bare: _info(run_id=bare, run_name="b", end_time=9)},
        param_rows=[(full, "a", "1"), (full, "b", "2")],
        tag_rows=[(full, "mlflow.runName", "x"), (full, "t", "v")],
        point_rows=[
            (full, "loss", 0.25, 10, 3),
            (full, "nan", math.nan, 11, 4),
            (full, "inf", math.inf, 12, 5),
        ],
        dataset_inputs={
            full: [
                DatasetInput(
                    Dataset("train", "d1", "local", "/data", '{"a": 1}'), [InputTag("k", "v")]
                )
            ]
        },
        model_inputs={full: [LoggedModelInput("m-in")]},
        model_outputs={full: [LoggedModelOutput("m-out", 7)]},
    )


def test_points_of_runs_in_any_order_go_to_their_runs() -> None:
    """A database may give the page's latest points with runs interleaved (PostgreSQL's
    ``= ANY`` does): each point still lands in its own run, in the order read."""
    rows = RunRows(
        run_ids=["r2", "r1"],
        infos={"r1": _info(), "r2": _info(run_id="r2")},
        param_rows=[],
        tag_rows=[],
        point_rows=[("r1", "a", 1.0, 1, 0), ("r2", "b", 2.0, 2, 0), ("r1", "c", 3.0, 3, 0)],
        dataset_inputs={},
        model_inputs={},
        model_outputs={},
    )
    second, first = wire.runs_with_models(rows)
    assert [m["key"] for m in first["data"]["metrics"]] == ["a", "c"]
    assert second["data"]["metrics"] == [{"key": "b", "value": 2.0, "timestamp": 2, "step": 0}]
    assert [m["info"]["run_id"] for m in (second, first)] == ["r2", "r1"]
    assert orjson.dumps([second, first]) == orjson.dumps(
        [wire.run_with_models(r) for r in rows.runs()]
    )
    twice = dataclasses.replace(rows, run_ids=["r1", "r2", "r1"])
    assert orjson.dumps(wire.runs_with_models(twice)) == orjson.dumps(
        [wire.run_with_models(r) for r in twice.runs()]
    )


def test_runs_from_rows_are_the_messages_of_the_same_runs_as_entities() -> None:
    """The search answer's path (rows straight to messages) and the entity path (get-run)
    give the same JSON, part for part."""
    rows = _rows()
    direct = wire.runs_with_models(rows)
    assert orjson.dumps(direct) == orjson.dumps([wire.run_with_models(r) for r in rows.runs()])
    full, bare = direct
    assert full["data"]["metrics"][1] == {"key": "nan", "value": "NaN", "timestamp": 11, "step": 4}
    assert full["data"]["metrics"][2]["value"] == "Infinity"
    assert full["inputs"]["model_inputs"] == [{"model_id": "m-in"}]
    assert full["outputs"] == {"model_outputs": [{"model_id": "m-out", "step": 7}]}
    assert full["inputs"]["dataset_inputs"][0]["tags"] == [{"key": "k", "value": "v"}]
    assert bare == {"info": wire.run_info(rows.infos["r2"]), "data": {}, "inputs": {}}
    assert RunRows.empty().runs() == [] and wire.runs_with_models(RunRows.empty()) == []
