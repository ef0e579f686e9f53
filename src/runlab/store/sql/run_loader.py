"""Turning run rows into Run entities: a handful of queries for any number of runs.

The loader runs once per runs/search page and per get-run, so its fixed costs are paid on every
search. Its statements are built with SQLAlchemy once per backend and, where the driver can
take the run ids as one parameter, compiled once to the driver's own SQL and run on the DBAPI
cursor of the same connection (same transaction): SQLite gets the ids as one JSON array read
with ``json_each``, PostgreSQL as one array. That skips SQLAlchemy's per-call work (expanding
an ``IN`` list of a hundred ids into bound parameters, cache-key generation, a Row object per
row), which measured about twice the time of the queries themselves for a page of 100 runs
with 10 params, 3 tags and 5 metrics each. MySQL/MariaDB keep the SQLAlchemy path (an
expanded ``IN`` list).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Run,
    RunInfo,
    RunRows,
)
from runlab.entities.run_rows import PointRow
from runlab.store.sql import metric_series, pg_metric_writes
from runlab.store.sql.driver_sql import driver_statement, execute_together
from runlab.store.sql.schema import (
    datasets,
    input_tags,
    inputs,
    latest_metrics,
    params,
    run_model_inputs,
    run_model_outputs,
    runs,
    tags,
)

# Keeps IN lists well below every backend's bound-parameter limit.
_ID_BATCH = 500

#: SQLite has shipped JSON functions (json_each) built in since 3.38; older libraries may lack
#: them, and take the SQLAlchemy path.
_SQLITE_HAS_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)


@dataclass(frozen=True)
class _Statements:
    runs: sa.Select[Any]
    params: sa.Select[Any]
    tags: sa.Select[Any]
    latest: sa.Select[Any]
    inputs: sa.Select[Any]
    input_tags: sa.Select[Any]
    model_links: sa.CompoundSelect[Any]


def _driver_ids(dialect_name: str) -> bool:
    """Whether this backend's loader runs on the DBAPI cursor with the ids as one parameter."""
    return dialect_name == "postgresql" or (dialect_name == "sqlite" and _SQLITE_HAS_JSON)


@functools.cache
def _statements(dialect_name: str) -> _Statements:
    """The loader's statements for one backend, built once.

    Search hydrates up to thousands of runs per call, and building these expressions each
    time costs more than running them. On PostgreSQL the ids travel as one array parameter
    (``= ANY(:ids)``), on SQLite as one JSON array (``IN (SELECT value FROM json_each(:ids))``):
    an expanded ``IN`` list of hundreds of bound values costs more per query to render and
    convert than the query itself.
    """

    def by_run(column: Any) -> Any:
        if dialect_name == "postgresql":
            return column == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))
        if dialect_name == "sqlite" and _SQLITE_HAS_JSON:
            each = sa.func.json_each(sa.bindparam("ids", type_=sa.String)).table_valued("value")
            return column.in_(sa.select(each.c.value).scalar_subquery())
        return column.in_(sa.bindparam("ids", expanding=True))

    # Each statement names its columns in the order load_runs unpacks them. Params and tags
    # come in (run_id, key) order, so each run's dict is filled in key order; with the ids
    # looked up one by one in the primary key (run_id, key), that order costs no sort.
    return _Statements(
        runs=sa.select(
            runs.c.run_id,
            runs.c.experiment_id,
            runs.c.name,
            runs.c.user_id,
            runs.c.status,
            runs.c.start_time,
            runs.c.end_time,
            runs.c.artifact_uri,
            runs.c.lifecycle_stage,
        ).where(by_run(runs.c.run_id)),
        params=sa.select(params.c.run_id, params.c.key, params.c.value)
        .where(by_run(params.c.run_id))
        .order_by(params.c.run_id, params.c.key),
        tags=sa.select(tags.c.run_id, tags.c.key, tags.c.value)
        .where(by_run(tags.c.run_id))
        .order_by(tags.c.run_id, tags.c.key),
        latest=sa.select(
            latest_metrics.c.run_id,
            latest_metrics.c.key,
            latest_metrics.c.value,
            latest_metrics.c.is_nan,
            latest_metrics.c.timestamp,
            latest_metrics.c.step,
        ).where(by_run(latest_metrics.c.run_id)),
        inputs=sa.select(
            inputs.c.run_id,
            datasets.c.dataset_id,
            datasets.c.name,
            datasets.c.digest,
            datasets.c.source_type,
            datasets.c.source,
            datasets.c.schema,
            datasets.c.profile,
        )
        .join(datasets, datasets.c.dataset_id == inputs.c.dataset_id)
        .where(by_run(inputs.c.run_id))
        .order_by(inputs.c.run_id, datasets.c.name),
        input_tags=sa.select(
            input_tags.c.run_id, input_tags.c.dataset_id, input_tags.c.key, input_tags.c.value
        ).where(by_run(input_tags.c.run_id)),
        model_links=sa.union_all(
            sa.select(
                run_model_outputs.c.run_id,
                run_model_outputs.c.model_id,
                run_model_outputs.c.step,
                sa.literal_column("1").label("is_output"),
            ).where(by_run(run_model_outputs.c.run_id)),
            sa.select(
                run_model_inputs.c.run_id,
                run_model_inputs.c.model_id,
                sa.cast(sa.null(), sa.BigInteger).label("step"),
                sa.literal_column("0").label("is_output"),
            ).where(by_run(run_model_inputs.c.run_id)),
        ),
    )


#: The loader's statements, all sent at once on PostgreSQL (see :class:`_Reader`).
_STATEMENT_NAMES = tuple(f.name for f in fields(_Statements))


class _Reader:
    """Runs the loader's statements for one batch of ids on one connection.

    On PostgreSQL every statement is sent up front, in one pipeline, so a page costs one round
    trip to the database instead of seven (each about a tenth of a millisecond of waiting, and
    more when the database's process has to be woken). On SQLite a statement is a function
    call, and each is run when it is asked for (the dataset tags only for runs with datasets).
    """

    def __init__(self, conn: Connection, ids: list[str], settings_sql: str | None = None) -> None:
        self._conn = conn
        self._ids = ids
        self._statements = _statements(conn.dialect.name)
        self._fetched: dict[str, Sequence[Any]] = {}
        self._driver = _driver_ids(conn.dialect.name)
        # SQLite reads a JSON array of the ids (a str: SQLite 3.45+ takes a blob as JSONB).
        # PostgreSQL gets the array's text form, made once here: psycopg would otherwise turn
        # the list into it in Python for each of the loader's seven statements, about a sixth
        # of a 100-run page's loading time.
        self._value: Any = ids
        if conn.dialect.name == "sqlite":
            self._value = orjson.dumps(ids).decode()
        elif self._driver and conn.dialect.name == "postgresql":
            self._value = pg_metric_writes.array_literal(ids, "VARCHAR")
        if self._driver and conn.dialect.name == "postgresql":
            first = [] if settings_sql is None else [(settings_sql, None)]
            results = execute_together(
                conn, first + [self._bound(name) for name in _STATEMENT_NAMES]
            )
            self._fetched = dict(zip(_STATEMENT_NAMES, results[len(first) :], strict=True))
        elif settings_sql is not None:
            conn.exec_driver_sql(settings_sql)

    def _bound(self, name: str) -> tuple[str, Any]:
        statement = driver_statement(self._conn.dialect, getattr(self._statements, name))
        return statement.sql, statement.bind({"ids": self._value})

    def rows(self, name: str) -> Sequence[Any]:
        """Every row of one statement, as tuples in the statement's column order."""
        found = self._fetched.get(name)
        if found is not None:
            return found
        if self._driver:
            return execute_together(self._conn, [self._bound(name)])[0]
        return self._conn.execute(getattr(self._statements, name), {"ids": self._ids}).all()


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the same order; ids that do not exist are left out."""
    return load_run_rows(conn, run_ids).runs()


def load_run_rows(
    conn: Connection, run_ids: Sequence[str], *, settings_sql: str | None = None
) -> RunRows:
    """:func:`load_runs` without making the entities: the runs' rows (see RunRows).

    ``settings_sql`` (a statement that changes settings, say) runs first, in the same round
    trip as the loader's statements where they are pipelined.
    """
    infos: dict[str, RunInfo] = {}
    param_rows: list[Any] = []
    tag_rows: list[Any] = []
    point_rows: list[PointRow] = []
    run_inputs: dict[str, list[DatasetInput]] = {}
    model_outputs: dict[str, list[LoggedModelOutput]] = {}
    model_inputs: dict[str, list[LoggedModelInput]] = {}
    for start in range(0, len(run_ids), _ID_BATCH):
        reader = _Reader(
            conn, list(run_ids[start : start + _ID_BATCH]), settings_sql if start == 0 else None
        )
        _load_infos(reader, infos)
        # Rows as the driver gave them (tuples, or Rows that unpack like them): a page's
        # params, tags and points are thousands of rows, and each caller makes its one pass.
        param_rows += reader.rows("params")
        tag_rows += reader.rows("tags")
        point_rows += metric_series.latest_point_rows(reader.rows("latest"))
        _load_inputs(reader, run_inputs)
        _load_model_links(reader, model_outputs, model_inputs)
    return RunRows(
        run_ids=[run_id for run_id in run_ids if run_id in infos],
        infos=infos,
        param_rows=param_rows,
        tag_rows=tag_rows,
        point_rows=point_rows,
        dataset_inputs=run_inputs,
        model_inputs=model_inputs,
        model_outputs=model_outputs,
    )


def _load_infos(reader: _Reader, infos: dict[str, RunInfo]) -> None:
    """The RunInfo of each run of one batch of ids."""
    # Rows are unpacked by position: attribute access per row costs more over a page of runs.
    for run_id, exp_id, name, user, status, start, end, uri, stage in reader.rows("runs"):
        infos[run_id] = RunInfo(
            run_id=run_id,
            experiment_id=str(exp_id),
            run_name=name or "",
            user_id=user or "",
            status=status,
            start_time=start,
            end_time=end,
            artifact_uri=uri or "",
            lifecycle_stage=stage,
        )


def _load_inputs(reader: _Reader, out: dict[str, list[DatasetInput]]) -> None:
    rows = reader.rows("inputs")
    if not rows:
        return
    tag_map: dict[tuple[str, str], list[InputTag]] = {}
    for run_id, dataset_id, key, value in reader.rows("input_tags"):
        tag_map.setdefault((run_id, dataset_id), []).append(InputTag(key, value))
    for run_id, dataset_id, name, digest, source_type, source, schema, profile in rows:
        dataset = Dataset(
            name=name,
            digest=digest,
            source_type=source_type,
            source=source,
            schema=schema,
            profile=profile,
        )
        out.setdefault(run_id, []).append(
            DatasetInput(dataset=dataset, tags=tag_map.get((run_id, dataset_id), []))
        )


def _load_model_links(
    reader: _Reader,
    outputs: dict[str, list[LoggedModelOutput]],
    model_inputs: dict[str, list[LoggedModelInput]],
) -> None:
    """Logged models the runs produced and used, in one query (a UNION ALL of both links)."""
    # Sorted here rather than in SQL: a few rows per run, and ORDER BY over a UNION differs
    # between backends.
    for run_id, model_id, step, output in sorted(
        reader.rows("model_links"),
        key=lambda r: (r[0], -r[3], r[2] or 0, r[1]),
    ):
        if output:
            outputs.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))
        else:
            model_inputs.setdefault(run_id, []).append(LoggedModelInput(model_id))
