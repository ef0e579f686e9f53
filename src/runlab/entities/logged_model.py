"""Logged models (MLflow 3): a model's identity, status and data, and the links to runs.

A logged model belongs to an experiment, may come from a run (``source_run_id``), and keeps its
own tags, params and metrics. Runs link to models as outputs (the run produced the model) and as
inputs (the run used it, e.g. to evaluate it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runlab.entities.enums import LifecycleStage
from runlab.entities.metric import Metric
from runlab.errors import InvalidParameter

__all__ = [
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "RunOutputs",
]


class LoggedModelStatus:
    """A logged model's upload status. Stored and exchanged as the name (``"LOGGED_MODEL_READY"``).

    A model starts PENDING while its files upload; the client then finalizes it as READY or
    UPLOAD_FAILED. The numbers are the wire protocol's.
    """

    PENDING = 1
    READY = 2
    UPLOAD_FAILED = 3

    _NAMES = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY", 3: "LOGGED_MODEL_UPLOAD_FAILED"}
    _NUMBERS = {v: k for k, v in _NAMES.items()}
    # Short spellings people type in code and filters ("READY", "FAILED").
    _SHORT = {"PENDING": 1, "READY": 2, "UPLOAD_FAILED": 3, "FAILED": 3}

    @classmethod
    def to_string(cls, status: int) -> str:
        """``2 -> "LOGGED_MODEL_READY"``."""
        try:
            return cls._NAMES[status]
        except KeyError:
            raise InvalidParameter(
                f"Unknown logged model status {status!r}; expected 1 (pending), 2 (ready) or "
                "3 (upload failed)."
            ) from None

    @classmethod
    def from_string(cls, name: str) -> int:
        """``"LOGGED_MODEL_READY"`` or ``"ready"`` -> 2."""
        if isinstance(name, str):
            upper = name.strip().upper()
            number = cls._NUMBERS.get(upper) or cls._SHORT.get(upper)
            if number is not None:
                return number
        raise InvalidParameter(
            f"Unknown logged model status {name!r}; expected one of {', '.join(cls._NUMBERS)}."
        )

    @classmethod
    def normalize(cls, status: str | int) -> str:
        """Accept a name (either spelling, any case) or a number; return the canonical name."""
        if isinstance(status, bool):
            raise InvalidParameter(f"Unknown logged model status {status!r}.")
        if isinstance(status, int):
            return cls.to_string(status)
        return cls.to_string(cls.from_string(status))

    @classmethod
    def is_finalized(cls, status: str | int) -> bool:
        """True for READY and UPLOAD_FAILED."""
        return cls.normalize(status) != cls._NAMES[cls.PENDING]


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model logged to an experiment (MLflow 3's ``LoggedModel``).

    ``model_id`` is ``m-`` followed by 32 hex digits; ``artifact_location`` is
    ``<experiment artifact location>/models/<model_id>/artifacts``. ``metrics`` holds every
    recorded point (with the run and dataset it was measured on), not only the latest.
    """

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = "LOGGED_MODEL_PENDING"
    status_message: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)

    @property
    def artifact_uri(self) -> str:
        """The wire protocol's name for ``artifact_location``."""
        return self.artifact_location

    @property
    def model_uri(self) -> str:
        """The URI that loads this model: ``models:/<model_id>``."""
        return f"models:/{self.model_id}"


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    """A run produced this model at ``step``."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, slots=True)
class LoggedModelInput:
    """A run used this model (e.g. evaluated it)."""

    model_id: str


@dataclass(frozen=True, slots=True)
class RunOutputs:
    """Everything a run produced: the models it logged."""

    model_outputs: list[LoggedModelOutput] = field(default_factory=list)
