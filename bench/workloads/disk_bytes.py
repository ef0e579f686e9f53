"""(c) Bytes per metric point on disk: log_batch in 1000-metric batches over 10 keys."""

from __future__ import annotations

import os
import time
from typing import Any

from workloads.common import batched, metric_points, sqlite_files_size, sqlite_uri


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Log ``points`` points and measure how much the SQLite files grew."""
    mlflow = api.mlflow
    n_points = int(params["points"])
    n_keys = int(params.get("keys", 10))
    batch_size = int(params.get("batch", 1000))
    db_path = os.path.join(os.path.abspath(params["workdir"]), "bench.db")
    uri = sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-disk")
    client = api.client(uri)

    active = mlflow.start_run()
    run_id = active.info.run_id
    # The empty schema, the experiment and the run exist now; everything after this is points.
    size_before = sqlite_files_size(db_path)
    keys = [f"metric_{i}" for i in range(n_keys)]
    base_ms = int(time.time() * 1000)
    t0 = time.perf_counter()
    for batch in batched(metric_points(api, keys, n_points, base_ms), batch_size):
        client.log_batch(run_id, metrics=batch)
    log_s = time.perf_counter() - t0
    mlflow.end_run()
    size_after = sqlite_files_size(db_path)

    stored = sum(len(client.get_metric_history(run_id, key)) for key in keys)
    return {
        "points": n_points,
        "points_stored": stored,
        "keys": n_keys,
        "size_before": size_before,
        "size_after": size_after,
        "bytes_per_point": (size_after - size_before) / n_points,
        "log_s": log_s,
        "points_per_s": n_points / log_s if log_s > 0 else float("inf"),
        "db_path": db_path,
    }
