"""Entities to MLflow's JSON shapes (proto3 JSON: int64 as numbers, NaN/Inf as strings).

The only place that knows how MLflow spells things on the wire; stores and entities know nothing
of JSON. Unset fields and empty lists are left out, as MLflow's server does.
"""

from __future__ import annotations

from typing import Any

from runlab.entities import DatasetInput, Experiment, FileInfo, Metric, Run, RunInfo
from runlab.protocol import encode_double

double = encode_double


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def experiment(exp: Experiment) -> dict[str, Any]:
    """An Experiment message."""
    return _drop_empty(
        {
            "experiment_id": exp.experiment_id,
            "name": exp.name,
            "artifact_location": exp.artifact_location,
            "lifecycle_stage": exp.lifecycle_stage,
            "last_update_time": exp.last_update_time,
            "creation_time": exp.creation_time,
            "tags": _tags(exp.tags),
        }
    )


def run_info(info: RunInfo) -> dict[str, Any]:
    """A RunInfo message (``run_uuid`` duplicates ``run_id`` for old clients)."""
    return _drop_empty(
        {
            "run_id": info.run_id,
            "run_uuid": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": info.lifecycle_stage,
        }
    )


def metric(m: Metric, *, with_run_id: bool = False) -> dict[str, Any]:
    """A Metric message (optionally with run_id, as in the bulk history endpoints)."""
    out: dict[str, Any] = {
        "key": m.key,
        "value": double(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    if with_run_id and m.run_id is not None:
        out["run_id"] = m.run_id
    for name in ("dataset_name", "dataset_digest", "model_id"):
        value = getattr(m, name)
        if value is not None:
            out[name] = value
    return out


def dataset_input(item: DatasetInput) -> dict[str, Any]:
    """A DatasetInput message."""
    ds = item.dataset
    return {
        "tags": [{"key": t.key, "value": t.value} for t in item.tags],
        "dataset": _drop_empty(
            {
                "name": ds.name,
                "digest": ds.digest,
                "source_type": ds.source_type,
                "source": ds.source,
                "schema": ds.schema,
                "profile": ds.profile,
            }
        ),
    }


def run(r: Run) -> dict[str, Any]:
    """A Run message. RunData carries the latest point of each metric."""
    points = r.data.latest_points
    data = _drop_empty(
        {
            "metrics": [
                metric(points[key]) if key in points else {"key": key, "value": double(value)}
                for key, value in r.data.metrics.items()
            ],
            "params": _tags(r.data.params),
            "tags": _tags(r.data.tags),
        }
    )
    out: dict[str, Any] = {"info": run_info(r.info), "data": data}
    dataset_inputs = [dataset_input(d) for d in r.inputs.dataset_inputs]
    out["inputs"] = {"dataset_inputs": dataset_inputs} if dataset_inputs else {}
    return out


def file_info(f: FileInfo) -> dict[str, Any]:
    """A FileInfo message (directories have no size)."""
    out: dict[str, Any] = {"path": f.path, "is_dir": f.is_dir}
    if not f.is_dir and f.file_size is not None:
        out["file_size"] = f.file_size
    return out
