"""Turning run rows into Run entities: a handful of queries for any number of runs."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from runlab.store.sql import metric_series
from runlab.store.sql.schema import (
    datasets,
    input_tags,
    inputs,
    latest_metrics,
    params,
    runs,
    tags,
)

# Keeps IN lists well below every backend's bound-parameter limit.
_ID_BATCH = 500


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the same order; ids that do not exist are left out."""
    infos: dict[str, RunInfo] = {}
    run_params: dict[str, dict[str, str]] = {}
    run_tags: dict[str, dict[str, str]] = {}
    run_metrics: dict[str, dict[str, Metric]] = {}
    run_inputs: dict[str, list[DatasetInput]] = {}
    for start in range(0, len(run_ids), _ID_BATCH):
        batch = list(run_ids[start : start + _ID_BATCH])
        for row in conn.execute(sa.select(runs).where(runs.c.run_id.in_(batch))):
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
        for row in conn.execute(sa.select(params).where(params.c.run_id.in_(batch))):
            run_params.setdefault(row.run_id, {})[row.key] = row.value
        for row in conn.execute(sa.select(tags).where(tags.c.run_id.in_(batch))):
            run_tags.setdefault(row.run_id, {})[row.key] = row.value
        metric_rows = conn.execute(
            sa.select(
                latest_metrics.c.run_id,
                latest_metrics.c.key,
                latest_metrics.c.value,
                latest_metrics.c.is_nan,
                latest_metrics.c.timestamp,
                latest_metrics.c.step,
            ).where(latest_metrics.c.run_id.in_(batch))
        )
        run_metrics.update(metric_series.latest_points(metric_rows))
        _load_inputs(conn, batch, run_inputs)
    return [
        Run(
            info=infos[run_id],
            data=RunData(
                metrics={k: m.value for k, m in run_metrics.get(run_id, {}).items()},
                params=run_params.get(run_id, {}),
                tags=run_tags.get(run_id, {}),
                latest_points=run_metrics.get(run_id, {}),
            ),
            inputs=RunInputs(dataset_inputs=run_inputs.get(run_id, [])),
        )
        for run_id in run_ids
        if run_id in infos
    ]


def _load_inputs(conn: Connection, batch: list[str], out: dict[str, list[DatasetInput]]) -> None:
    rows = conn.execute(
        sa.select(inputs.c.run_id, datasets)
        .join(datasets, datasets.c.dataset_id == inputs.c.dataset_id)
        .where(inputs.c.run_id.in_(batch))
        .order_by(inputs.c.run_id, datasets.c.name)
    ).all()
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
