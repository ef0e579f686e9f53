"""runlab's entities: immutable values with no I/O."""

from runlab.entities.dataset import Dataset, DatasetInput, InputTag, RunInputs
from runlab.entities.enums import LifecycleStage, RunStatus, ViewType
from runlab.entities.experiment import Experiment, ExperimentTag
from runlab.entities.file_info import FileInfo
from runlab.entities.logged_model import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    RunOutputs,
)
from runlab.entities.metric import Metric, Param, RunTag
from runlab.entities.metric_columns import MetricColumns
from runlab.entities.metric_history import MetricHistory
from runlab.entities.paged_list import PagedList
from runlab.entities.registry import (
    STAGES,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    RegistryEvent,
)
from runlab.entities.run import Run, RunData, RunInfo
from runlab.entities.run_rows import RunRows

__all__ = [
    "STAGES",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "MetricColumns",
    "MetricHistory",
    "ModelVersion",
    "ModelVersionStatus",
    "PagedList",
    "Param",
    "RegisteredModel",
    "RegistryEvent",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunRows",
    "RunStatus",
    "RunTag",
    "ViewType",
]
