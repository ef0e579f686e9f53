"""Datasets a run used as inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from runlab.entities.logged_model import LoggedModelInput


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset's identity: name and digest, plus where it came from."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class InputTag:
    """A tag on a dataset input, e.g. ``mlflow.data.context = "training"``."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset used by a run, with its input tags."""

    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunInputs:
    """Everything a run consumed: datasets, and logged models (e.g. ones it evaluated)."""

    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)
