"""(e) search_runs over many runs: filter on a metric, a param and a tag; order by a metric."""

from __future__ import annotations

import random
import time
from typing import Any

from workloads.common import median, sqlite_uri

FILTER = "metrics.acc > 0.5 AND params.optimizer = 'adam' AND tags.team = 'vision'"
ORDER_BY = ["metrics.loss ASC"]


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Create ``runs`` runs through the client, then time the search ``repeats`` times."""
    mlflow = api.mlflow
    n_runs = int(params["runs"])
    repeats = int(params.get("repeats", 15))
    max_results = int(params.get("max_results", 100))
    uri = sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    client = api.client(uri)
    experiment_id = client.create_experiment("bench-search")

    rng = random.Random(11)
    ts = int(time.time() * 1000)
    matching = 0
    t0 = time.perf_counter()
    for i in range(n_runs):
        run_id = client.create_run(experiment_id).info.run_id
        acc = rng.random()
        optimizer = rng.choice(["adam", "sgd", "rmsprop"])
        team = rng.choice(["vision", "nlp"])
        matching += acc > 0.5 and optimizer == "adam" and team == "vision"
        client.log_batch(
            run_id,
            metrics=[
                api.Metric("acc", acc, ts + i, 0),
                api.Metric("loss", rng.random(), ts + i, 0),
            ],
            params=[
                api.Param("optimizer", optimizer),
                api.Param("lr", str(rng.choice([0.1, 0.01, 0.001]))),
            ],
            tags=[api.RunTag("team", team)],
        )
    create_s = time.perf_counter() - t0

    times: list[float] = []
    found: list[Any] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        found = client.search_runs(
            [experiment_id], filter_string=FILTER, order_by=ORDER_BY, max_results=max_results
        )
        times.append(time.perf_counter() - t0)

    expected = min(matching, max_results)
    if len(found) != expected:
        raise AssertionError(f"search returned {len(found)} runs, expected {expected}")
    losses = [r.data.metrics["loss"] for r in found]
    if losses != sorted(losses):
        raise AssertionError("search results are not ordered by metrics.loss ASC")
    return {
        "runs": n_runs,
        "matching": matching,
        "returned": len(found),
        "create_s": create_s,
        "search_s": times,
        "search_s_median": median(times),
    }
