"""The store protocols every backend implements (SQL here; REST in the server issue).

The Client and the fluent API talk only to these methods, so a local SQLite file and a remote
server behave the same. Every method raises :mod:`runlab.errors` classes, never a driver's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from runlab.entities import (
    DatasetInput,
    Experiment,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
)

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000


@runtime_checkable
class TrackingStore(Protocol):
    """Experiments, runs and everything logged to them."""

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[tuple[str, str]] | None = None,
    ) -> str:
        """Create an experiment and return its id. AlreadyExists if the name is taken."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """ExperimentNotFound if absent. Deleted experiments are returned too."""
        ...

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """None if absent. Deleted experiments are returned too."""
        ...

    def search_experiments(
        self,
        view_type: int = 1,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments matching the filter."""
        ...

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete the experiment and all its runs."""
        ...

    def restore_experiment(self, experiment_id: str) -> None:
        """Reactivate the experiment and all its runs."""
        ...

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an active experiment a new, unused name."""
        ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""
        ...

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one experiment tag."""
        ...

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a RUNNING run; a missing name is made up and recorded as tag mlflow.runName."""
        ...

    def get_run(self, run_id: str) -> Run:
        """RunNotFound if absent."""
        ...

    def update_run_info(
        self,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Apply the fields that are given and return the new info."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        ...

    def restore_run(self, run_id: str) -> None:
        """Reactivate a deleted run."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags atomically: all of them or none."""
        ...

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """One metric point."""
        ...

    def log_param(self, run_id: str, param: Param) -> None:
        """One param; InvalidParameter if the key already has a different value."""
        ...

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set (or overwrite) one run tag."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one run tag; NotFound if absent."""
        ...

    def log_inputs(self, run_id: str, datasets_in: Sequence[DatasetInput]) -> None:
        """Record datasets the run used."""
        ...

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        """Every point of one metric, ordered by (timestamp, step, value), with a page token."""
        ...

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = 1,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching the filter, in the requested order."""
        ...
