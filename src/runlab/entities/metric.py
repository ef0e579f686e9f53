"""Metric points, params and run tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Metric(NamedTuple):
    """One metric point.

    A NamedTuple rather than a dataclass: histories hold up to millions of points, and tuples are
    built several times faster. The field order matches MLflow's constructor
    ``Metric(key, value, timestamp, step)``.
    """

    key: str
    value: float
    timestamp: int
    step: int = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    """A run parameter. Values are strings; a key's value never changes once logged."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    """A key/value tag on a run."""

    key: str
    value: str
