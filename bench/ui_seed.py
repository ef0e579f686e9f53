"""Seed the UI benchmark's data: an experiment of N runs, and one run with a long metric.

    python bench/ui_seed.py runlab DB_PATH ARTIFACT_ROOT '{"runs": 10000, "points": 1000000}'
    python bench/ui_seed.py mlflow DB_PATH EXPERIMENT_ID '{"runs": 10000, "points": 1000000}'

Both tools get the same data (:func:`run_rows`, :func:`long_metric`), written the fastest way
each allows, because seeding is not what is measured:

- runlab: its own SQL store in-process (``SqlTrackingStore.create_run`` and ``log_batch`` per
  run; the long metric through ``log_batch`` in chunks of 1,000 points as columns), on the
  database file before the server starts.
- MLflow: its API would take tens of minutes (about 57 ms per run created over REST), so the rows
  go straight into the tables of the database ``mlflow server`` created and migrated
  (``runs``, ``params``, ``tags``, ``metrics``, ``latest_metrics``), in one transaction each,
  into an experiment created through its REST API. Run ids, names and values are the same.

Prints one ``BENCH_RESULT {json}`` line: the experiment id, the long metric's run id and key,
and the seconds seeding took.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

RESULT_PREFIX = "BENCH_RESULT "
EXPERIMENT_NAME = "ui-bench"
LONG_METRIC_KEY = "train_loss"
LONG_RUN_NAME = "long-metric"
USER = "bench"
START_MS = 1_700_000_000_000
# Points per log_batch call when runlab logs the long metric (the store takes at most 1000).
CHUNK = 1000


@dataclass(frozen=True)
class RunRow:
    """One run of the big experiment: the same for both tools."""

    run_id: str
    name: str
    start_ms: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def run_rows(count: int) -> Iterator[RunRow]:
    """``count`` runs with 5 params, 3 metrics (one point each) and 3 tags, reproducibly."""
    rng = random.Random(0)
    for i in range(count):
        yield RunRow(
            run_id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            name=f"run-{i:05d}",
            start_ms=START_MS + i * 1000,
            params={
                "lr": f"{rng.choice([1e-4, 3e-4, 1e-3, 3e-3]):g}",
                "batch_size": str(rng.choice([16, 32, 64, 128])),
                "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                "layers": str(rng.randint(2, 12)),
                "seed": str(i),
            },
            metrics={
                "loss": rng.random(),
                "accuracy": rng.random(),
                "val_loss": rng.random(),
            },
            tags={
                "team": rng.choice(["vision", "nlp", "ranking"]),
                "dataset": rng.choice(["v1", "v2", "v3"]),
                "stage": rng.choice(["dev", "prod"]),
            },
        )


def long_metric(points: int) -> tuple[list[float], list[int], list[int]]:
    """Values, timestamps and steps of the long metric: a noisy decay, one point per step."""
    rng = random.Random(1)
    values = [1.0 / (1.0 + step / 1000.0) + rng.random() * 0.05 for step in range(points)]
    timestamps = [START_MS + step * 10 for step in range(points)]
    return values, timestamps, list(range(points))


def seed_runlab(db_path: str, artifact_root: str, runs: int, points: int) -> dict[str, object]:
    """Write the data with runlab's SQL store (run ids are the store's own)."""
    from runlab.entities import Metric, MetricColumns, Param, RunTag
    from runlab.store.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(f"sqlite:///{db_path}", artifact_root)
    try:
        experiment_id = store.create_experiment(EXPERIMENT_NAME)
        for row in run_rows(runs):
            run = store.create_run(experiment_id, USER, row.start_ms, [], row.name)
            store.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, row.start_ms, 0) for k, v in row.metrics.items()],
                params=[Param(k, v) for k, v in row.params.items()],
                tags=[RunTag(k, v) for k, v in row.tags.items()],
            )
        long_run = store.create_run(experiment_id, USER, START_MS, [], LONG_RUN_NAME)
        values, timestamps, steps = long_metric(points)
        for at in range(0, points, CHUNK):
            end = at + CHUNK
            chunk = MetricColumns(
                [LONG_METRIC_KEY] * len(values[at:end]),
                values[at:end],
                timestamps[at:end],
                steps[at:end],
            )
            store.log_batch(long_run.info.run_id, metrics=chunk)
        return {"experiment_id": experiment_id, "long_run_id": long_run.info.run_id}
    finally:
        store.close()


def seed_mlflow(db_path: str, experiment_id: str, runs: int, points: int) -> dict[str, object]:
    """Insert the same data into the tables of a database ``mlflow server`` migrated."""
    exp = int(experiment_id)
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        (location,) = conn.execute(
            "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (exp,)
        ).fetchone()
        run_rows_sql, params, tags, latest = [], [], [], []
        for row in run_rows(runs):
            run_rows_sql.append(_mlflow_run(row.run_id, row.name, row.start_ms, exp, location))
            params += [(k, v, row.run_id) for k, v in row.params.items()]
            tags += [(k, v, row.run_id) for k, v in row.tags.items()]
            tags.append(("mlflow.runName", row.name, row.run_id))
            tags.append(("mlflow.user", USER, row.run_id))
            latest += [(k, v, row.start_ms, 0, 0, row.run_id) for k, v in row.metrics.items()]
        long_id = uuid.uuid4().hex
        run_rows_sql.append(_mlflow_run(long_id, LONG_RUN_NAME, START_MS, exp, location))
        tags.append(("mlflow.runName", LONG_RUN_NAME, long_id))
        values, timestamps, steps = long_metric(points)
        with conn:
            conn.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                run_rows_sql,
            )
            conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
            conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
            # A run's one-point metrics are in both tables, as MLflow's log_batch writes them.
            conn.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?,?,?,?,?,?)",
                latest,
            )
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?,?,?,?,?,?)",
                latest,
            )
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?,?,?,?,0,?)",
                (
                    (LONG_METRIC_KEY, v, t, s, long_id)
                    for v, t, s in zip(values, timestamps, steps, strict=True)
                ),
            )
            if points:
                conn.execute(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?,?,?,?,0,?)",
                    (LONG_METRIC_KEY, values[-1], timestamps[-1], steps[-1], long_id),
                )
        return {"experiment_id": experiment_id, "long_run_id": long_id}
    finally:
        conn.close()


def _mlflow_run(
    run_id: str, name: str, start_ms: int, exp: int, location: str
) -> tuple[object, ...]:
    """A row of MLflow's ``runs`` table: a running local run under the experiment's location.

    RUNNING, as runlab's runs are: ending each of them would cost runlab's seeding a third
    more transactions.
    """
    return (
        run_id,
        name,
        "LOCAL",
        "",
        "",
        USER,
        "RUNNING",
        start_ms,
        None,
        "",
        "active",
        f"{location}/{run_id}/artifacts",
        exp,
    )


def main(argv: list[str]) -> int:
    tool, db_path, where, params = argv[0], argv[1], argv[2], json.loads(argv[3])
    started = time.perf_counter()
    if tool == "runlab":
        result = seed_runlab(db_path, where, params["runs"], params["points"])
    elif tool == "mlflow":
        result = seed_mlflow(db_path, where, params["runs"], params["points"])
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    result["seconds"] = time.perf_counter() - started
    result["metric_key"] = LONG_METRIC_KEY
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
