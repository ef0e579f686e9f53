"""MLflow JSON (as either server sends it) to runlab entities, on the client side."""

from __future__ import annotations

from typing import Any

from runlab.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from runlab.protocol import decode_double

double = decode_double


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or ()}


def experiment(data: dict[str, Any]) -> Experiment:
    """An Experiment message."""
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=data.get("name", ""),
        artifact_location=data.get("artifact_location", ""),
        lifecycle_stage=data.get("lifecycle_stage", "active"),
        tags=_pairs(data.get("tags")),
        creation_time=_int_or_none(data.get("creation_time")),
        last_update_time=_int_or_none(data.get("last_update_time")),
    )


def metric(data: dict[str, Any]) -> Metric:
    """A Metric message."""
    return Metric(
        data["key"],
        double(data.get("value", 0.0)),
        int(data.get("timestamp", 0)),
        int(data.get("step", 0)),
        data.get("dataset_name"),
        data.get("dataset_digest"),
        data.get("model_id"),
        data.get("run_id"),
    )


def run_info(data: dict[str, Any]) -> RunInfo:
    """A RunInfo message."""
    return RunInfo(
        run_id=data.get("run_id") or data["run_uuid"],
        experiment_id=str(data.get("experiment_id", "")),
        run_name=data.get("run_name", ""),
        user_id=data.get("user_id", ""),
        status=data.get("status", "RUNNING"),
        start_time=_int_or_none(data.get("start_time")),
        end_time=_int_or_none(data.get("end_time")),
        artifact_uri=data.get("artifact_uri", ""),
        lifecycle_stage=data.get("lifecycle_stage", "active"),
    )


def run(data: dict[str, Any]) -> Run:
    """A Run message."""
    body = data.get("data", {})
    points = {m["key"]: metric(m) for m in body.get("metrics", ())}
    inputs = [
        DatasetInput(
            dataset=Dataset(
                name=item["dataset"]["name"],
                digest=item["dataset"]["digest"],
                source_type=item["dataset"].get("source_type", ""),
                source=item["dataset"].get("source", ""),
                schema=item["dataset"].get("schema"),
                profile=item["dataset"].get("profile"),
            ),
            tags=[InputTag(t["key"], t.get("value", "")) for t in item.get("tags", ())],
        )
        for item in data.get("inputs", {}).get("dataset_inputs", ())
    ]
    return Run(
        info=run_info(data["info"]),
        data=RunData(
            metrics={k: m.value for k, m in points.items()},
            params=_pairs(body.get("params")),
            tags=_pairs(body.get("tags")),
            latest_points=points,
        ),
        inputs=RunInputs(dataset_inputs=inputs),
    )


def file_info(data: dict[str, Any]) -> FileInfo:
    """A FileInfo message."""
    return FileInfo(
        path=data["path"],
        is_dir=bool(data.get("is_dir", False)),
        file_size=_int_or_none(data.get("file_size")),
    )
