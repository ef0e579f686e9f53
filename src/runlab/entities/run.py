"""Runs: their info (identity and lifecycle) and data (params, latest metrics, tags)."""

from __future__ import annotations

from dataclasses import dataclass, field

from runlab.entities.dataset import RunInputs
from runlab.entities.logged_model import RunOutputs
from runlab.entities.metric import Metric


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's identity and lifecycle."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        """Deprecated alias of ``run_id``, kept for MLflow code that still reads it."""
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    """A run's params, latest metric values and tags, as plain dicts."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: The latest point of each metric with its step and timestamp (what the REST API sends).
    latest_points: dict[str, Metric] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Run:
    """A run: ``info``, ``data``, ``inputs`` and ``outputs``."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)
