"""(d) get_metric_history of one long metric: the call, then touching every point."""

from __future__ import annotations

import time
from typing import Any

from workloads.common import batched, median, metric_points, sqlite_uri


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Log ``points`` points of one key, then read them back ``repeats`` times."""
    mlflow = api.mlflow
    n_points = int(params["points"])
    repeats = int(params.get("repeats", 3))
    uri = sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-history")
    client = api.client(uri)
    active = mlflow.start_run()
    run_id = active.info.run_id
    base_ms = int(time.time() * 1000)
    t0 = time.perf_counter()
    for batch in batched(metric_points(api, ["loss"], n_points, base_ms), 1000):
        client.log_batch(run_id, metrics=batch)
    log_s = time.perf_counter() - t0
    mlflow.end_run()

    call_s: list[float] = []
    materialize_s: list[float] = []
    count = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        history = client.get_metric_history(run_id, "loss")
        t1 = time.perf_counter()
        count = 0
        value_sum = 0.0
        step_sum = 0
        last_ts = 0
        for point in history:
            value_sum += point.value
            step_sum += point.step
            last_ts = point.timestamp
            count += 1
        t2 = time.perf_counter()
        call_s.append(t1 - t0)
        materialize_s.append(t2 - t1)
        del history
    if count != n_points:
        raise AssertionError(f"history has {count} points, expected {n_points}")
    return {
        "points": n_points,
        "repeats": repeats,
        "log_s": log_s,
        "call_s": call_s,
        "call_s_median": median(call_s),
        "materialize_s_median": median(materialize_s),
        "total_s_median": median([a + b for a, b in zip(call_s, materialize_s, strict=True)]),
        "checksum": [value_sum, step_sum, last_ts],
    }
