"""Entities to MLflow's JSON shapes: what is left out, what is kept, and special values."""

from __future__ import annotations

import math

from runlab.entities import Metric, Run, RunData, RunInfo, RunInputs, RunOutputs
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
