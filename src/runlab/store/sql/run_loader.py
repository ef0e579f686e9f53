"""Turning run rows into Run entities: a handful of queries for any number of runs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from runlab.store.sql import metric_series
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


@dataclass(frozen=True)
class _Statements:
    runs: sa.Select[Any]
    params: sa.Select[Any]
    tags: sa.Select[Any]
    latest: sa.Select[Any]
    inputs: sa.Select[Any]
    input_tags: sa.Select[Any]
    model_links: sa.CompoundSelect[Any]


@functools.cache
def _statements(dialect_name: str) -> _Statements:
    """The loader's statements for one backend, built once.

    Search hydrates up to thousands of runs per call, and building these expressions each
    time costs more than running them. On PostgreSQL the ids travel as one array parameter
    (``= ANY(:ids)``): an expanded ``IN`` list of hundreds of bound values costs milliseconds
    per query to render and convert, more than the query itself.
    """

    def by_run(column: Any) -> Any:
        if dialect_name == "postgresql":
            return column == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))
        return column.in_(sa.bindparam("ids", expanding=True))

    # Each statement names its columns in the order load_runs unpacks them.
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
        .order_by(params.c.key),
        tags=sa.select(tags.c.run_id, tags.c.key, tags.c.value)
        .where(by_run(tags.c.run_id))
        .order_by(tags.c.key),
        latest=sa.select(
            latest_metrics.c.run_id,
            latest_metrics.c.key,
            latest_metrics.c.value,
            latest_metrics.c.is_nan,
            latest_metrics.c.timestamp,
            latest_metrics.c.step,
        ).where(by_run(latest_metrics.c.run_id)),
        inputs=sa.select(inputs.c.run_id, datasets)
        .join(datasets, datasets.c.dataset_id == inputs.c.dataset_id)
        .where(by_run(inputs.c.run_id))
        .order_by(inputs.c.run_id, datasets.c.name),
        input_tags=sa.select(input_tags).where(by_run(input_tags.c.run_id)),
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


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the same order; ids that do not exist are left out."""
    infos: dict[str, RunInfo] = {}
    run_params: dict[str, dict[str, str]] = {}
    run_tags: dict[str, dict[str, str]] = {}
    run_metrics: dict[str, dict[str, Metric]] = {}
    run_inputs: dict[str, list[DatasetInput]] = {}
    model_outputs: dict[str, list[LoggedModelOutput]] = {}
    model_inputs: dict[str, list[LoggedModelInput]] = {}
    statements = _statements(conn.dialect.name)
    for start in range(0, len(run_ids), _ID_BATCH):
        batch = list(run_ids[start : start + _ID_BATCH])
        ids = {"ids": batch}
        # Rows are unpacked by position: a Row's attribute access costs a few microseconds,
        # which over a page of runs' params, tags and metrics (thousands of rows) cost more
        # than the queries themselves.
        for run_id, exp_id, name, user, status, start, end, uri, stage in conn.execute(
            statements.runs, ids
        ).all():
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
        for run_id, key, value in conn.execute(statements.params, ids).all():
            run_params.setdefault(run_id, {})[key] = value
        for run_id, key, value in conn.execute(statements.tags, ids).all():
            run_tags.setdefault(run_id, {})[key] = value
        run_metrics.update(metric_series.latest_points(conn.execute(statements.latest, ids).all()))
        _load_inputs(conn, statements, ids, run_inputs)
        _load_model_links(conn, statements, ids, model_outputs, model_inputs)
    return [
        Run(
            info=infos[run_id],
            data=RunData(
                metrics={k: m.value for k, m in run_metrics.get(run_id, {}).items()},
                params=run_params.get(run_id, {}),
                tags=run_tags.get(run_id, {}),
                latest_points=run_metrics.get(run_id, {}),
            ),
            inputs=RunInputs(
                dataset_inputs=run_inputs.get(run_id, []),
                model_inputs=model_inputs.get(run_id, []),
            ),
            outputs=RunOutputs(model_outputs=model_outputs.get(run_id, [])),
        )
        for run_id in run_ids
        if run_id in infos
    ]


def _load_inputs(
    conn: Connection,
    statements: _Statements,
    ids: dict[str, list[str]],
    out: dict[str, list[DatasetInput]],
) -> None:
    rows = conn.execute(statements.inputs, ids).all()
    if not rows:
        return
    tag_map: dict[tuple[str, str], list[InputTag]] = {}
    for tag in conn.execute(statements.input_tags, ids):
        tag_map.setdefault((tag.run_id, tag.dataset_id), []).append(InputTag(tag.key, tag.value))
    for row in rows:
        dataset = Dataset(
            name=row.name,
            digest=row.digest,
            source_type=row.source_type,
            source=row.source,
            schema=row.schema,
            profile=row.profile,
        )
        out.setdefault(row.run_id, []).append(
            DatasetInput(dataset=dataset, tags=tag_map.get((row.run_id, row.dataset_id), []))
        )


def _load_model_links(
    conn: Connection,
    statements: _Statements,
    ids: dict[str, list[str]],
    outputs: dict[str, list[LoggedModelOutput]],
    model_inputs: dict[str, list[LoggedModelInput]],
) -> None:
    """Logged models the runs produced and used, in one query (a UNION ALL of both links)."""
    # Sorted here rather than in SQL: a few rows per run, and ORDER BY over a UNION differs
    # between backends.
    for run_id, model_id, step, output in sorted(
        conn.execute(statements.model_links, ids).all(),
        key=lambda r: (r[0], -r[3], r[2] or 0, r[1]),
    ):
        if output:
            outputs.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))
        else:
            model_inputs.setdefault(run_id, []).append(LoggedModelInput(model_id))
