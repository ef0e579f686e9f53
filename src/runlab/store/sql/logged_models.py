"""Logged models in the SQL store (MLflow 3's ``log_model`` path), as a mixin of SqlTrackingStore.

A logged model lives in an experiment, starts PENDING while its files upload, and is finalized
READY or UPLOAD_FAILED. It has tags (mutable), params (immutable, like run params) and metrics
(points copied from runs, each with the run and dataset it was measured on). Runs link to models
as outputs (``runs/outputs``) and inputs (``runs/log-inputs`` with models).

Every public method is one transaction and raises :mod:`runlab.errors` classes; everything is
validated before the transaction starts, so a bad argument leaves nothing half-written. A deleted
model is hidden: reads need ``allow_deleted=True`` and writes answer ModelNotFound.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab import uris, validation
from runlab.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
)
from runlab.errors import InvalidParameter, InvalidState, ModelNotFound, NotFound
from runlab.search.logged_model_grammar import parse_datasets, parse_logged_model_order_by
from runlab.search.page_token import decode_page_token, encode_page_token, query_fingerprint
from runlab.store.base import SEARCH_MAX_RESULTS_THRESHOLD
from runlab.store.sql import schema as t
from runlab.store.sql import store_validation
from runlab.store.sql.logged_model_search import select_logged_model_ids
from runlab.store.sql.metric_series import from_db_value, to_db_value
from runlab.store.sql.run_names import generate_run_name

if TYPE_CHECKING:
    from runlab.store.sql.engine import Database

__all__ = ["LOGGED_MODEL_SEARCH_MAX_RESULTS_DEFAULT", "LoggedModelMethods"]

#: The server default of ``logged-models/search`` in MLflow.
LOGGED_MODEL_SEARCH_MAX_RESULTS_DEFAULT = 100

#: Characters a logged model name must not contain (the name becomes part of paths and URIs).
FORBIDDEN_NAME_CHARS = "/:.%\"'"

# Tags or params: a dict, (key, value) pairs, or objects with .key and .value.
KeyValues: TypeAlias = Mapping[str, str] | Iterable[Any]

#: The width of the column that keeps a logged model's source run id.
_SOURCE_RUN_ID_MAX: int = t.logged_models.c.source_run_id.type.length  # type: ignore[attr-defined]

# Keeps IN lists well below every backend's bound-parameter limit.
_ID_BATCH = 500


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- validation ----------------------------------------------------------------------------------


def _model_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidParameter(
            f"The logged model name must be a string, got {type(name).__name__} {name!r}."
        )
    if not name.strip():
        raise InvalidParameter("The logged model name is blank; give the model a name or omit it.")
    if len(name) > t.LOGGED_MODEL_NAME_MAX:
        raise InvalidParameter(
            f"The logged model name is {len(name)} characters long; names may have at most "
            f"{t.LOGGED_MODEL_NAME_MAX}."
        )
    bad = sorted({ch for ch in name if ch in FORBIDDEN_NAME_CHARS})
    if bad:
        raise InvalidParameter(
            f"Invalid logged model name {name!r}: it contains {' '.join(bad)}; names must not "
            f"contain any of {' '.join(FORBIDDEN_NAME_CHARS)} (they become part of paths)."
        )
    return name


def _model_type(model_type: Any) -> str | None:
    if model_type is None:
        return None
    if not isinstance(model_type, str):
        raise InvalidParameter(f"model_type must be a string, got {type(model_type).__name__}.")
    if len(model_type) > t.LOGGED_MODEL_NAME_MAX:
        raise InvalidParameter(
            f"model_type is {len(model_type)} characters long; at most "
            f"{t.LOGGED_MODEL_NAME_MAX} are allowed."
        )
    return model_type


def _tags(tags: KeyValues | None) -> dict[str, str]:
    pairs = store_validation.tag_pairs(tags or ())
    for key, value in pairs:
        store_validation.run_tag(key, value)  # same key and value rules as run tags
    return dict(pairs)


def _params(params: KeyValues | None) -> dict[str, str]:
    pairs = store_validation.tag_pairs(params or ())
    validation.validate_distinct_param_keys(key for key, _ in pairs)
    for key, value in pairs:
        if not isinstance(value, str):
            raise InvalidParameter(f"The value of param {key!r} must be a string.")
        validation.validate_param(key, value)
    return dict(pairs)


def _source_run_id(run_id: Any) -> str:
    """The form of a source run id (whether the run exists is not checked)."""
    if not isinstance(run_id, str) or not run_id:
        raise InvalidParameter(f"source_run_id must be a run id string, got {run_id!r}.")
    if len(run_id) > _SOURCE_RUN_ID_MAX:
        raise InvalidParameter(
            f"source_run_id is {len(run_id)} characters long; run ids have at most "
            f"{_SOURCE_RUN_ID_MAX}."
        )
    return validation.validate_run_id(run_id)


def _model_id_text(model_id: Any) -> str:
    if not isinstance(model_id, str) or not model_id:
        raise InvalidParameter(f"model_id must be a non-empty string, got {model_id!r}.")
    return model_id


def _optional_text(value: Any, field: str, limit: int) -> str:
    """A dataset name or digest of a metric point: "" when absent (see schema.py)."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidParameter(f"Metric {field} must be a string of at most {limit} characters.")
    return value


def _metric_rows(
    model_id: str, run_id: str | None, metrics: Sequence[Metric]
) -> list[dict[str, Any]]:
    rows = []
    for m in metrics:
        value, timestamp, step = validation.validate_metric(m.key, m.value, m.timestamp, m.step)
        point_run = run_id if run_id is not None else m.run_id
        if point_run is not None and not isinstance(point_run, str):
            raise InvalidParameter(f"Metric {m.key!r} has a run_id that is not a string.")
        rows.append(
            {
                "model_id": model_id,
                "key": m.key,
                "value": to_db_value(value),
                "is_nan": math.isnan(value),
                "timestamp": timestamp,
                "step": step,
                "run_id": point_run,
                "dataset_name": _optional_text(m.dataset_name, "dataset_name", t.DATASET_NAME_MAX),
                "dataset_digest": _optional_text(
                    m.dataset_digest, "dataset_digest", t.DATASET_DIGEST_MAX
                ),
            }
        )
    return rows


def _point_identity(row: Mapping[Any, Any]) -> tuple[Any, ...]:
    return (
        row["key"],
        row["step"],
        row["timestamp"],
        row["value"],
        row["is_nan"],
        row["run_id"],
        row["dataset_name"],
        row["dataset_digest"],
    )


# -- loading -------------------------------------------------------------------------------------


def load_logged_models(conn: Connection, model_ids: Sequence[str]) -> list[LoggedModel]:
    """The models with these ids, in the same order, with tags, params and metrics (four queries
    per 500 ids); ids that do not exist are left out."""
    rows: dict[str, Any] = {}
    model_tags: dict[str, dict[str, str]] = {}
    model_params: dict[str, dict[str, str]] = {}
    model_metrics: dict[str, list[Metric]] = {}
    for start in range(0, len(model_ids), _ID_BATCH):
        batch = list(model_ids[start : start + _ID_BATCH])
        for row in conn.execute(
            sa.select(t.logged_models).where(t.logged_models.c.model_id.in_(batch))
        ):
            rows[row.model_id] = row
        for row in conn.execute(
            sa.select(t.logged_model_tags).where(t.logged_model_tags.c.model_id.in_(batch))
        ):
            model_tags.setdefault(row.model_id, {})[row.key] = row.value
        for row in conn.execute(
            sa.select(t.logged_model_params).where(t.logged_model_params.c.model_id.in_(batch))
        ):
            model_params.setdefault(row.model_id, {})[row.key] = row.value
        points = t.logged_model_metrics
        for row in conn.execute(
            sa.select(points)
            .where(points.c.model_id.in_(batch))
            .order_by(
                points.c.model_id, points.c.key, points.c.step, points.c.timestamp, points.c.id
            )
        ):
            model_metrics.setdefault(row.model_id, []).append(
                Metric(
                    row.key,
                    from_db_value(row.value, row.is_nan),
                    row.timestamp,
                    row.step,
                    row.dataset_name or None,
                    row.dataset_digest or None,
                    row.model_id,
                    row.run_id,
                )
            )
    return [
        LoggedModel(
            model_id=row.model_id,
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_location=row.artifact_location,
            creation_timestamp=row.creation_timestamp,
            last_updated_timestamp=row.last_updated_timestamp,
            status=row.status,
            status_message=row.status_message,
            model_type=row.model_type,
            source_run_id=row.source_run_id,
            lifecycle_stage=row.lifecycle_stage,
            tags=model_tags.get(row.model_id, {}),
            params=model_params.get(row.model_id, {}),
            metrics=model_metrics.get(row.model_id, []),
        )
        for row in (rows.get(model_id) for model_id in model_ids)
        if row is not None
    ]


# -- the mixin -----------------------------------------------------------------------------------


class LoggedModelMethods:
    """Logged-model methods of :class:`~runlab.store.sql.tracking.SqlTrackingStore`.

    Relies on the store's ``_db`` and its experiment and run row helpers.
    """

    if TYPE_CHECKING:
        _db: Database

        def _get_experiment_row(self, conn: Connection, experiment_id: str | int) -> Any: ...

        def _run_row(self, conn: Connection, run_id: str) -> Any: ...

        def _active_run_row(self, conn: Connection, run_id: str) -> Any: ...

    # -- helpers ---------------------------------------------------------------------------------

    def _logged_model_row(
        self, conn: Connection, model_id: str, allow_deleted: bool = False
    ) -> Any:
        row = conn.execute(
            sa.select(t.logged_models).where(t.logged_models.c.model_id == _model_id_text(model_id))
        ).first()
        if row is None:
            raise ModelNotFound(f"Logged model with ID '{model_id}' not found.")
        if row.lifecycle_stage != LifecycleStage.ACTIVE and not allow_deleted:
            raise ModelNotFound(f"Logged model with ID '{model_id}' not found. It was deleted.")
        return row

    def _touch_logged_model(self, conn: Connection, model_id: str, **values: Any) -> None:
        conn.execute(
            t.logged_models.update()
            .where(t.logged_models.c.model_id == model_id)
            .values(last_updated_timestamp=_now_ms(), **values)
        )

    def _insert_logged_model_params(
        self, conn: Connection, model_id: str, new: dict[str, str]
    ) -> None:
        table = t.logged_model_params
        existing = {
            row.key: row.value
            for row in conn.execute(
                sa.select(table.c.key, table.c.value).where(
                    table.c.model_id == model_id, table.c.key.in_(list(new))
                )
            )
        }
        for key, value in new.items():
            if key in existing and existing[key] != value:
                raise InvalidParameter(
                    f"Changing param values is not allowed. Param {key!r} of logged model "
                    f"{model_id!r} already has value {existing[key]!r}; attempted to log "
                    f"{value!r}. Log it under a new key, or log a new model."
                )
        rows = [
            {"model_id": model_id, "key": k, "value": v}
            for k, v in new.items()
            if k not in existing
        ]
        if rows:
            conn.execute(table.insert(), rows)

    def _write_logged_model_metrics(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert metric rows, leaving out points the model already has (a resent batch)."""
        if not rows:
            return
        table = t.logged_model_metrics
        model_ids = sorted({row["model_id"] for row in rows})
        keys = sorted({row["key"] for row in rows})
        known = {
            (row.model_id, *_point_identity(row._mapping))
            for row in conn.execute(
                sa.select(table).where(table.c.model_id.in_(model_ids), table.c.key.in_(keys))
            )
        }
        fresh = []
        for row in rows:
            identity = (row["model_id"], *_point_identity(row))
            if identity not in known:
                known.add(identity)
                fresh.append(row)
        if fresh:
            conn.execute(table.insert(), fresh)

    def _write_model_metrics(
        self, conn: Connection, run_id: str, metrics: Sequence[Metric]
    ) -> None:
        """Store the points of ``metrics`` that name a model, inside the caller's transaction.

        ``log_batch`` may call this in its own transaction so a run's metric and its model copy
        are written together; points without ``model_id`` are ignored.
        """
        by_model: dict[str, list[Metric]] = {}
        for m in metrics:
            if m.model_id:
                by_model.setdefault(_model_id_text(m.model_id), []).append(m)
        rows: list[dict[str, Any]] = []
        for model_id, points in by_model.items():
            self._logged_model_row(conn, model_id)
            rows += _metric_rows(model_id, run_id, points)
        self._write_logged_model_metrics(conn, rows)

    # -- create, read, finalize, delete ----------------------------------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: KeyValues | None = None,
        params: KeyValues | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING logged model in an active experiment and return it.

        A missing name is made up. The artifact location is
        ``<experiment artifact location>/models/<model_id>/artifacts``. ExperimentNotFound if
        the experiment is absent, InvalidState if it is deleted. ``source_run_id`` is recorded
        as given, as MLflow does: the run may live in another tracking store.
        """
        model_name = generate_run_name() if name is None else _model_name(name)
        tag_map = _tags(tags)
        param_map = _params(params)
        kind = _model_type(model_type)
        if source_run_id is not None:
            _source_run_id(source_run_id)
        model_id = f"m-{uuid.uuid4().hex}"

        def work(conn: Connection) -> LoggedModel:
            experiment = self._get_experiment_row(conn, experiment_id)
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidState(
                    f"Experiment {experiment_id!r} is deleted: restore it, or log the model to "
                    "an active experiment."
                )
            now = _now_ms()
            conn.execute(
                t.logged_models.insert().values(
                    model_id=model_id,
                    experiment_id=experiment.experiment_id,
                    name=model_name,
                    artifact_location=uris.append_to_uri_path(
                        experiment.artifact_location or "", "models", model_id, "artifacts"
                    ),
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    status=LoggedModelStatus.to_string(LoggedModelStatus.PENDING),
                    status_message=None,
                    model_type=kind,
                    source_run_id=source_run_id,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                )
            )
            if tag_map:
                conn.execute(
                    t.logged_model_tags.insert(),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in tag_map.items()],
                )
            if param_map:
                conn.execute(
                    t.logged_model_params.insert(),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in param_map.items()],
                )
            return load_logged_models(conn, [model_id])[0]

        return self._db.write(work)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The logged model with this id; ModelNotFound if absent, or deleted and not
        ``allow_deleted``."""
        with self._db.read() as conn:
            self._logged_model_row(conn, model_id, allow_deleted=allow_deleted)
            return load_logged_models(conn, [model_id])[0]

    def finalize_logged_model(
        self, model_id: str, status: str | int, status_message: str | None = None
    ) -> LoggedModel:
        """Set the final status (READY or UPLOAD_FAILED, by name or number) and return the model.

        ``status_message`` (optional, a runlab extension) says why, e.g. the upload error.
        """
        final = LoggedModelStatus.normalize(status)
        if not LoggedModelStatus.is_finalized(final):
            raise InvalidParameter(
                f"A logged model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, "
                f"not {final}."
            )
        if status_message is not None and not isinstance(status_message, str):
            raise InvalidParameter("status_message must be a string.")

        def work(conn: Connection) -> LoggedModel:
            self._logged_model_row(conn, model_id)
            self._touch_logged_model(conn, model_id, status=final, status_message=status_message)
            return load_logged_models(conn, [model_id])[0]

        return self._db.write(work)

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete a logged model: it disappears from get and search (see ``allow_deleted``)."""

        def work(conn: Connection) -> None:
            self._logged_model_row(conn, model_id)
            self._touch_logged_model(conn, model_id, lifecycle_stage=LifecycleStage.DELETED)

        self._db.write(work)

    # -- tags, params, metrics -------------------------------------------------------------------

    def set_logged_model_tags(self, model_id: str, tags: KeyValues) -> LoggedModel:
        """Set (or overwrite) tags on a logged model and return the model."""
        tag_map = _tags(tags)

        def work(conn: Connection) -> LoggedModel:
            self._logged_model_row(conn, model_id)
            if tag_map:
                table = t.logged_model_tags
                conn.execute(
                    table.delete().where(
                        table.c.model_id == model_id, table.c.key.in_(list(tag_map))
                    )
                )
                conn.execute(
                    table.insert(),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in tag_map.items()],
                )
                self._touch_logged_model(conn, model_id)
            return load_logged_models(conn, [model_id])[0]

        return self._db.write(work)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag; NotFound if the model has no such tag."""

        def work(conn: Connection) -> None:
            self._logged_model_row(conn, model_id)
            table = t.logged_model_tags
            result = conn.execute(
                table.delete().where(table.c.model_id == model_id, table.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"No tag with key '{key}' found for model with ID '{model_id}'.")
            self._touch_logged_model(conn, model_id)

        self._db.write(work)

    def log_logged_model_params(self, model_id: str, params: KeyValues) -> None:
        """Add params; InvalidParameter if a key already holds another value (same value: no-op)."""
        param_map = _params(params)
        if not param_map:
            return

        def work(conn: Connection) -> None:
            self._logged_model_row(conn, model_id)
            self._insert_logged_model_params(conn, model_id, param_map)

        self._db.write(work)

    def record_logged_model_metrics(self, model_id: str, metrics: Sequence[Metric]) -> None:
        """Store metric points on a logged model, keeping each point's run and dataset fields.

        A point the model already has (same key, step, timestamp, value, run and dataset) is not
        stored twice.
        """
        model_id = _model_id_text(model_id)
        rows = _metric_rows(model_id, None, list(metrics))
        if not rows:
            return

        def work(conn: Connection) -> None:
            self._logged_model_row(conn, model_id)
            self._write_logged_model_metrics(conn, rows)

        self._db.write(work)

    def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """The hook for run metrics logged with a ``model_id``: store those points on their
        models, attributed to ``run_id``. Points without ``model_id`` are ignored.

        RunNotFound/InvalidState for a missing or deleted run, ModelNotFound for a missing model.
        """
        metrics = [m for m in metrics if m.model_id]
        if not metrics:
            return
        for m in metrics:  # fail before the transaction, not halfway through it
            validation.validate_metric(m.key, m.value, m.timestamp, m.step)

        def work(conn: Connection) -> None:
            self._active_run_row(conn, run_id)
            self._write_model_metrics(conn, run_id, metrics)

        self._db.write(work)

    # -- run outputs and inputs ------------------------------------------------------------------

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these models (each at a step). Repeats are no-ops."""
        pairs: list[tuple[str, int]] = []
        for item in models:
            model_id = _model_id_text(getattr(item, "model_id", None))
            step = getattr(item, "step", 0)
            if isinstance(step, bool) or not isinstance(step, int):
                raise InvalidParameter(f"The step of model output {model_id!r} must be an integer.")
            pairs.append((model_id, step))
        if not pairs:
            return

        def work(conn: Connection) -> None:
            self._active_run_row(conn, run_id)
            for model_id in {m for m, _ in pairs}:
                self._logged_model_row(conn, model_id)
            table = t.run_model_outputs
            known = {
                (row.model_id, row.step)
                for row in conn.execute(
                    sa.select(table.c.model_id, table.c.step).where(table.c.run_id == run_id)
                )
            }
            rows = [
                {"run_id": run_id, "model_id": m, "step": s}
                for m, s in dict.fromkeys(pairs)
                if (m, s) not in known
            ]
            if rows:
                conn.execute(table.insert(), rows)

        self._db.write(work)

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str | LoggedModelInput]) -> None:
        """Record that the run used these models (e.g. evaluated them). Repeats are no-ops."""
        ids = list(
            dict.fromkeys(
                _model_id_text(item.model_id if isinstance(item, LoggedModelInput) else item)
                for item in model_ids
            )
        )
        if not ids:
            return

        def work(conn: Connection) -> None:
            self._active_run_row(conn, run_id)
            for model_id in ids:
                self._logged_model_row(conn, model_id)
            table = t.run_model_inputs
            known = {
                row.model_id
                for row in conn.execute(sa.select(table.c.model_id).where(table.c.run_id == run_id))
            }
            rows = [{"run_id": run_id, "model_id": m} for m in ids if m not in known]
            if rows:
                conn.execute(table.insert(), rows)

        self._db.write(work)

    # -- search ----------------------------------------------------------------------------------

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = LOGGED_MODEL_SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str | Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of the active logged models of these experiments that match the filter.

        ``filter_string`` uses the logged-model grammar (``metrics.acc > 0.9 AND
        tags.team = 'a'``); ``datasets`` (dicts with ``dataset_name`` and optional
        ``dataset_digest``) narrow which datasets' metric values the filter considers;
        ``order_by`` items are strings (``"metrics.acc DESC"``) or dicts with ``field_name``,
        ``ascending``, ``dataset_name``, ``dataset_digest``. The whole search is one SQL
        statement; InvalidParameter for a malformed filter, order_by or page token.
        """
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        exp_ids = sorted({store_validation.search_experiment_id(e) for e in experiment_ids})
        store_validation.max_results(max_results, SEARCH_MAX_RESULTS_THRESHOLD)
        # Parse here too: the canonical forms fingerprint the query for the page token, and a
        # bad order_by or dataset is reported even when there is nothing to search.
        order = parse_logged_model_order_by(order_by)
        dataset_filters = parse_datasets(datasets)
        order_text = [
            f"{o.key.type.value}:{o.key.name}:{o.ascending}:{o.dataset_name}:{o.dataset_digest}"
            for o in order
        ]
        scope = ("logged_models", *exp_ids, *(f"{d.name}@{d.digest}" for d in dataset_filters))
        fingerprint = query_fingerprint(filter_string, order_text, scope)
        offset = decode_page_token(page_token, fingerprint)
        query = select_logged_model_ids(
            exp_ids, filter_string, datasets, order_by, max_results + 1, offset, self._db.backend
        )
        if not exp_ids:
            return PagedList([], None)
        with self._db.read() as conn:
            ids = [row[0] for row in conn.execute(query)]
            found = load_logged_models(conn, ids[:max_results])
        token = (
            encode_page_token(offset + max_results, fingerprint) if len(ids) > max_results else None
        )
        return PagedList(found, token)
