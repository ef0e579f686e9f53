"""Run counts and last activity of a page of experiments, in one grouped SQL statement."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import LifecycleStage
from runlab.store.base import ExperimentActivity
from runlab.store.sql import schema as t


def experiment_activity(
    conn: Connection, experiment_ids: Sequence[int]
) -> dict[int, ExperimentActivity]:
    """Active runs and the latest run start or end time of each experiment id.

    One ``GROUP BY`` over the runs of just these experiments (the runs table is indexed by
    experiment), with the ids bound as parameters; ids without active runs are absent.
    """
    if not experiment_ids:
        return {}
    runs = t.runs.c
    query = (
        sa.select(
            runs.experiment_id,
            sa.func.count(runs.run_id),
            sa.func.max(runs.start_time),
            sa.func.max(runs.end_time),
        )
        .where(
            runs.experiment_id.in_(list(experiment_ids)),
            runs.lifecycle_stage == LifecycleStage.ACTIVE,
        )
        .group_by(runs.experiment_id)
    )
    out: dict[int, ExperimentActivity] = {}
    for exp_id, count, last_start, last_end in conn.execute(query):
        times = [int(v) for v in (last_start, last_end) if v is not None]
        out[int(exp_id)] = ExperimentActivity(int(count), max(times) if times else None)
    return out
