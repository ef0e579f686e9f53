"""Server benchmark measures: the same raw MLflow REST requests sent to either server.

These run in the benchmark's own interpreter with one HTTP client (urllib3, keep-alive, one
connection per client thread), so the client side is identical for ``runlab server`` and
``mlflow server``: same bodies, same order, same parsing. Request bodies are encoded before the
clock starts where the measure is about the server (ingest), so the client's JSON encoding is
not part of the figure.

Every measure checks what it measured: ingest reads every point back, search checks the count
and the order of its results, history checks the number of points.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlencode

import urllib3

API = "/api/2.0/mlflow"
SEARCH_FILTER = "metrics.acc > 0.5 AND params.optimizer = 'adam' AND tags.team = 'vision'"
SEARCH_ORDER = ["metrics.loss ASC"]
#: Keys an ingest batch spreads its 1000 points over (100 steps x 10 keys), as a training loop.
INGEST_KEYS = [f"metric_{i}" for i in range(10)]


class RestClient:
    """A thin JSON client for MLflow's REST API over one keep-alive connection (urllib3).

    urllib3 rather than a richer client because its per-request overhead is small (about
    0.4 ms here against 0.6 ms for httpx), so latencies say more about the server. Raises with
    the server's answer on anything but 200.
    """

    def __init__(self, url: str, timeout: float = 600.0) -> None:
        parts = urllib3.util.parse_url(url)
        self.pool = urllib3.HTTPConnectionPool(
            parts.host, parts.port, maxsize=1, block=True, timeout=timeout, retries=False
        )

    def close(self) -> None:
        self.pool.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        fields: dict[str, Any] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request and read the whole answer."""
        url = f"{API}/{path}"
        if fields:
            url += "?" + urlencode(fields)
        headers = {"Content-Type": "application/json"} if body is not None else None
        return self.pool.request(method, url, body=body, headers=headers)

    def post(self, path: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return _checked(self.request("POST", path, body=data), path)

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return _checked(self.request("GET", path, fields=params), path)

    def experiment(self, name: str) -> str:
        experiment_id: str = self.post("experiments/create", {"name": name})["experiment_id"]
        return experiment_id

    def run(self, experiment_id: str) -> str:
        body = {"experiment_id": experiment_id, "start_time": _now_ms()}
        run_id: str = self.post("runs/create", body)["run"]["info"]["run_id"]
        return run_id

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """Every point of one metric, following page tokens if the server pages."""
        points: list[dict[str, Any]] = []
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
        while True:
            page = self.get("metrics/get-history", params)
            points += page.get("metrics", [])
            token = page.get("next_page_token")
            if not token:
                return points
            params = {**params, "page_token": token}


def _checked(response: urllib3.BaseHTTPResponse, path: str) -> dict[str, Any]:
    if response.status != 200:
        raise RuntimeError(f"{path} -> {response.status}: {response.data[:300]!r}")
    data: dict[str, Any] = json.loads(response.data)
    return data


def _now_ms() -> int:
    return int(time.time() * 1000)


def ingest_points(
    first_step: int, steps: int, base_ms: int, rng: random.Random
) -> list[dict[str, Any]]:
    """One ingest batch's metric messages: every key of INGEST_KEYS at ``steps`` steps."""
    return [
        {
            "key": key,
            "value": 1.0 / (1.0 + step / 1000.0) + rng.gauss(0.0, 0.01),
            "timestamp": base_ms + step,
            "step": step,
        }
        for step in range(first_step, first_step + steps)
        for key in INGEST_KEYS
    ]


def _batch_body(
    run_id: str, first_step: int, steps: int, base_ms: int, rng: random.Random
) -> bytes:
    metrics = ingest_points(first_step, steps, base_ms, rng)
    return json.dumps({"run_id": run_id, "metrics": metrics}).encode()


# -- ingest -----------------------------------------------------------------------------------------


def ingest(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """Log-batch ingest: ``clients`` threads each send ``batches`` bodies of 1000 points.

    The clients start together; points/s is all points over the wall time from the start to the
    last answer. Repeated ``repeats`` times into fresh runs; the median is the figure.
    """
    clients = int(params.get("clients", 1))
    batches = int(params["batches"])
    repeats = int(params.get("repeats", 3))
    per_batch_steps = 1000 // len(INGEST_KEYS)
    rng = random.Random(5)
    setup = RestClient(url)
    rates: list[float] = []
    lost = 0
    try:
        experiment_id = setup.experiment("bench-ingest")
        for _ in range(repeats):
            run_ids = [setup.run(experiment_id) for _ in range(clients)]
            base_ms = _now_ms()
            bodies = [
                [
                    _batch_body(r, b * per_batch_steps, per_batch_steps, base_ms, rng)
                    for b in range(batches)
                ]
                for r in run_ids
            ]
            wall = _concurrently(url, bodies)
            points = clients * batches * 1000
            rates.append(points / wall)
            # Every point must have arrived (the first key of every run, then the total).
            for run_id in run_ids:
                stored = sum(len(setup.history(run_id, key)) for key in INGEST_KEYS)
                lost += batches * 1000 - stored
    finally:
        setup.close()
    return {
        "clients": clients,
        "batches_per_client": batches,
        "points_per_repeat": clients * batches * 1000,
        "repeats": repeats,
        "points_per_s": rates,
        "points_per_s_median": statistics.median(rates),
        "lost_points": lost,
    }


def _concurrently(url: str, bodies_per_client: list[list[bytes]]) -> float:
    """Send each client's bodies from its own thread and connection; returns the wall time."""
    ready = threading.Barrier(len(bodies_per_client) + 1)
    errors: list[str] = []

    def client(bodies: list[bytes]) -> None:
        rest = RestClient(url)
        try:
            rest.get("experiments/get-by-name", {"experiment_name": "bench-ingest"})  # connect
            ready.wait()
            for body in bodies:
                rest.post("runs/log-batch", body)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            rest.close()

    threads = [threading.Thread(target=client, args=(b,)) for b in bodies_per_client]
    for thread in threads:
        thread.start()
    ready.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    return wall


# -- run creation -------------------------------------------------------------------------------------


def create_runs(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """Latency of runs/create followed by one small log-batch (2 metrics, 2 params, 1 tag)."""
    n = int(params["runs"])
    warmup = 5
    rest = RestClient(url)
    latencies: list[float] = []
    try:
        experiment_id = rest.experiment("bench-create")
        for i in range(n + warmup):
            t0 = time.perf_counter()
            run_id = rest.run(experiment_id)
            rest.post(
                "runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [
                        {"key": "acc", "value": 0.5, "timestamp": _now_ms(), "step": 0},
                        {"key": "loss", "value": 0.1, "timestamp": _now_ms(), "step": 0},
                    ],
                    "params": [
                        {"key": "lr", "value": "0.01"},
                        {"key": "optimizer", "value": "adam"},
                    ],
                    "tags": [{"key": "team", "value": "vision"}],
                },
            )
            if i >= warmup:
                latencies.append(time.perf_counter() - t0)
    finally:
        rest.close()
    ordered = sorted(latencies)
    return {
        "runs": n,
        "latency_s_median": statistics.median(latencies),
        "latency_s_p90": ordered[int(len(ordered) * 0.9) - 1],
    }


# -- search -------------------------------------------------------------------------------------------


def search(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """Create ``runs`` runs through the API, then time the filtered, ordered search."""
    n_runs = int(params["runs"])
    repeats = int(params.get("repeats", 15))
    max_results = int(params.get("max_results", 100))
    fill_clients = int(params.get("fill_clients", 1))
    setup = RestClient(url)
    try:
        experiment_id = setup.experiment("bench-search")
        t0 = time.perf_counter()
        matching = _fill_runs(url, experiment_id, n_runs, fill_clients)
        create_s = time.perf_counter() - t0
        body = {
            "experiment_ids": [experiment_id],
            "filter": SEARCH_FILTER,
            "order_by": SEARCH_ORDER,
            "max_results": max_results,
        }
        setup.post("runs/search", body)  # warm-up: the first call pays for cold caches
        times: list[float] = []
        found: list[dict[str, Any]] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            found = setup.post("runs/search", body).get("runs", [])
            times.append(time.perf_counter() - t0)
    finally:
        setup.close()
    expected = min(matching, max_results)
    if len(found) != expected:
        raise AssertionError(f"search returned {len(found)} runs, expected {expected}")
    losses = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "loss") for r in found]
    if losses != sorted(losses):
        raise AssertionError("search results are not ordered by metrics.loss ASC")
    return {
        "runs": n_runs,
        "matching": matching,
        "returned": len(found),
        "create_s": create_s,
        "search_s": times,
        "search_s_median": statistics.median(times),
    }


def _fill_runs(url: str, experiment_id: str, n_runs: int, clients: int) -> int:
    """Create the search's runs (from ``clients`` threads); returns how many match the filter."""
    rng = random.Random(11)
    plans = []
    matching = 0
    for _ in range(n_runs):
        acc, loss = rng.random(), rng.random()
        optimizer = rng.choice(["adam", "sgd", "rmsprop"])
        team = rng.choice(["vision", "nlp"])
        lr = str(rng.choice([0.1, 0.01, 0.001]))
        matching += acc > 0.5 and optimizer == "adam" and team == "vision"
        plans.append((acc, loss, optimizer, team, lr))
    errors: list[str] = []

    def fill(part: list[tuple[float, float, str, str, str]]) -> None:
        rest = RestClient(url)
        try:
            for acc, loss, optimizer, team, lr in part:
                run_id = rest.run(experiment_id)
                ts = _now_ms()
                rest.post(
                    "runs/log-batch",
                    {
                        "run_id": run_id,
                        "metrics": [
                            {"key": "acc", "value": acc, "timestamp": ts, "step": 0},
                            {"key": "loss", "value": loss, "timestamp": ts, "step": 0},
                        ],
                        "params": [
                            {"key": "optimizer", "value": optimizer},
                            {"key": "lr", "value": lr},
                        ],
                        "tags": [{"key": "team", "value": team}],
                    },
                )
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            rest.close()

    threads = [threading.Thread(target=fill, args=(plans[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    return matching


# -- metric history -----------------------------------------------------------------------------------


def history(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """Log ``points`` points of one metric, then read the whole history ``repeats`` times.

    Two timings per read: until the last byte of the answer arrived (the server's work and the
    transfer), and that plus decoding the JSON in the client.
    """
    n_points = int(params["points"])
    repeats = int(params.get("repeats", 3))
    rest = RestClient(url)
    rng = random.Random(3)
    paged = False
    try:
        run_id = rest.run(rest.experiment("bench-history"))
        base_ms = _now_ms()
        t0 = time.perf_counter()
        for start in range(0, n_points, 1000):
            metrics = [
                {
                    "key": "loss",
                    "value": 1.0 / (1 + s) + rng.gauss(0, 0.01),
                    "timestamp": base_ms + s,
                    "step": s,
                }
                for s in range(start, min(start + 1000, n_points))
            ]
            rest.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
        log_s = time.perf_counter() - t0
        http_s: list[float] = []
        total_s: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = rest.request(
                "GET", "metrics/get-history", fields={"run_id": run_id, "metric_key": "loss"}
            )
            t1 = time.perf_counter()  # urllib3 has read the whole body by now
            page = _checked(response, "metrics/get-history")
            points = page.get("metrics", [])
            token = page.get("next_page_token")
            paged = bool(token)
            while token:  # a server that pages: fetch the rest too, all of it timed
                more = rest.get(
                    "metrics/get-history",
                    {"run_id": run_id, "metric_key": "loss", "page_token": token},
                )
                points += more.get("metrics", [])
                token = more.get("next_page_token")
            t2 = time.perf_counter()
            http_s.append(t2 - t0 if paged else t1 - t0)
            total_s.append(t2 - t0)
            if len(points) != n_points:
                raise AssertionError(f"history returned {len(points)} points, expected {n_points}")
    finally:
        rest.close()
    return {
        "points": n_points,
        "repeats": repeats,
        "log_s": log_s,
        "http_s": http_s,
        "http_s_median": statistics.median(http_s),
        "total_s_median": statistics.median(total_s),
        "paged": paged,
    }


MEASURES = {
    "ingest": ingest,
    "create": create_runs,
    "search": search,
    "history": history,
}
