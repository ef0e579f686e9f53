"""Experiments and their tags."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    """A key/value tag on an experiment."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs. ``tags`` is a plain dict."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
