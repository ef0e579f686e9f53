"""``Client`` (alias ``MlflowClient``): explicit, run-id based access to a tracking store.

Unlike the fluent API, the client keeps no active run and writes synchronously by default, like
MLflow's. Records the fluent API still has queued for the same store are flushed before any client
call that reads or writes runs, so a process always reads its own writes in order.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runlab.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModel,
    LoggedModelInput,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from runlab.errors import InvalidParameter
from runlab.store.base import SEARCH_MAX_RESULTS_DEFAULT, LoggedModelStore, TrackingStore
from runlab.tracking import batch_writer, config, deferred
from runlab.tracking.client_registry import RegistryClientMethods
from runlab.tracking.store_factory import get_tracking_store
from runlab.tracking.system_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_USER
from runlab.validation import (
    validate_distinct_param_keys,
    validate_experiment_name,
    validate_experiment_tag,
    validate_key,
    validate_metric,
    validate_param,
    validate_run_id,
    validate_tag,
)

if TYPE_CHECKING:
    from runlab.tracking.batch_writer import BatchWriter

__all__ = ["Client", "MlflowClient"]


#: A logged-model search's default page size (MLflow's server default).
_LOGGED_MODEL_PAGE = 100


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _experiment_id(experiment_id: Any) -> str:
    # MLflow accepts ints for experiment ids; the store speaks strings.
    if isinstance(experiment_id, bool) or not isinstance(experiment_id, (str, int)):
        raise InvalidParameter(
            f"Experiment id {experiment_id!r} must be a string such as '0' or '12'."
        )
    return str(experiment_id)


class Client(RegistryClientMethods):
    """A client of one tracking store and one model registry.

    The tracking store is chosen by ``tracking_uri`` (default: the current tracking URI); the
    registry by ``registry_uri`` (default: :func:`runlab.get_registry_uri`, which falls back to
    this client's tracking URI). The registry methods are documented in
    :class:`runlab.tracking.client_registry.RegistryClientMethods`.
    """

    def __init__(
        self,
        tracking_uri: str | os.PathLike[str] | None = None,
        registry_uri: str | os.PathLike[str] | None = None,
    ) -> None:
        """Bind to ``tracking_uri`` and ``registry_uri``; stores are opened on first use."""
        self._tracking_uri = (
            config.get_tracking_uri() if tracking_uri is None else config.resolve_uri(tracking_uri)
        )
        self._registry_uri = config.resolve_uri(
            config.get_registry_uri(self._tracking_uri) if registry_uri is None else registry_uri
        )
        self._registry_store = None
        self._store: TrackingStore | None = None
        # Artifact URIs never change once a run exists; caching them saves a get_run per upload.
        self._artifact_uris: dict[str, str] = {}

    @property
    def tracking_uri(self) -> str:
        """The tracking URI this client talks to."""
        return self._tracking_uri

    @property
    def store(self) -> TrackingStore:
        """The tracking store behind this client."""
        if self._store is None:
            self._store = get_tracking_store(self._tracking_uri)
        return self._store

    def _writer(self) -> BatchWriter:
        return batch_writer.writer_for(self.store)

    def _sync(self) -> None:
        """Write what the fluent API queued for this store, so reads and writes stay ordered."""
        writer = batch_writer.existing_writer(self.store)
        if writer is not None and writer.has_pending():
            # Errors stay with the writer: they belong to the fluent calls that queued them.
            writer.flush(raise_errors=False)

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id; AlreadyExists if the name is taken."""
        validate_experiment_name(name)
        tag_pairs = [(k, validate_experiment_tag(k, v)) for k, v in (tags or {}).items()]
        return self.store.create_experiment(name, artifact_location, tag_pairs)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id (deleted ones too); ExperimentNotFound if absent."""
        return self.store.get_experiment(_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name (deleted ones too), or None."""
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments; pass ``.token`` back as ``page_token`` for the next."""
        return self.store.search_experiments(
            view_type=ViewType.normalize(view_type),
            max_results=max_results,
            filter_string=filter_string,
            order_by=order_by,
            page_token=page_token,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs."""
        self._sync()
        self.store.delete_experiment(_experiment_id(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and its runs."""
        self.store.restore_experiment(_experiment_id(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment a new, unused name."""
        validate_experiment_name(new_name)
        self.store.rename_experiment(_experiment_id(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set one experiment tag (values are stringified)."""
        text = validate_experiment_tag(key, value)
        self.store.set_experiment_tag(_experiment_id(experiment_id), key, text)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one experiment tag."""
        self.store.delete_experiment_tag(_experiment_id(experiment_id), key)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run. ``run_name`` may also come from the ``mlflow.runName`` tag."""
        tag_values = {k: validate_tag(k, v) for k, v in (tags or {}).items()}
        if run_name is None:
            run_name = tag_values.get(MLFLOW_RUN_NAME) or None
        elif MLFLOW_RUN_NAME in tag_values and tag_values[MLFLOW_RUN_NAME] != run_name:
            raise InvalidParameter(
                f"run_name {run_name!r} differs from tag {MLFLOW_RUN_NAME}="
                f"{tag_values[MLFLOW_RUN_NAME]!r}; pass the name once."
            )
        if run_name is not None:
            tag_values[MLFLOW_RUN_NAME] = run_name
        user_id = tag_values.get(MLFLOW_USER, "unknown")
        return self.store.create_run(
            experiment_id=_experiment_id(experiment_id),
            user_id=user_id,
            start_time=_now_ms() if start_time is None else start_time,
            tags=[RunTag(k, v) for k, v in tag_values.items()],
            run_name=run_name,
        )

    def get_run(self, run_id: str) -> Run:
        """The run with its params, latest metrics and tags; RunNotFound if absent."""
        # Work queued in the background for the run (autologging's model, plots, end) first.
        deferred.wait_for_run(run_id)
        self._sync()
        return self.store.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        """The parent of a nested run, or None for a top-level run."""
        parent_id = self.get_run(run_id).data.tags.get(MLFLOW_PARENT_RUN_ID)
        return None if parent_id is None else self.store.get_run(parent_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status and/or name; a terminal status also sets the end time."""
        self._sync()
        run_status = None if status is None else RunStatus.normalize(status)
        end_time = (
            _now_ms() if run_status is not None and RunStatus.is_terminated(run_status) else None
        )
        self.store.update_run_info(run_id, run_status=run_status, end_time=end_time, run_name=name)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run: status (default FINISHED) and end time (default now)."""
        self._sync()
        self.store.update_run_info(
            run_id,
            run_status=RunStatus.normalize(status or "FINISHED"),
            end_time=_now_ms() if end_time is None else end_time,
        )

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self._sync()
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching the filter; ``.token`` fetches the next page."""
        if deferred.pending():
            deferred.wait()  # runs autologging is still finishing in the background
        self._sync()
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        return self.store.search_runs(
            [_experiment_id(e) for e in experiment_ids],
            filter_string=filter_string or None,
            run_view_type=ViewType.normalize(run_view_type),
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    # -- logging -------------------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log one param (stringified) and return ``value``; InvalidParameter if it changed."""
        text = validate_param(key, value)
        if synchronous is False:
            self._queue(run_id, batch_writer.PARAM, Param(key, text))
        else:
            self._sync()
            self.store.log_param(run_id, Param(key, text))
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log one metric point (timestamp defaults to now, step to 0)."""
        val, ts, st = validate_metric(
            key, value, _now_ms() if timestamp is None else timestamp, step or 0
        )
        metric = Metric(key, val, ts, st)
        if synchronous is False:
            self._queue(run_id, batch_writer.METRIC, metric)
        else:
            self._sync()
            self.store.log_metric(run_id, metric)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        """Set one run tag (stringified)."""
        tag = RunTag(key, validate_tag(key, value))
        if synchronous is False:
            self._queue(run_id, batch_writer.TAG, tag)
        else:
            self._sync()
            self.store.set_tag(run_id, tag)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one run tag."""
        validate_key(key, "tag")
        self._sync()
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log many metrics, params and tags, split into store-sized batches.

        Each store batch is atomic; a call that needs several batches is not.
        """
        metric_list = [_checked_metric(m) for m in metrics]
        param_list = [Param(p.key, validate_param(p.key, p.value)) for p in params]
        tag_list = [RunTag(t.key, validate_tag(t.key, t.value)) for t in tags]
        # Duplicate param keys are an error wherever they fall; the chunks alone would not see it.
        validate_distinct_param_keys(p.key for p in param_list)
        if synchronous is False:
            writer = self._writer()
            writer.raise_errors()
            for kind, items in (
                (batch_writer.METRIC, metric_list),
                (batch_writer.PARAM, param_list),
                (batch_writer.TAG, tag_list),
            ):
                for item in items:
                    writer.add(run_id, kind, item)
            return
        self._sync()
        for m, p, t in batch_writer.chunk_batch(metric_list, param_list, tag_list):
            self.store.log_batch(run_id, metrics=m, params=p, tags=t)

    def _queue(self, run_id: str, kind: int, entity: Any) -> None:
        validate_run_id(run_id)
        writer = self._writer()
        writer.raise_errors()
        writer.add(run_id, kind, entity)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record the datasets (and MLflow 3 logged models) a run used.

        ``runlab.data`` datasets become :class:`DatasetInput` entities with
        :func:`runlab.data.dataset_input`; the fluent :func:`runlab.log_input` does that.
        """
        dataset_list = list(datasets or ())
        model_list = list(models or ())
        for item in dataset_list:
            if not isinstance(item, DatasetInput):
                raise InvalidParameter(
                    f"log_inputs takes DatasetInput entities, got {type(item).__name__}; use "
                    "runlab.log_input(dataset) for a runlab.data dataset."
                )
        for model in model_list:
            if not isinstance(getattr(model, "model_id", None), str):
                raise InvalidParameter(
                    f"log_inputs takes LoggedModelInput entities as models, got {model!r}."
                )
        store = self.store
        if model_list and not isinstance(store, LoggedModelStore):
            raise InvalidParameter(
                f"The tracking store at {self._tracking_uri} cannot record logged models as "
                "run inputs."
            )
        self._sync()
        if model_list:
            # Models first: an unknown model id is refused before any dataset is written.
            assert isinstance(store, LoggedModelStore)
            store.log_model_inputs(run_id, [LoggedModelInput(m.model_id) for m in model_list])
        if dataset_list or not model_list:
            # With neither, this still checks that the run exists, as the server does.
            store.log_inputs(run_id, dataset_list)

    def get_metric_history(self, run_id: str, key: str) -> Sequence[Metric]:
        """Every point of one metric of a run, oldest first.

        A read-only sequence of :class:`Metric`; the SQL store's is columnar, so the call stays
        fast for long histories and points are built only when touched.
        """
        self._sync()
        page = self.store.get_metric_history(run_id, key)
        if not page.token:
            return page
        points: list[Metric] = list(page)
        while page.token:
            page = self.store.get_metric_history(run_id, key, page_token=page.token)
            points.extend(page)
        return points

    # -- logged models -------------------------------------------------------------------------
    def _logged_model_store(self) -> LoggedModelStore:
        store = self.store
        if not isinstance(store, LoggedModelStore):
            raise InvalidParameter(
                f"The tracking store at {self._tracking_uri} cannot read logged models; "
                "use a runs:/ or models:/<name>/<version> URI instead."
            )
        self._sync()
        return store

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """The logged model ``model_id`` (``m-…``); ModelNotFound if absent or deleted."""
        return self._logged_model_store().get_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[str | Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of the active logged models of these experiments that match the filter.

        ``filter_string`` reads like ``name = 'model' AND metrics.acc > 0.9``; ``order_by``
        items are strings (``"creation_timestamp DESC"``, the default order) or MLflow's dicts
        (``{"field_name": ..., "ascending": ...}``). Pass ``page.token`` back for the next page.
        """
        return self._logged_model_store().search_logged_models(
            [_experiment_id(e) for e in experiment_ids],
            filter_string=filter_string,
            datasets=datasets,
            max_results=_LOGGED_MODEL_PAGE if max_results is None else max_results,
            order_by=order_by,
            page_token=page_token,
        )

    # -- artifacts -----------------------------------------------------------------------------
    def artifact_uri(self, run_id: str) -> str:
        """The root URI of a run's artifacts (runlab extension; cached, it never changes)."""
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self.get_run(run_id).info.artifact_uri
            self._artifact_uris[run_id] = uri
        return uri

    def _artifact_repo(self, run_id: str) -> contextlib.AbstractContextManager[Any]:
        """The run's artifact repository, closed afterwards (a proxy one holds connections)."""
        # mlflow-artifacts:/ roots are resolved against the tracking server this client uses.
        return _artifact_repository(self.artifact_uri(run_id), self._tracking_uri)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload one local file into the run's artifacts (under ``artifact_path``)."""
        with self._artifact_repo(run_id) as repo:
            repo.log_artifact(os.fspath(local_path), artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Upload a local folder's contents into the run's artifacts."""
        with self._artifact_repo(run_id) as repo:
            repo.log_artifacts(os.fspath(local_dir), artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The artifacts directly under ``path`` (default: the run's artifact root)."""
        with self._artifact_repo(run_id) as repo:
            return list(repo.list_artifacts(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download an artifact file or folder and return its local path."""
        with self._artifact_repo(run_id) as repo:
            return str(repo.download_artifacts(path, dst_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save ``text`` as the artifact ``artifact_file`` (e.g. ``"notes/summary.txt"``)."""
        from runlab.artifacts import rich_content

        with self._artifact_repo(run_id) as repo:
            rich_content.log_text(repo, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        from runlab.artifacts import rich_content

        with self._artifact_repo(run_id) as repo:
            rich_content.log_dict(repo, dictionary, artifact_file)

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Save a matplotlib or plotly figure as an artifact (format from the file extension)."""
        from runlab.artifacts import rich_content

        with self._artifact_repo(run_id) as repo:
            rich_content.log_figure(repo, figure, artifact_file, save_kwargs=save_kwargs)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None) -> None:
        """Save a numpy array or PIL image as an image artifact."""
        if artifact_file is None:
            raise InvalidParameter(
                "log_image needs artifact_file (e.g. 'images/sample.png'); logging image series "
                "by key and step is not supported yet."
            )
        from runlab.artifacts import rich_content

        with self._artifact_repo(run_id) as repo:
            rich_content.log_image(repo, image, artifact_file)

    # -- tables --------------------------------------------------------------------------------
    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a DataFrame or dict of columns as a .json/.parquet table artifact of the run.

        Rows are appended when the run already has that table; the table is listed in the
        run's ``mlflow.loggedArtifacts`` tag, as MLflow does (see :mod:`runlab.tracking.tables`).
        """
        from runlab.tracking import tables

        tables.log_table(self, run_id, data, artifact_file)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> Any:
        """The table ``artifact_file`` of the experiment's runs (or of ``run_ids``), as one
        pandas DataFrame; ``extra_columns`` adds run columns such as ``"run_id"``."""
        from runlab.tracking import tables

        return tables.load_table(
            self, _experiment_id(experiment_id), artifact_file, run_ids, extra_columns
        )


@contextlib.contextmanager
def _artifact_repository(root: str, tracking_uri: str | None) -> Iterator[Any]:
    """The artifact repository of ``root``, closed afterwards (a proxy one holds connections).

    ``mlflow-artifacts:/`` roots are resolved against the tracking server at ``tracking_uri``.
    """
    from runlab.artifacts.repository_factory import get_artifact_repository

    repo = get_artifact_repository(root, tracking_uri=tracking_uri)
    try:
        yield repo
    finally:
        close = getattr(repo, "close", None)
        if close is not None:
            close()


def _checked_metric(metric: Metric) -> Metric:
    value, timestamp, step = validate_metric(
        metric.key, metric.value, metric.timestamp, metric.step or 0
    )
    if value is metric.value and timestamp is metric.timestamp and step is metric.step:
        return metric
    return metric._replace(value=value, timestamp=timestamp, step=step)


#: MLflow's name for the client.
MlflowClient = Client
