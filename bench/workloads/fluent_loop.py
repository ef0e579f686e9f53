"""(b) The fluent training loop: start_run, 20 log_param, steps x 3 log_metric, end_run.

Against a local SQLite file (issue 2), or through a tracking server when ``tracking_uri`` is
given (the server benchmark): then every call's record travels over HTTP, and the points are
read back through the same server.
"""

from __future__ import annotations

import math
import time
from typing import Any

from workloads.common import median, sqlite_uri

KEYS = ("loss", "accuracy", "lr")


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Time the loop ``repeats`` times (a new run each time) in one process."""
    mlflow = api.mlflow
    steps = int(params["steps"])
    n_params = int(params.get("n_params", 20))
    repeats = int(params.get("repeats", 5))
    # A tracking server's URL for the server benchmark; else a fresh local SQLite file.
    uri = params.get("tracking_uri") or sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    # Create the database and the experiment before timing: schema setup is not the loop's cost.
    mlflow.set_experiment("bench-loop")

    calls_per_s: list[float] = []
    loop_s: list[float] = []
    total_s: list[float] = []
    end_run_s: list[float] = []
    run_ids: list[str] = []
    for _ in range(repeats):
        t_start = time.perf_counter()
        active = mlflow.start_run()
        run_ids.append(active.info.run_id)
        for i in range(n_params):
            mlflow.log_param(f"param_{i}", i * 0.5)
        t_loop = time.perf_counter()
        for step in range(steps):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("accuracy", 1.0 - 1.0 / (step + 2), step=step)
            mlflow.log_metric("lr", 0.1 * math.exp(-step / 100.0), step=step)
        t_loop_end = time.perf_counter()
        mlflow.end_run()
        t_end = time.perf_counter()
        loop = t_loop_end - t_loop
        loop_s.append(loop)
        calls_per_s.append(steps * len(KEYS) / loop if loop > 0 else float("inf"))
        total_s.append(t_end - t_start)
        end_run_s.append(t_end - t_loop_end)

    # Nothing may be lost: read every run back.
    client = api.client(uri)
    expected = repeats * steps * len(KEYS)
    stored = 0
    for run_id in run_ids:
        for key in KEYS:
            stored += len(client.get_metric_history(run_id, key))
        stored_params = len(client.get_run(run_id).data.params)
        if stored_params != n_params:
            raise AssertionError(f"run {run_id} has {stored_params} params, expected {n_params}")
    return {
        "calls": steps * len(KEYS),
        "repeats": repeats,
        "calls_per_s": calls_per_s,
        "calls_per_s_median": median(calls_per_s),
        "loop_s_median": median(loop_s),
        "total_s": total_s,
        "total_s_median": median(total_s),
        "end_run_s_median": median(end_run_s),
        "points_expected": expected,
        "points_stored": stored,
    }
