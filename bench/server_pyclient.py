"""Server measures as a Python client sees them (issue 19): ``requests``, JSON encoded per call.

The raw measures in server_workloads.py send pre-encoded bodies over urllib3, so they show the
server alone. Users' clients do more: MLflow's own client builds a payload per call, encodes it,
sends it with ``requests`` and decodes the answer. These measures do the same for both servers,
on payloads shaped like real runs:

- ``pyclient-search``: 1,000 runs, each with 10 params, 5 metrics and 3 tags; a search filtered
  on a metric, a param and a tag, ordered by a metric, 100 results, answer decoded.
- ``pyclient-ingest``: 4 runs one after the other, each: runs/create, one log-batch with 20
  params and 5 tags, 10 log-batches of 1,000 points (10 keys x 100 steps; the point dicts are
  built per call, as a client building them from its queue would), runs/update to FINISHED.
  Points/s is 40,000 points over the wall time of all of it.
- ``pyclient-history``: one metric of 50,000 points, read whole through metrics/get-history,
  following page tokens, every page decoded.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Generator
from typing import Any

import requests
from server_workloads import INGEST_KEYS, ingest_points

API = "/api/2.0/mlflow"
#: One measure as a generator: the first ``next()`` sets up (fill, warm-up) and stops before the
#: first timed repeat; each later ``next()`` takes one timed repeat; the last one checks what was
#: read back and ends with the measure's result (``StopIteration.value``).
Steps = Generator[None, None, dict[str, Any]]
#: The search: one metric, one param and one tag condition, ordered by another metric.
SEARCH_FILTER = "metrics.m0 > 0.3 and params.p0 = 'adam' and tags.t0 = 'vision'"
SEARCH_ORDER = ["metrics.m1 ASC"]


class PyClient:
    """A ``requests`` session sending JSON the way MLflow's Python client does (one per call)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + API
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(f"{self.url}/{path}", json=body, timeout=600)
        return _checked(response, path)

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/{path}", params=params, timeout=600)
        return _checked(response, path)


def _checked(response: requests.Response, path: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(f"{path} -> {response.status_code}: {response.text[:300]}")
    data: dict[str, Any] = response.json()
    return data


def _now_ms() -> int:
    return int(time.time() * 1000)


def _experiment(client: PyClient, name: str) -> str:
    experiment_id: str = client.post("experiments/create", {"name": name})["experiment_id"]
    return experiment_id


def _create_run(client: PyClient, experiment_id: str) -> str:
    body = {"experiment_id": experiment_id, "start_time": _now_ms()}
    run_id: str = client.post("runs/create", body)["run"]["info"]["run_id"]
    return run_id


# -- search -----------------------------------------------------------------------------------------


def search_steps(url: str, params: dict[str, Any]) -> Steps:
    """Fill ``runs`` runs shaped like real ones, then time the search through ``requests``."""
    n_runs = int(params["runs"])
    repeats = int(params.get("repeats", 15))
    rng = random.Random(19)
    client = PyClient(url)
    try:
        experiment_id = _experiment(client, "bench-pyclient-search")
        matching = 0
        for i in range(n_runs):
            run_id = _create_run(client, experiment_id)
            m0, optimizer, team = (
                rng.random(),
                rng.choice(["adam", "sgd"]),
                rng.choice(["vision", "nlp"]),
            )
            matching += m0 > 0.3 and optimizer == "adam" and team == "vision"
            ts = _now_ms()
            metrics = [{"key": "m0", "value": m0, "timestamp": ts, "step": 0}] + [
                {"key": f"m{k}", "value": rng.random(), "timestamp": ts, "step": 0}
                for k in range(1, 5)
            ]
            run_params = [{"key": "p0", "value": optimizer}] + [
                {"key": f"p{k}", "value": f"value-{rng.randrange(1000)}"} for k in range(1, 10)
            ]
            tags = [
                {"key": "t0", "value": team},
                {"key": "t1", "value": f"owner-{i % 7}"},
                {"key": "t2", "value": "candidate"},
            ]
            client.post(
                "runs/log-batch",
                {"run_id": run_id, "metrics": metrics, "params": run_params, "tags": tags},
            )
        body = {
            "experiment_ids": [experiment_id],
            "filter": SEARCH_FILTER,
            "order_by": SEARCH_ORDER,
            "max_results": 100,
        }
        client.post("runs/search", body)  # warm-up: the first call pays for cold caches
        times: list[float] = []
        found: list[dict[str, Any]] = []
        for _ in range(repeats):
            yield
            t0 = time.perf_counter()
            found = client.post("runs/search", body).get("runs", [])
            times.append(time.perf_counter() - t0)
    finally:
        client.close()
    expected = min(matching, 100)
    if len(found) != expected:
        raise AssertionError(f"search returned {len(found)} runs, expected {expected}")
    firsts = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "m1") for r in found]
    if firsts != sorted(firsts):
        raise AssertionError("search results are not ordered by metrics.m1 ASC")
    if any(len(r["data"]["params"]) != 10 or len(r["data"]["tags"]) < 3 for r in found):
        raise AssertionError("a run came back without all its params and tags")
    return {
        "runs": n_runs,
        "matching": matching,
        "search_s": times,
        "search_s_median": statistics.median(times),
    }


# -- ingest -----------------------------------------------------------------------------------------


def ingest_steps(url: str, params: dict[str, Any]) -> Steps:
    """Whole runs through ``requests``: create, params and tags, 10 x 1000 points, finish.

    One whole run first, untimed (warm-up); then ``repeats`` times ``runs`` runs, each timed.
    """
    n_runs = int(params.get("runs", 4))
    batches = int(params.get("batches", 10))
    repeats = int(params.get("repeats", 3))
    steps_per_batch = 1000 // len(INGEST_KEYS)
    rng = random.Random(7)
    client = PyClient(url)
    rates: list[float] = []
    lost = 0

    def whole_run(experiment_id: str) -> str:
        run_id = _create_run(client, experiment_id)
        client.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": f"param_{k}", "value": str(k * 0.1)} for k in range(20)],
                "tags": [{"key": f"tag_{k}", "value": f"v{k}"} for k in range(5)],
            },
        )
        for b in range(batches):
            # Built per call, as a client building them from its queue would.
            metrics = ingest_points(b * steps_per_batch, steps_per_batch, _now_ms(), rng)
            client.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
        client.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": _now_ms()})
        return run_id

    try:
        experiment_id = _experiment(client, "bench-pyclient-ingest")
        # Warm-up, not timed: the first run of a fresh server pays once for cold caches and for
        # each statement's first preparation (both tools do), as the other measures' first call.
        warm_up = whole_run(experiment_id)
        for _ in range(repeats):
            yield
            t0 = time.perf_counter()
            run_ids = [whole_run(experiment_id) for _ in range(n_runs)]
            wall = time.perf_counter() - t0
            rates.append(n_runs * batches * 1000 / wall)
            for run_id in run_ids:
                stored = sum(len(_history(client, run_id, key)) for key in INGEST_KEYS)
                lost += batches * 1000 - stored
        stored = sum(len(_history(client, warm_up, key)) for key in INGEST_KEYS)
        lost += batches * 1000 - stored
    finally:
        client.close()
    return {
        "runs": n_runs,
        "points_per_repeat": n_runs * batches * 1000,
        "repeats": repeats,
        "points_per_s": rates,
        "points_per_s_median": statistics.median(rates),
        "lost_points": lost,
    }


# -- history ----------------------------------------------------------------------------------------


def _history(client: PyClient, run_id: str, key: str) -> list[dict[str, Any]]:
    """Every point of one metric, following page tokens, each page decoded."""
    points: list[dict[str, Any]] = []
    query: dict[str, Any] = {"run_id": run_id, "metric_key": key}
    while True:
        page = client.get("metrics/get-history", query)
        points += page.get("metrics", [])
        token = page.get("next_page_token")
        if not token:
            return points
        query = {**query, "page_token": token}


def history_steps(url: str, params: dict[str, Any]) -> Steps:
    """Log ``points`` points of one metric, then read the whole history ``repeats`` times."""
    n_points = int(params["points"])
    repeats = int(params.get("repeats", 5))
    client = PyClient(url)
    try:
        experiment_id = _experiment(client, "bench-pyclient-history")
        run_id = _create_run(client, experiment_id)
        base = _now_ms()
        for first in range(0, n_points, 1000):
            metrics = [
                {"key": "loss", "value": 1.0 / (1 + s), "timestamp": base + s, "step": s}
                for s in range(first, min(first + 1000, n_points))
            ]
            client.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
        _history(client, run_id, "loss")  # warm-up
        times: list[float] = []
        for _ in range(repeats):
            yield
            t0 = time.perf_counter()
            points = _history(client, run_id, "loss")
            times.append(time.perf_counter() - t0)
            if len(points) != n_points:
                raise AssertionError(f"get-history returned {len(points)} of {n_points} points")
    finally:
        client.close()
    return {"points": n_points, "history_s": times, "history_s_median": statistics.median(times)}


#: Each measure as steps (see :data:`Steps`), for :func:`interleaved`.
STEPS: dict[str, Callable[[str, dict[str, Any]], Steps]] = {
    "pyclient-search": search_steps,
    "pyclient-ingest": ingest_steps,
    "pyclient-history": history_steps,
}


def run_alone(steps: Steps) -> dict[str, Any]:
    """Every step of one measure, one after the other: its result."""
    try:
        while True:
            next(steps)
    except StopIteration as done:
        result: dict[str, Any] = done.value
        return result


def interleaved(steps: list[Steps]) -> list[dict[str, Any]]:
    """Several measures' timed steps taken in turn, one of each per round; their results.

    Every measure is first brought to its first timed step (fill, warm-up). Then each round
    takes one timed step of each, the order reversed every other round (A B, B A, A B, ...), so
    that both servers are timed over the same stretch of the machine's life: on a shared
    machine the speed of both cores drifts by tens of percent over seconds to minutes, and
    a tool timed a minute after the other can land on a different stretch. Both servers run
    the whole time; the one not being timed is idle.
    """
    for s in steps:
        next(s)  # set-up: everything up to the first timed step
    results: list[dict[str, Any] | None] = [None] * len(steps)
    order = list(range(len(steps)))
    while any(r is None for r in results):
        for i in order:
            if results[i] is None:
                try:
                    next(steps[i])
                except StopIteration as done:
                    results[i] = done.value
        order.reverse()
    return [r for r in results if r is not None]


def search(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """:func:`search_steps` on its own."""
    return run_alone(search_steps(url, params))


def ingest(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """:func:`ingest_steps` on its own."""
    return run_alone(ingest_steps(url, params))


def history(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """:func:`history_steps` on its own."""
    return run_alone(history_steps(url, params))


MEASURES = {"pyclient-search": search, "pyclient-ingest": ingest, "pyclient-history": history}
