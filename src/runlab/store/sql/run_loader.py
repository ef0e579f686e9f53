"""Turning run rows into Run entities: a handful of queries for any number of runs."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
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

# Built once: search hydrates up to thousands of runs per call, and building these expressions
# each time costs more than running them.
_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
_SELECT_RUNS = sa.select(runs).where(runs.c.run_id.in_(_IDS))
_SELECT_PARAMS = sa.select(params).where(params.c.run_id.in_(_IDS)).order_by(params.c.key)
_SELECT_TAGS = sa.select(tags).where(tags.c.run_id.in_(_IDS)).order_by(tags.c.key)
_SELECT_LATEST = sa.select(
    latest_metrics.c.run_id,
    latest_metrics.c.key,
    latest_metrics.c.value,
    latest_metrics.c.is_nan,
    latest_metrics.c.timestamp,
    latest_metrics.c.step,
).where(latest_metrics.c.run_id.in_(_IDS))


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the same order; ids that do not exist are left out."""
    infos: dict[str, RunInfo] = {}
    run_params: dict[str, dict[str, str]] = {}
    run_tags: dict[str, dict[str, str]] = {}
    run_metrics: dict[str, dict[str, Metric]] = {}
    run_inputs: dict[str, list[DatasetInput]] = {}
    model_outputs: dict[str, list[LoggedModelOutput]] = {}
    model_inputs: dict[str, list[LoggedModelInput]] = {}
    for start in range(0, len(run_ids), _ID_BATCH):
        batch = list(run_ids[start : start + _ID_BATCH])
        ids = {"ids": batch}
        for row in conn.execute(_SELECT_RUNS, ids):
            infos[row.run_id] = RunInfo(
                run_id=row.run_id,
                experiment_id=str(row.experiment_id),
                run_name=row.name or "",
                user_id=row.user_id or "",
                status=row.status,
                start_time=row.start_time,
                end_time=row.end_time,
                artifact_uri=row.artifact_uri or "",
                lifecycle_stage=row.lifecycle_stage,
            )
        for row in conn.execute(_SELECT_PARAMS, ids):
            run_params.setdefault(row.run_id, {})[row.key] = row.value
        for row in conn.execute(_SELECT_TAGS, ids):
            run_tags.setdefault(row.run_id, {})[row.key] = row.value
        run_metrics.update(metric_series.latest_points(conn.execute(_SELECT_LATEST, ids)))
        _load_inputs(conn, batch, run_inputs)
        _load_model_links(conn, batch, model_outputs, model_inputs)
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


_SELECT_INPUTS = (
    sa.select(inputs.c.run_id, datasets)
    .join(datasets, datasets.c.dataset_id == inputs.c.dataset_id)
    .where(inputs.c.run_id.in_(_IDS))
    .order_by(inputs.c.run_id, datasets.c.name)
)


def _load_inputs(conn: Connection, batch: list[str], out: dict[str, list[DatasetInput]]) -> None:
    rows = conn.execute(_SELECT_INPUTS, {"ids": batch}).all()
    if not rows:
        return
    tag_map: dict[tuple[str, str], list[InputTag]] = {}
    for tag in conn.execute(sa.select(input_tags).where(input_tags.c.run_id.in_(batch))):
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


_SELECT_MODEL_LINKS = sa.union_all(
    sa.select(
        run_model_outputs.c.run_id,
        run_model_outputs.c.model_id,
        run_model_outputs.c.step,
        sa.literal_column("1").label("is_output"),
    ).where(run_model_outputs.c.run_id.in_(_IDS)),
    sa.select(
        run_model_inputs.c.run_id,
        run_model_inputs.c.model_id,
        sa.cast(sa.null(), sa.BigInteger).label("step"),
        sa.literal_column("0").label("is_output"),
    ).where(run_model_inputs.c.run_id.in_(_IDS)),
)


def _load_model_links(
    conn: Connection,
    batch: list[str],
    outputs: dict[str, list[LoggedModelOutput]],
    model_inputs: dict[str, list[LoggedModelInput]],
) -> None:
    """Logged models the runs produced and used, in one query (a UNION ALL of both links)."""
    # Sorted here rather than in SQL: a few rows per run, and ORDER BY over a UNION differs
    # between backends.
    for run_id, model_id, step, output in sorted(
        conn.execute(_SELECT_MODEL_LINKS, {"ids": batch}).all(),
        key=lambda r: (r[0], -r[3], r[2] or 0, r[1]),
    ):
        if output:
            outputs.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))
        else:
            model_inputs.setdefault(run_id, []).append(LoggedModelInput(model_id))
