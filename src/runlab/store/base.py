"""The store protocols every backend implements (SQL and REST).

The Client and the fluent API talk only to these methods, so a local SQLite file and a remote
server behave the same. Every method raises :mod:`runlab.errors` classes, never a driver's error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from runlab.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    MetricHistory,
    ModelVersion,
    PagedList,
    Param,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunInfo,
    RunRows,
    RunTag,
)

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000


@dataclass(frozen=True, slots=True)
class ReadableSet:
    """Which experiments (by id) or registered models (by name) a search may return.

    A server that checks permissions restricts its searches to what the caller may read: with
    ``by_default`` (the server's default permission can read), everything except ``refused``
    (the ids or names the caller has an explicit permission on that cannot read); otherwise
    only ``granted`` (those they have an explicit permission on that can read). Experiment ids
    are the store's spelling (``"3"``, never ``"03"``). ``item in readable`` says it for one.
    """

    by_default: bool
    granted: frozenset[str] = frozenset()
    refused: frozenset[str] = frozenset()

    def __contains__(self, item: object) -> bool:
        if self.by_default:
            return item not in self.refused
        return item in self.granted

    @property
    def everything(self) -> bool:
        """True when nothing is left out (an administrator, or nothing refused by default)."""
        return self.by_default and not self.refused


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


@runtime_checkable
class ReadableExperimentSearch(Protocol):
    """An experiments search that can leave out what a caller may not read.

    Separate from :class:`TrackingStore` because only a server that checks permissions asks
    for it: the SQL store implements it (in the same SELECT, so pages stay whole and page tokens
    stay right), the REST store does not need to. ``filters_readable`` marks a store that does.
    """

    filters_readable: bool

    def search_experiments(
        self,
        view_type: int = 1,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[Experiment]:
        """One page of the experiments matching the filter that are in ``readable`` (all when
        None)."""
        ...


@runtime_checkable
class RunRowsSearch(Protocol):
    """A runs search that answers with grouped values (:class:`RunRows`) instead of entities.

    For a caller that only re-shapes the runs (the server's JSON answers), making a Run object
    tree for each run of a page costs about as much as the re-shaping. Separate from
    :class:`TrackingStore` like the protocols below: the SQL store implements it, and a caller
    falls back to ``search_runs`` for a store that does not.
    """

    def search_run_rows(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = 1,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[RunRows, str | None]:
        """One page of runs matching the filter as RunRows, and the next page's token."""
        ...


@dataclass(frozen=True)
class ExperimentActivity:
    """How busy one experiment is: its active runs and when any of them last started or ended.

    ``last_activity`` is in milliseconds since the epoch, ``None`` when it has no run.
    """

    run_count: int
    last_activity: int | None


@runtime_checkable
class ExperimentActivityStore(Protocol):
    """Run counts per experiment, for listings (the web UI's experiments page).

    A separate protocol because MLflow's REST protocol has no such call: a store that cannot
    answer it (the REST store) simply does not implement it, and callers show no counts.
    """

    def experiment_activity(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentActivity]:
        """Activity of each experiment id given; an id with no active run maps to zero runs."""
        ...


@dataclass(frozen=True)
class ExperimentKeys:
    """The distinct param, metric and tag keys logged to an experiment's runs, each sorted."""

    params: list[str]
    metrics: list[str]
    tags: list[str]


@runtime_checkable
class ExperimentKeysStore(Protocol):
    """The keys an experiment's runs use, for choosing columns (the web UI's runs table).

    Like :class:`ExperimentActivityStore`, MLflow's REST protocol has no such call, so only
    stores that can answer it cheaply implement it.
    """

    def experiment_keys(self, experiment_id: str) -> ExperimentKeys:
        """Every param, metric and tag key of the experiment's runs, deleted runs included."""
        ...


@runtime_checkable
class LoggedModelStore(Protocol):
    """Logged models (MLflow 3's ``log_model`` path) and their links to runs.

    Deleted models are hidden: ``get_logged_model`` needs ``allow_deleted=True`` to see one, and
    writes to one raise ModelNotFound. Tags and params are given as a dict, (key, value) pairs or
    objects with ``.key`` and ``.value``.
    """

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | Iterable[Any] | None = None,
        params: Mapping[str, str] | Iterable[Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model in an active experiment (a missing name is made up)."""
        ...

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """ModelNotFound if absent (or deleted, unless ``allow_deleted``)."""
        ...

    def finalize_logged_model(
        self, model_id: str, status: str | int, status_message: str | None = None
    ) -> LoggedModel:
        """Set the final status: LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."""
        ...

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete a model."""
        ...

    def set_logged_model_tags(
        self, model_id: str, tags: Mapping[str, str] | Iterable[Any]
    ) -> LoggedModel:
        """Set (or overwrite) tags and return the model."""
        ...

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag; NotFound if absent."""
        ...

    def log_logged_model_params(
        self, model_id: str, params: Mapping[str, str] | Iterable[Any]
    ) -> None:
        """Add params; InvalidParameter if a key already has a different value."""
        ...

    def record_logged_model_metrics(self, model_id: str, metrics: Sequence[Metric]) -> None:
        """Store metric points on a model (with their run and dataset fields)."""
        ...

    def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Store the run's metric points that carry a ``model_id`` on those models."""
        ...

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models the run produced."""
        ...

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str | LoggedModelInput]) -> None:
        """Record models the run used."""
        ...

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = 100,
        order_by: Sequence[str | Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of active models matching the filter, in the requested order."""
        ...


SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODELS_MAX_RESULTS_THRESHOLD = 1000
SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT = 200_000
SEARCH_MODEL_VERSIONS_MAX_RESULTS_THRESHOLD = 200_000


@runtime_checkable
class ReadableRegistrySearch(Protocol):
    """Registry searches that can leave out the models a caller may not read (by model name).

    Like :class:`ReadableExperimentSearch`: the SQL registry implements it, marked by
    ``filters_readable``; a model version is readable when its registered model is.
    """

    filters_readable: bool

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of the models matching the filter whose names are in ``readable``."""
        ...

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of the versions matching the filter whose models' names are in
        ``readable``."""
        ...


@runtime_checkable
class RegistryStore(Protocol):
    """Registered models, their versions, stages, aliases, tags and change history.

    Names are exact and case-sensitive. Versions are ints here (strings on the wire); a version
    number is never reused after a delete. Stages are matched case-insensitively and returned
    as ``None``/``Staging``/``Production``/``Archived``. ``user_id`` names who made a change,
    for the history. Sources are checked by one function (see
    :mod:`runlab.artifacts.model_sources`) before anything is written.
    """

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """AlreadyExists if the name is taken; InvalidParameter for a bad name."""
        ...

    def get_registered_model(self, name: str) -> RegisteredModel:
        """ModelNotFound if absent."""
        ...

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, aliases and history move with it."""
        ...

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set the description."""
        ...

    def delete_registered_model(self, name: str) -> None:
        """Remove the model with its versions, tags and aliases (its history is kept)."""
        ...

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of models matching the filter (name, tags.<k>), in order."""
        ...

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each requested stage (all four when none are given)."""
        ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set (or overwrite) one tag."""
        ...

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove one tag."""
        ...

    # -- aliases -------------------------------------------------------------------------------
    def set_registered_model_alias(
        self, name: str, alias: str, version: int | str, user_id: str | None = None
    ) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere); recorded."""
        ...

    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None:
        """Remove an alias; recorded."""
        ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version the alias points at; InvalidParameter for an unknown alias."""
        ...

    # -- versions --------------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (the model must exist).

        The source must resolve inside the artifact root of ``run_id`` (or of ``model_id``);
        anything else is refused with InvalidParameter before anything is written.
        """
        ...

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """ModelNotFound if absent or deleted."""
        ...

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        """Set the description."""
        ...

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version (its number is not reused); aliases on it are removed."""
        ...

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to ``stage``; with ``archive_existing_versions`` (Staging/Production
        only) the other versions in that stage move to Archived. Every move is recorded."""
        ...

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions matching the filter (name, run_id, source_path,
        version_number, tags.<k>); default order name ASC, version DESC."""
        ...

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """The version's storage location if it has one, else its source."""
        ...

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set (or overwrite) one tag."""
        ...

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove one tag."""
        ...

    # -- history (runlab's own) ----------------------------------------------------------------
    def get_registry_history(
        self, name: str, since: int | None = None, until: int | None = None
    ) -> list[RegistryEvent]:
        """Every stage transition and alias change of the model, oldest first, optionally
        limited to ``since <= timestamp < until`` (milliseconds)."""
        ...
