"""MLflow JSON (as either server sends it) to runlab entities, on the client side."""

from __future__ import annotations

from typing import Any

from runlab.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
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
    # MLflow 3 servers (and runlab's) also send the logged models a run used and produced.
    model_inputs = [
        LoggedModelInput(item["model_id"])
        for item in data.get("inputs", {}).get("model_inputs", ())
    ]
    model_outputs = [
        LoggedModelOutput(item["model_id"], int(item.get("step", 0)))
        for item in data.get("outputs", {}).get("model_outputs", ())
    ]
    return Run(
        info=run_info(data["info"]),
        data=RunData(
            metrics={k: m.value for k, m in points.items()},
            params=_pairs(body.get("params")),
            tags=_pairs(body.get("tags")),
            latest_points=points,
        ),
        inputs=RunInputs(dataset_inputs=inputs, model_inputs=model_inputs),
        outputs=RunOutputs(model_outputs=model_outputs),
    )


def file_info(data: dict[str, Any]) -> FileInfo:
    """A FileInfo message."""
    return FileInfo(
        path=data["path"],
        is_dir=bool(data.get("is_dir", False)),
        file_size=_int_or_none(data.get("file_size")),
    )


def _logged_model_status(value: Any) -> str:
    # Enum names on the wire; a number from an older server is accepted too.
    if value is None or value == "":
        return LoggedModelStatus.to_string(LoggedModelStatus.PENDING)
    return LoggedModelStatus.normalize(int(value) if isinstance(value, int) else str(value))


def logged_model(data: dict[str, Any]) -> LoggedModel:
    """A LoggedModel message (``info`` and ``data``).

    Neither server says on the wire whether a model is deleted, so ``lifecycle_stage`` is
    ``active`` unless a server sends it.
    """
    info = data.get("info", {})
    body = data.get("data", {})
    return LoggedModel(
        model_id=info["model_id"],
        experiment_id=str(info.get("experiment_id", "")),
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_timestamp=int(info.get("creation_timestamp_ms", 0)),
        last_updated_timestamp=int(info.get("last_updated_timestamp_ms", 0)),
        status=_logged_model_status(info.get("status")),
        status_message=info.get("status_message") or None,
        model_type=info.get("model_type") or None,
        source_run_id=info.get("source_run_id") or None,
        lifecycle_stage=info.get("lifecycle_stage", LifecycleStage.ACTIVE),
        tags=_pairs(info.get("tags")),
        params=_pairs(body.get("params")),
        metrics=[metric(m) for m in body.get("metrics", ())],
    )
