"""The SQL tracking store: experiments, runs, params, tags, metrics and dataset inputs.

Every public method runs in one transaction; writes go through ``Database.write`` so that SQLite
writers queue instead of failing, and lock timeouts or deadlocks are retried from the start.
Database errors never leave this module: they become :mod:`runlab.errors` classes.
"""

from __future__ import annotations

import contextlib
import operator
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from runlab import uris
from runlab.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    MetricColumns,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunRows,
    RunStatus,
    RunTag,
    ViewType,
)
from runlab.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
    RunNotFound,
)
from runlab.search.page_token import decode_page_token, encode_page_token, query_fingerprint
from runlab.store.base import (
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_THRESHOLD,
    ExperimentActivity,
    ExperimentKeys,
    ReadableSet,
)
from runlab.store.sql import metric_downsample, metric_series, migrations, store_validation
from runlab.store.sql import schema as t
from runlab.store.sql.engine import Database
from runlab.store.sql.experiment_activity import experiment_activity
from runlab.store.sql.experiment_keys import experiment_keys
from runlab.store.sql.logged_models import LoggedModelMethods
from runlab.store.sql.run_loader import load_run_rows, load_runs
from runlab.store.sql.run_names import generate_run_name
from runlab.store.sql.search_compiler import select_experiment_ids
from runlab.store.sql.search_plan import PreparedSearches, RunSearchPlan, WalkDecisions
from runlab.store.sql.tail_cache import TailCache
from runlab.store.sql.upserts import upsert_rows

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
RUN_NAME_TAG = "mlflow.runName"


def _now_ms() -> int:
    return int(time.time() * 1000)


_INT64_MAX = 2**63 - 1


def _shown_id(identifier: object) -> str:
    """An id as a message shows it (as MLflow's do, unquoted), cut short if a request sent a
    long one."""
    text = str(identifier)
    return text if len(text) <= 100 else text[:100] + "..."


def _experiment_not_found(experiment_id: object, detail: str = "") -> ExperimentNotFound:
    """MLflow's "No Experiment with id=<id> exists" error, with ``detail`` after it."""
    return ExperimentNotFound(f"No Experiment with id={_shown_id(experiment_id)} exists{detail}")


def _check_run_id(run_id: object) -> None:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidParameter(f"run_id must be a non-empty string, got {run_id!r}.")


def _run_not_found(run_id: object) -> RunNotFound:
    """MLflow's "Run with id=<id> not found" error."""
    return RunNotFound(f"Run with id={_shown_id(run_id)} not found")


def _experiment_id_int(experiment_id: str | int) -> int:
    try:
        value = int(str(experiment_id))
    except ValueError:
        raise _experiment_not_found(experiment_id, ": experiment ids are integers.") from None
    # Ids are 64-bit columns: a larger number can name no experiment (and would overflow the
    # database driver's integer conversion instead of answering "not found").
    if value < 0 or value > _INT64_MAX:
        raise _experiment_not_found(experiment_id)
    return value


class SqlTrackingStore(LoggedModelMethods):
    """A TrackingStore on SQLite, PostgreSQL or MySQL/MariaDB.

    ``default_artifact_root`` is the URI under which new experiments get their artifact folder
    (``<root>/<experiment_id>``) when created without an explicit location.
    """

    #: Its experiments search takes ``readable=`` (see ReadableExperimentSearch).
    filters_readable = True

    def __init__(self, db_uri: str, default_artifact_root: str) -> None:
        self.db_uri = db_uri
        self.default_artifact_root = default_artifact_root
        self._db = Database(db_uri)
        # experiment id -> artifact_location, which never changes once an experiment exists.
        self._artifact_locations: dict[int, str] = {}
        # How recent SQLite searches read their first sort key (see search_plan).
        self._walk_decisions = WalkDecisions()
        # Searches asked again (the next page, a refresh) reuse their parsed statements.
        self._prepared_searches = PreparedSearches()
        # The ends of the metric series this process wrote last (PostgreSQL's log-batch).
        self._tails: TailCache[metric_series.KeptTail] = TailCache()
        migrations.ensure_schema(self._db.engine)
        self._ensure_default_experiment()

    def close(self) -> None:
        """Release database connections."""
        self._db.dispose()

    # -- experiments -------------------------------------------------------------------------

    def _ensure_default_experiment(self) -> None:
        with self._db.read() as conn:
            exists = conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.experiment_id == 0)
            ).first()
        if exists:
            return

        def work(conn: Connection) -> None:
            if conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.experiment_id == 0)
            ).first():
                return
            now = _now_ms()
            conn.execute(
                t.experiments.insert().values(
                    experiment_id=0,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=uris.append_to_uri_path(self.default_artifact_root, "0"),
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            )

        with contextlib.suppress(sa.exc.IntegrityError):  # another process created it first
            self._db.write(work)

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[tuple[str, str]] | Sequence[Any] | None = None,
    ) -> str:
        """Create an experiment and return its id; AlreadyExists if the name is taken."""
        store_validation.experiment_name(name)
        tag_pairs = store_validation.tag_pairs(tags or ())
        for key, value in tag_pairs:
            store_validation.experiment_tag(key, value)
        if artifact_location is not None and not isinstance(artifact_location, str):
            raise InvalidParameter("artifact_location must be a string URI.")

        def work(conn: Connection) -> str:
            if conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
            ).first():
                raise AlreadyExists(
                    f"An experiment named {name!r} already exists (it may be deleted: restore it "
                    "or pick another name)."
                )
            next_id = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(t.experiments.c.experiment_id), -1) + 1)
            ).scalar_one()
            now = _now_ms()
            location = artifact_location or uris.append_to_uri_path(
                self.default_artifact_root, str(next_id)
            )
            conn.execute(
                t.experiments.insert().values(
                    experiment_id=next_id,
                    name=name,
                    artifact_location=location,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            )
            if tag_pairs:
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": next_id, "key": k, "value": v} for k, v in tag_pairs],
                )
            return str(next_id)

        for _ in range(10):
            try:
                return self._db.write(work)
            except sa.exc.IntegrityError:
                # Two processes picked the same id (or name) at once; the name check decides.
                if self.get_experiment_by_name(name) is not None:
                    raise AlreadyExists(f"An experiment named {name!r} already exists.") from None
        raise InvalidState(f"Could not allocate an id for experiment {name!r}; try again.")

    def _experiment_rows_to_entities(
        self, conn: Connection, rows: Sequence[Any]
    ) -> list[Experiment]:
        ids = [row.experiment_id for row in rows]
        tag_map: dict[int, dict[str, str]] = {}
        for start in range(0, len(ids), 500):
            for tag in conn.execute(
                sa.select(t.experiment_tags).where(
                    t.experiment_tags.c.experiment_id.in_(ids[start : start + 500])
                )
            ):
                tag_map.setdefault(tag.experiment_id, {})[tag.key] = tag.value
        return [
            Experiment(
                experiment_id=str(row.experiment_id),
                name=row.name,
                artifact_location=row.artifact_location or "",
                lifecycle_stage=row.lifecycle_stage,
                tags=tag_map.get(row.experiment_id, {}),
                creation_time=row.creation_time,
                last_update_time=row.last_update_time,
            )
            for row in rows
        ]

    def _get_experiment_row(self, conn: Connection, experiment_id: str | int) -> Any:
        row = conn.execute(
            sa.select(t.experiments).where(
                t.experiments.c.experiment_id == _experiment_id_int(experiment_id)
            )
        ).first()
        if row is None:
            raise _experiment_not_found(experiment_id)
        return row

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id (deleted ones too); ExperimentNotFound if absent."""
        with self._db.read() as conn:
            row = self._get_experiment_row(conn, experiment_id)
            return self._experiment_rows_to_entities(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this exact name (deleted ones too), or None."""
        if not isinstance(name, str):
            raise InvalidParameter(f"Experiment name must be a string, got {type(name).__name__}.")
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is None:
                return None
            return self._experiment_rows_to_entities(conn, [row])[0]

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments matching the filter.

        ``readable`` (a permission-checking server's caller) keeps the search to those
        experiments, in the same SELECT, so every page is full and the page token counts only
        what the caller was shown.
        """
        vt = ViewType.normalize(view_type)
        store_validation.max_results(max_results, SEARCH_MAX_RESULTS_THRESHOLD)
        fingerprint = query_fingerprint(filter_string, order_by, ("experiments", vt))
        offset = decode_page_token(page_token, fingerprint)
        query = select_experiment_ids(
            filter_string, vt, order_by, max_results + 1, offset, self._db.backend, readable
        )
        with self._db.read() as conn:
            ids = [row[0] for row in conn.execute(query)]
            page = ids[:max_results]
            rows_by_id = (
                {
                    row.experiment_id: row
                    for row in conn.execute(
                        sa.select(t.experiments).where(t.experiments.c.experiment_id.in_(page))
                    )
                }
                if page
                else {}
            )
            found = self._experiment_rows_to_entities(conn, [rows_by_id[i] for i in page])
        token = (
            encode_page_token(offset + max_results, fingerprint) if len(ids) > max_results else None
        )
        return PagedList(found, token)

    def experiment_activity(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentActivity]:
        """Active-run count and last run start/end time of each experiment id given.

        Ids that name no experiment, or none with runs, map to zero runs; an id that is not an
        integer raises ExperimentNotFound like every other experiment call.
        """
        ids = [_experiment_id_int(i) for i in experiment_ids]
        with self._db.read() as conn:
            found = experiment_activity(conn, ids)
        return {
            str(i): found.get(i, ExperimentActivity(run_count=0, last_activity=None)) for i in ids
        }

    def experiment_keys(self, experiment_id: str) -> ExperimentKeys:
        """The distinct param, metric and tag keys of the experiment's runs, each sorted.

        An id that names no experiment has no keys; one that is not an integer raises
        ExperimentNotFound like every other experiment call.
        """
        exp_id = _experiment_id_int(experiment_id)
        with self._db.read() as conn:
            return experiment_keys(conn, exp_id)

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete the experiment and all of its runs."""
        exp_id = _experiment_id_int(experiment_id)
        if exp_id == 0:
            raise InvalidParameter("The Default experiment (id 0) cannot be deleted.")

        def work(conn: Connection) -> None:
            row = self._get_experiment_row(conn, exp_id)
            if row.lifecycle_stage == LifecycleStage.DELETED:
                raise InvalidState(f"Experiment {experiment_id!r} is already deleted.")
            now = _now_ms()
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == exp_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, last_update_time=now)
            )
            conn.execute(
                t.runs.update()
                .where(
                    t.runs.c.experiment_id == exp_id,
                    t.runs.c.lifecycle_stage == LifecycleStage.ACTIVE,
                )
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=now)
            )

        self._db.write(work)

    def restore_experiment(self, experiment_id: str) -> None:
        """Reactivate a deleted experiment and all of its runs."""
        exp_id = _experiment_id_int(experiment_id)

        def work(conn: Connection) -> None:
            row = self._get_experiment_row(conn, exp_id)
            if row.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidState(
                    f"Experiment {experiment_id!r} is not deleted; nothing to restore."
                )
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == exp_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=_now_ms())
            )
            conn.execute(
                t.runs.update()
                .where(t.runs.c.experiment_id == exp_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self._db.write(work)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; AlreadyExists if the new name is taken."""
        store_validation.experiment_name(new_name)
        exp_id = _experiment_id_int(experiment_id)

        def work(conn: Connection) -> None:
            row = self._get_experiment_row(conn, exp_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidState(
                    f"Cannot rename a non-active experiment. Experiment {experiment_id} is "
                    "deleted; restore it before renaming it."
                )
            clash = conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.name == new_name)
            ).first()
            if clash is not None and clash[0] != exp_id:
                raise AlreadyExists(f"An experiment named {new_name!r} already exists.")
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == exp_id)
                .values(name=new_name, last_update_time=_now_ms())
            )

        try:
            self._db.write(work)
        except sa.exc.IntegrityError:
            raise AlreadyExists(f"An experiment named {new_name!r} already exists.") from None

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a tag on an active experiment."""
        store_validation.experiment_tag(key, value)
        exp_id = _experiment_id_int(experiment_id)

        def work(conn: Connection) -> None:
            row = self._get_experiment_row(conn, exp_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise _experiment_not_active(experiment_id, row.lifecycle_stage, "")
            _upsert(
                conn, t.experiment_tags, {"experiment_id": exp_id, "key": key}, {"value": value}
            )

        self._db.write(work)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag from an active experiment; NotFound if it has no such tag."""
        exp_id = _experiment_id_int(experiment_id)

        def work(conn: Connection) -> None:
            row = self._get_experiment_row(conn, exp_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise _experiment_not_active(experiment_id, row.lifecycle_stage, "")
            result = conn.execute(
                t.experiment_tags.delete().where(
                    t.experiment_tags.c.experiment_id == exp_id, t.experiment_tags.c.key == key
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")

        self._db.write(work)

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a RUNNING run in an active experiment."""
        exp_id = _experiment_id_int(experiment_id)
        tag_list = list(tags or ())
        for tag in tag_list:
            store_validation.run_tag(tag.key, tag.value)
        name_from_tag = next((tag.value for tag in tag_list if tag.key == RUN_NAME_TAG), None)
        if run_name and name_from_tag and run_name != name_from_tag:
            raise InvalidParameter(
                f"Both run_name={run_name!r} and tag {RUN_NAME_TAG}={name_from_tag!r} were given; "
                "they must match (or give only one)."
            )
        name = run_name or name_from_tag or generate_run_name()
        store_validation.run_name(name)
        tag_list = [tag for tag in tag_list if tag.key != RUN_NAME_TAG] + [
            RunTag(RUN_NAME_TAG, name)
        ]
        final_tags = {tag.key: tag.value for tag in sorted(tag_list, key=lambda tag: tag.key)}
        run_id = uuid.uuid4().hex
        start = (
            _now_ms()
            if start_time is None
            else store_validation.timestamp(int(start_time), "start_time")
        )

        def work(conn: Connection) -> RunInfo:
            values: dict[str, Any] = {
                "run_id": run_id,
                "experiment_id": exp_id,
                "name": name,
                "user_id": user_id or "",
                "status": "RUNNING",
                "start_time": start,
                "end_time": None,
                "lifecycle_stage": LifecycleStage.ACTIVE,
            }
            if not self._insert_run_row(conn, values, final_tags):
                row = self._get_experiment_row(conn, exp_id)
                if row.lifecycle_stage != LifecycleStage.ACTIVE:
                    raise _experiment_not_active(
                        experiment_id,
                        row.lifecycle_stage,
                        " Restore it, or create the run in an active experiment.",
                    )
                if len(self._artifact_locations) > _ARTIFACT_LOCATIONS_CACHED:
                    self._artifact_locations.clear()
                self._artifact_locations[exp_id] = row.artifact_location
                values["artifact_uri"] = _run_artifact_uri(row.artifact_location, run_id)
                conn.execute(t.runs.insert(), values)
                conn.execute(
                    t.tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in final_tags.items()],
                )
            return RunInfo(
                run_id=run_id,
                experiment_id=str(exp_id),
                run_name=name,
                user_id=values["user_id"],
                status="RUNNING",
                start_time=start,
                end_time=None,
                artifact_uri=values["artifact_uri"],
                lifecycle_stage=LifecycleStage.ACTIVE,
            )

        # The new run is exactly what was inserted: no need to read it back.
        info = self._db.write(work)
        return Run(info=info, data=RunData(tags=final_tags))

    def _insert_run_row(
        self, conn: Connection, values: dict[str, Any], run_tags: dict[str, str]
    ) -> bool:
        """Insert the run and its tags if its experiment is known, active and unchanged.

        Creating a run is a hot path (a sweep creates thousands); with the experiment's
        artifact location cached, the experiment is checked inside the INSERT itself and the
        separate SELECT round trip is saved. On PostgreSQL the tags ride in the same statement
        (a data-modifying CTE). False means nothing was inserted: the caller reads the
        experiment and reports or refreshes.
        """
        location = self._artifact_locations.get(values["experiment_id"])
        if location is None:
            return False
        values["artifact_uri"] = _run_artifact_uri(location, values["run_id"])
        if self._db.backend == "postgresql":
            inserted = conn.execute(
                _INSERT_RUN_AND_TAGS_PG,
                {
                    **values,
                    "location": location,
                    "tag_keys": list(run_tags),
                    "tag_values": list(run_tags.values()),
                },
            )
            return inserted.rowcount == len(run_tags)
        inserted = conn.execute(_INSERT_RUN_IF_ACTIVE, {**values, "location": location})
        if inserted.rowcount != 1:
            return False
        conn.execute(
            t.tags.insert(),
            [{"run_id": values["run_id"], "key": k, "value": v} for k, v in run_tags.items()],
        )
        return True

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        _check_run_id(run_id)
        row = conn.execute(_SELECT_RUN, {"run_id": run_id}).first()
        if row is None:
            raise _run_not_found(run_id)
        return row

    def _active_run_row(self, conn: Connection, run_id: str) -> Any:
        row = self._run_row(conn, run_id)
        _check_active(row.lifecycle_stage, run_id)
        return row

    def get_run(self, run_id: str) -> Run:
        """The run with this id; RunNotFound if absent."""
        with self._db.read() as conn:
            self._run_row(conn, run_id)
            return load_runs(conn, [run_id])[0]

    def update_run_info(
        self,
        run_id: str,
        run_status: str | int | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Apply the given fields (status, end time, name) and return the new info."""
        changes: dict[str, Any] = {}
        if run_status is not None:
            changes["status"] = RunStatus.normalize(run_status)
        if end_time is not None:
            changes["end_time"] = store_validation.timestamp(end_time, "end_time")
        if run_name:
            store_validation.run_name(run_name)
            changes["name"] = run_name

        def work(conn: Connection) -> RunInfo:
            row = self._active_run_row(conn, run_id)
            if changes:
                conn.execute(t.runs.update().where(t.runs.c.run_id == run_id).values(**changes))
            if run_name:
                _upsert(conn, t.tags, {"run_id": run_id, "key": RUN_NAME_TAG}, {"value": run_name})
            # The row as it now stands, from this transaction: no second read of the whole run.
            return _run_info({**row._mapping, **changes})

        return self._db.write(work)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""

        def work(conn: Connection) -> None:
            self._run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id == run_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=_now_ms())
            )

        self._db.write(work)

    def restore_run(self, run_id: str) -> None:
        """Reactivate a deleted run (its experiment must be active)."""

        def work(conn: Connection) -> None:
            row = self._run_row(conn, run_id)
            exp = self._get_experiment_row(conn, row.experiment_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidState(
                    f"Run {run_id} belongs to deleted experiment {exp.experiment_id}; restore the "
                    "experiment instead."
                )
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id == run_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self._db.write(work)

    # -- logging -----------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags in one transaction: all of them or none."""
        params, tags = list(params), list(tags)
        metrics = store_validation.batch(
            metrics if type(metrics) is MetricColumns else list(metrics), params, tags
        )
        new_params = {p.key: p.value for p in params}
        grouped: dict[str, metric_series.KeyPoints] = {}

        def points() -> dict[str, metric_series.KeyPoints]:
            # Computed once, however often the transaction runs; on psycopg while the database
            # takes the run's lock, elsewhere before the transaction starts (below).
            if metrics and not grouped:
                grouped.update(metric_series.group_points(metrics))
            return grouped

        for_models = bool(metrics) and (
            type(metrics) is not MetricColumns and any(map(_MODEL_ID_OF, metrics))
        )
        metrics_only = bool(metrics) and not (new_params or tags or for_models)
        commits_itself = metrics_only and metric_series.commits_itself(self._db.engine.dialect)
        if not commits_itself:
            points()  # before the transaction: SQLite writers hold one lock for all of it

        def check_stage(stage: str | None) -> None:
            if stage is None:
                raise _run_not_found(run_id)
            _check_active(stage, run_id)

        def work(conn: Connection) -> None:
            locked = None
            if commits_itself:
                # The whole transaction in two round trips, committed there.
                _check_run_id(run_id)
                keys = metrics.keys if type(metrics) is MetricColumns else [m.key for m in metrics]
                metric_series.append_and_commit(
                    conn, run_id, list(dict.fromkeys(keys)), points, check_stage, self._tails
                )
                return
            if new_params:
                self._insert_params(conn, run_id, new_params)
            elif metrics and metric_series.locks_runs(conn):
                # The lock the metric append needs reads the run's state too (and, on
                # PostgreSQL, the series' tails): one round trip.
                _check_run_id(run_id)
                locked = metric_series.lock_run(conn, run_id, list(points()))
                check_stage(locked.stage)
            else:
                self._active_run_row(conn, run_id)
            if tags:
                self._upsert_tags(conn, run_id, tags)
            if metrics:
                # Tails this process kept for the run will not match what this writes.
                self._tails.drop(run_id)
                metric_series.append_metrics(conn, run_id, points(), locked=locked)
                if for_models:
                    # Points logged for a model go to the model too, in the same transaction.
                    self._write_model_metrics(conn, run_id, metrics)

        self._db.write(work)

    def _insert_params(self, conn: Connection, run_id: str, new: dict[str, str]) -> None:
        """Insert params the run lacks, refusing changed values; also checks the run is active."""
        _check_run_id(run_id)
        # One round trip reads both the run's state and the params already logged.
        rows = conn.execute(_SELECT_RUN_AND_PARAMS, {"run_id": run_id, "keys": list(new)}).all()
        if not rows:
            raise _run_not_found(run_id)
        _check_active(rows[0].lifecycle_stage, run_id)
        existing = {row.key: row.value for row in rows if row.key is not None}
        for key, value in new.items():
            if key in existing and existing[key] != value:
                raise InvalidParameter(
                    f"Changing param values is not allowed. Param with key={key!r} was already "
                    f"logged with value={existing[key]!r} for run ID={run_id!r}. Attempted logging "
                    f"new value {value!r}. Log it under a new key, or start a new run."
                )
        missing = [
            {"run_id": run_id, "key": k, "value": v} for k, v in new.items() if k not in existing
        ]
        if missing:
            conn.execute(t.params.insert(), missing)

    def _upsert_tags(self, conn: Connection, run_id: str, new_tags: Sequence[RunTag]) -> None:
        final = {t.key: t.value for t in new_tags}
        upsert_rows(
            conn, t.tags, [{"run_id": run_id, "key": k, "value": v} for k, v in final.items()]
        )
        if final.get(RUN_NAME_TAG):
            # The run name lives in both places, as in MLflow; keep them equal.
            conn.execute(
                t.runs.update().where(t.runs.c.run_id == run_id).values(name=final[RUN_NAME_TAG])
            )

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """One metric point."""
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        """One param; InvalidParameter if the key already holds another value."""
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set (or overwrite) one tag."""
        self.log_batch(run_id, tags=[tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; NotFound if the run has no such tag."""

        def work(conn: Connection) -> None:
            self._active_run_row(conn, run_id)
            result = conn.execute(
                t.tags.delete().where(t.tags.c.run_id == run_id, t.tags.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"No tag with name: {key} in run with id {run_id}")

        self._db.write(work)

    def log_inputs(self, run_id: str, datasets_in: Sequence[DatasetInput]) -> None:
        """Record datasets the run used (a dataset is stored once per experiment)."""
        for item in datasets_in:
            store_validation.dataset_input(item)

        def work(conn: Connection) -> None:
            row = self._active_run_row(conn, run_id)
            for item in datasets_in:
                ds = item.dataset
                existing = conn.execute(
                    sa.select(t.datasets.c.dataset_id).where(
                        t.datasets.c.experiment_id == row.experiment_id,
                        t.datasets.c.name == ds.name,
                        t.datasets.c.digest == ds.digest,
                    )
                ).first()
                if existing is not None:
                    dataset_id = existing[0]
                else:
                    dataset_id = uuid.uuid4().hex
                    conn.execute(
                        t.datasets.insert().values(
                            dataset_id=dataset_id,
                            experiment_id=row.experiment_id,
                            name=ds.name,
                            digest=ds.digest,
                            source_type=ds.source_type,
                            source=ds.source,
                            schema=ds.schema,
                            profile=ds.profile,
                        )
                    )
                linked = conn.execute(
                    sa.select(t.inputs.c.run_id).where(
                        t.inputs.c.run_id == run_id, t.inputs.c.dataset_id == dataset_id
                    )
                ).first()
                if linked is None:
                    conn.execute(t.inputs.insert().values(run_id=run_id, dataset_id=dataset_id))
                for tag in item.tags:
                    _upsert(
                        conn,
                        t.input_tags,
                        {"run_id": run_id, "dataset_id": dataset_id, "key": tag.key},
                        {"value": tag.value},
                    )

        self._db.write(work)

    # -- reading -----------------------------------------------------------------------------

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        """Every point of one metric in (timestamp, step, value) order, optionally paged."""
        if max_results is not None:
            store_validation.max_results(max_results, None)
        with self._db.read() as conn:
            self._run_row(conn, run_id)
            history = metric_series.read_history(conn, run_id, metric_key)
        if max_results is None and not page_token:
            return history
        fingerprint = query_fingerprint(None, None, ("history", run_id, metric_key))
        offset = decode_page_token(page_token, fingerprint)
        end = offset + max_results if max_results is not None else len(history)
        token = encode_page_token(end, fingerprint) if end < len(history) else None
        return MetricHistory(
            metric_key,
            history.steps[offset:end],
            history.timestamps[offset:end],
            history.values[offset:end],
            token=token,
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs of these experiments that match the filter, in order."""
        rows, token = self.search_run_rows(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )
        return PagedList(rows.runs(), token)

    def search_run_rows(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[RunRows, str | None]:
        """:meth:`search_runs` as grouped values (see RunRows) and the next page's token."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        exp_ids = sorted({store_validation.search_experiment_id(e) for e in experiment_ids})
        vt = ViewType.normalize(run_view_type)
        store_validation.max_results(max_results, SEARCH_MAX_RESULTS_THRESHOLD)
        if isinstance(order_by, str):
            order_by = [order_by]
        fingerprint = query_fingerprint(filter_string, order_by, ("runs", vt, *exp_ids))
        offset = decode_page_token(page_token, fingerprint)
        if not exp_ids:
            return RunRows.empty(), None
        self._db.refresh_search_statistics()
        # One row more than the page tells whether there is a next page.
        prepared = self._prepared_searches.get(
            exp_ids, filter_string, vt, order_by, self._db.backend
        )
        plan = RunSearchPlan(
            prepared.query, max_results + 1, offset, self._walk_decisions, prepared
        )
        with self._db.read() as conn:
            if self._db.backend == "postgresql":
                # The search statements list their tables in the order to join them (the
                # table that drives an index walk first). Left free, PostgreSQL spends ~2 ms
                # planning a five-way join, longer than running it at a few thousand runs.
                # And every search is planned for its own values: psycopg prepares a statement
                # run five times, and PostgreSQL then may switch to a generic plan that ignores
                # the filter's values; for a metric+param+tag filter over 1,000 runs that plan
                # took 220 ms against 5 ms. Both settings end with the transaction.
                conn.exec_driver_sql(_PG_SEARCH_SETTINGS)
            ids = plan.run_ids(conn)
            # On PostgreSQL the loader's statements (one array of ids each) are the same every
            # time: planned once, not per call, they cost about a third less.
            found = load_run_rows(
                conn,
                ids[:max_results],
                settings_sql=_PG_LOADER_SETTINGS if self._db.backend == "postgresql" else None,
            )
        token = (
            encode_page_token(offset + max_results, fingerprint) if len(ids) > max_results else None
        )
        return found, token

    def get_metric_downsampled(
        self,
        run_id: str,
        key: str,
        buckets: int = metric_downsample.DEFAULT_BUCKETS,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[metric_downsample.MetricBucket]:
        """One metric cut into ``buckets`` step buckets with min/max/last/count (for charts)."""
        metric_downsample.check_request(buckets, start_step, end_step)
        with self._db.read() as conn:
            self._run_row(conn, run_id)
            return metric_downsample.downsample(conn, run_id, key, buckets, start_step, end_step)


_MODEL_ID_OF = operator.attrgetter("model_id")

#: Per-transaction planner settings for a runs search on PostgreSQL, in one round trip.
_PG_SEARCH_SETTINGS = (
    "SELECT set_config('join_collapse_limit', '1', true), "
    "set_config('plan_cache_mode', 'force_custom_plan', true)"
)

#: Kept plans for the page's loader, after the search statement's per-call plan: its statements
#: look up an array of ids, which one plan serves whatever the ids (PostgreSQL's own choice,
#: 'auto', plans the first five calls of each for their values before it keeps one).
_PG_LOADER_SETTINGS = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"

#: Experiments whose artifact location a store remembers before it starts over.
_ARTIFACT_LOCATIONS_CACHED = 10_000
_RUN_COLUMNS = (
    "run_id",
    "experiment_id",
    "name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
)
# INSERT INTO runs (...) SELECT :run_id, experiment_id, ... FROM experiments WHERE the experiment
# is active and still has the artifact location the run's URI was built from.
_INSERT_RUN_FROM_EXPERIMENT = t.runs.insert().from_select(
    list(_RUN_COLUMNS),
    sa.select(
        *(
            t.experiments.c.experiment_id
            if name == "experiment_id"
            else sa.bindparam(name, type_=t.runs.c[name].type)
            for name in _RUN_COLUMNS
        )
    ).where(
        t.experiments.c.experiment_id == sa.bindparam("experiment_id"),
        t.experiments.c.lifecycle_stage == LifecycleStage.ACTIVE,
        t.experiments.c.artifact_location == sa.bindparam("location"),
    ),
)
# SQLAlchemy keeps INSERT row counts only if asked.
_INSERT_RUN_IF_ACTIVE = _INSERT_RUN_FROM_EXPERIMENT.execution_options(preserve_rowcount=True)


def _insert_run_and_tags_pg() -> Any:
    """WITH new_run AS (INSERT INTO runs ... RETURNING run_id) INSERT INTO tags SELECT
    new_run.run_id, key, value FROM new_run, unnest(:tag_keys, :tag_values): one round trip."""
    new_run = _INSERT_RUN_FROM_EXPERIMENT.returning(t.runs.c.run_id).cte("new_run")
    text_array = postgresql.ARRAY(sa.String)
    pairs = (
        sa.func.unnest(
            sa.bindparam("tag_keys", type_=text_array),
            sa.bindparam("tag_values", type_=text_array),
        )
        .table_valued("key", "value")
        .render_derived()
    )
    return (
        t.tags.insert()
        .from_select(
            ["run_id", "key", "value"],
            sa.select(new_run.c.run_id, pairs.c.key, pairs.c.value).select_from(
                new_run.join(pairs, sa.true())
            ),
        )
        .execution_options(preserve_rowcount=True)
    )


_INSERT_RUN_AND_TAGS_PG = _insert_run_and_tags_pg()


def _run_info(row: Mapping[str, Any]) -> RunInfo:
    """A RunInfo from a runs row's columns (as the run loader builds it)."""
    return RunInfo(
        run_id=row["run_id"],
        experiment_id=str(row["experiment_id"]),
        run_name=row["name"] or "",
        user_id=row["user_id"] or "",
        status=row["status"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        artifact_uri=row["artifact_uri"] or "",
        lifecycle_stage=row["lifecycle_stage"],
    )


def _run_artifact_uri(artifact_location: str, run_id: str) -> str:
    return uris.append_to_uri_path(artifact_location, run_id, "artifacts")


# Built once: every log-batch without params and every run update reads the run's row, and
# building the statement each time cost more than running it.
_SELECT_RUN = sa.select(t.runs).where(t.runs.c.run_id == sa.bindparam("run_id"))

_SELECT_RUN_AND_PARAMS = (
    sa.select(t.runs.c.lifecycle_stage, t.params.c.key, t.params.c.value)
    .select_from(
        t.runs.outerjoin(
            t.params,
            sa.and_(
                t.params.c.run_id == t.runs.c.run_id,
                t.params.c.key.in_(sa.bindparam("keys", expanding=True)),
            ),
        )
    )
    .where(t.runs.c.run_id == sa.bindparam("run_id"))
)


def _check_active(lifecycle_stage: str, run_id: str) -> None:
    if lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidState(
            f"The run {run_id} must be in the 'active' state. Current state is "
            f"{lifecycle_stage}. Restore it first."
        )


def _experiment_not_active(
    experiment_id: object, lifecycle_stage: str, advice: str
) -> InvalidState:
    """MLflow's error for changing a deleted experiment, with runlab's ``advice`` after it."""
    return InvalidState(
        f"The experiment {experiment_id} must be in the 'active' state. Current state is "
        f"{lifecycle_stage}.{advice or ' Restore it first.'}"
    )


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row with this primary key, or insert it (portable across the three backends)."""
    condition = sa.and_(*(table.c[name] == value for name, value in key.items()))
    result = conn.execute(table.update().where(condition).values(**values))
    if result.rowcount == 0:
        conn.execute(table.insert().values(**key, **values))
