"""What durable mode costs: the fluent loop with ``RUNLAB_DURABLE`` off, ``1`` and ``fsync``.

runlab only (MLflow has no such mode). One process logs ``points`` metric points with
``log_metric`` into a fresh local SQLite file per mode, ``start_run`` → loop → ``end_run``,
``repeats`` times, and reads every point back. The mode is read when a store's writer is created,
so each mode gets its own database (a new store, a new writer).
"""

from __future__ import annotations

import os
import time
from typing import Any

from workloads.common import median, sqlite_uri

#: (label, RUNLAB_DURABLE value or None for off, size parameter for the number of points)
MODES = (("off", None, "points"), ("1", "1", "points"), ("fsync", "fsync", "fsync_points"))


def _measure(api: Any, uri: str, points: int, repeats: int) -> dict[str, Any]:
    mlflow = api.mlflow
    mlflow.set_tracking_uri(uri)
    # Create the database and the experiment before timing: schema setup is not the cost.
    mlflow.set_experiment("bench-durable")
    per_call_s: list[float] = []
    end_run_s: list[float] = []
    per_point_s: list[float] = []
    run_ids: list[str] = []
    for _ in range(repeats):
        run_ids.append(mlflow.start_run().info.run_id)
        t0 = time.perf_counter()
        for step in range(points):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        t1 = time.perf_counter()
        mlflow.end_run()
        t2 = time.perf_counter()
        per_call_s.append((t1 - t0) / points)
        end_run_s.append(t2 - t1)
        # The loop and end_run together: the in-memory writer leaves more of the store's work
        # for end_run to drain, the durable one does it while the loop runs.
        per_point_s.append((t2 - t0) / points)
    client = api.client(uri)
    stored = sum(len(client.get_metric_history(run_id, "loss")) for run_id in run_ids)
    return {
        "points": points,
        "repeats": repeats,
        "per_call_s": per_call_s,
        "per_call_s_median": median(per_call_s),
        "calls_per_s_median": 1.0 / median(per_call_s),
        "end_run_s_median": median(end_run_s),
        "per_point_s_median": median(per_point_s),
        "points_expected": points * repeats,
        "points_stored": stored,
    }


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Each mode in turn in this process; the per-call ratios against the in-memory queue."""
    if api.tool != "runlab":
        raise ValueError("durable mode is runlab's; there is nothing to measure for MLflow")
    workdir = params["workdir"]
    os.environ["RUNLAB_SPOOL_DIR"] = os.path.join(workdir, "spool")
    modes: dict[str, dict[str, Any]] = {}
    for label, value, size_key in MODES:
        if value is None:
            os.environ.pop("RUNLAB_DURABLE", None)
        else:
            os.environ["RUNLAB_DURABLE"] = value
        uri = sqlite_uri(workdir, f"durable-{label}.db")
        modes[label] = _measure(api, uri, int(params[size_key]), int(params["repeats"]))
    os.environ.pop("RUNLAB_DURABLE", None)
    base_call = modes["off"]["per_call_s_median"]
    base_point = modes["off"]["per_point_s_median"]
    for result in modes.values():
        result["ratio_vs_off"] = result["per_call_s_median"] / base_call
        result["total_ratio_vs_off"] = result["per_point_s_median"] / base_point
    return {"modes": modes}
