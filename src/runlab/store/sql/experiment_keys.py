"""The distinct param, metric and tag keys of one experiment's runs, in one SQL statement."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.store.base import ExperimentKeys
from runlab.store.sql import schema as t

_KINDS = (("params", t.params), ("metrics", t.latest_metrics), ("tags", t.tags))


def experiment_keys(conn: Connection, experiment_id: int) -> ExperimentKeys:
    """The keys logged to any run of the experiment (deleted runs too), sorted by code point.

    A ``UNION`` of three ``SELECT DISTINCT``s, one per kind: each walks the experiment's runs
    through the runs index and each run's keys through its table's (run_id, key) primary key.
    """
    runs = t.runs.c
    parts = [
        sa.select(
            sa.literal(kind).label("kind"),
            table.c.key,
        )
        .join_from(table, t.runs, table.c.run_id == runs.run_id)
        .where(runs.experiment_id == experiment_id)
        for kind, table in _KINDS
    ]
    found: dict[str, set[str]] = {kind: set() for kind, _ in _KINDS}
    for kind, key in conn.execute(sa.union(*parts)):
        found[kind].add(key)
    return ExperimentKeys(
        params=sorted(found["params"]),
        metrics=sorted(found["metrics"]),
        tags=sorted(found["tags"]),
    )
