"""The serving benchmark's load generator: one client for both servers, in its own process.

Usage (serving_run.py does this, with the benchmark's interpreter)::

    python serving_client.py '{"url": ..., "bodies": FILE, "rows": 1, "threads": 4, ...}'

``threads`` threads, each with its own keep-alive ``http.client.HTTPConnection``, POST the same
pre-encoded ``dataframe_split`` body to ``/invocations`` back to back: first for ``warmup_s``
seconds (not recorded), then for ``duration_s`` seconds. A request counts when it starts inside
the measured window and its answer has fully arrived; its latency is from just before sending to
just after reading the whole answer. Every answer is checked: status 200, JSON with
``predictions`` equal to what the model predicted when it was saved (so the right number of
rows). Anything else is counted as an error (with a sample), and the connection is reopened.

The last stdout line (``BENCH_RESULT {...}``) carries requests/s, p50, p99 and the error count.
"""

from __future__ import annotations

import http.client
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RESULT_PREFIX = "BENCH_RESULT "
HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, nearest-rank."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


class Worker(threading.Thread):
    """One client thread with one keep-alive connection."""

    def __init__(
        self,
        host: str,
        port: int,
        body: bytes,
        expected: list[Any],
        start_at: float,
        end_at: float,
        timeout: float,
    ) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.timeout = host, port, timeout
        self.body, self.expected = body, expected
        self.start_at, self.end_at = start_at, end_at
        self.latencies: list[float] = []
        self.errors = 0
        self.warmup_requests = 0
        self.error_samples: list[str] = []

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _check(self, status: int, payload: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {payload[:200]!r}"
        try:
            predictions = json.loads(payload)["predictions"]
        except (ValueError, KeyError, TypeError):
            return f"not a predictions answer: {payload[:200]!r}"
        if predictions != self.expected:
            return f"{len(predictions)} predictions, not the {len(self.expected)} expected ones"
        return None

    def run(self) -> None:
        conn = self._connect()
        while True:
            t0 = time.perf_counter()
            if t0 >= self.end_at:
                break
            try:
                conn.request("POST", "/invocations", body=self.body, headers=HEADERS)
                response = conn.getresponse()
                payload = response.read()
                problem = self._check(response.status, payload)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            if problem is not None:
                conn.close()
                conn = self._connect()
            if t0 < self.start_at:
                self.warmup_requests += 1
                continue
            if t1 > self.end_at:
                break  # straddles the end of the window: neither counted nor timed
            if problem is None:
                self.latencies.append(t1 - t0)
            else:
                self.errors += 1
                if len(self.error_samples) < 3:
                    self.error_samples.append(problem)
        conn.close()


def run(params: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(params["url"])
    bodies = json.loads(Path(params["bodies"]).read_text())
    case = bodies[str(params["rows"])]
    body = json.dumps(case["body"]).encode()
    threads = int(params["threads"])
    duration = float(params["duration_s"])
    now = time.perf_counter()
    start_at = now + float(params["warmup_s"])
    end_at = start_at + duration
    workers = [
        Worker(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            body,
            case["expected"],
            start_at,
            end_at,
            float(params.get("timeout_s", 60)),
        )
        for _ in range(threads)
    ]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=end_at - time.perf_counter() + float(params.get("timeout_s", 60)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    latencies = sorted(x for w in workers for x in w.latencies)
    errors = sum(w.errors for w in workers)
    ok = len(latencies)
    client_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "rows": params["rows"],
        "threads": threads,
        "duration_s": duration,
        "warmup_s": float(params["warmup_s"]),
        "warmup_requests": sum(w.warmup_requests for w in workers),
        "requests": ok,
        "errors": errors,
        "error_samples": [s for w in workers for s in w.error_samples][:3],
        "requests_per_s": ok / duration,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "mean_s": sum(latencies) / ok if ok else float("nan"),
        "max_s": latencies[-1] if latencies else float("nan"),
        "body_bytes": len(body),
        # The client's own CPU (warm-up included), to show it did not starve the server.
        "client_cpu_s": client_cpu,
    }


if __name__ == "__main__":
    print(RESULT_PREFIX + json.dumps(run(json.loads(sys.argv[1]))), flush=True)
