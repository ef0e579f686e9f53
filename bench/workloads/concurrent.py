"""(f) Several processes logging into one SQLite file at the same moment.

The parent creates the database and experiment, starts ``procs`` children (the same driver and
interpreter), waits until all have imported the tool and opened their store, then releases them
together. Each child logs with the fluent API and counts the errors it sees; afterwards the parent
reads every run back and counts the points that did not arrive.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from workloads.common import sqlite_uri

LOCKED = "database is locked"


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Start the children, release them at once, then audit what was stored."""
    mlflow = api.mlflow
    n_procs = int(params.get("procs", 4))
    steps = int(params["steps"])
    keys = int(params.get("keys", 4))
    uri = sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.set_experiment("bench-concurrent").experiment_id
    child_params = {"uri": uri, "experiment_id": experiment_id, "steps": steps, "keys": keys}

    with contextlib.ExitStack() as stack:
        children = []
        for _ in range(n_procs):
            err = stack.enter_context(tempfile.TemporaryFile(mode="w+"))
            proc = subprocess.Popen(
                [
                    sys.executable,
                    api.driver,
                    api.tool,
                    "concurrent_child",
                    json.dumps(child_params),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            stack.callback(_reap, proc)
            children.append((proc, err))
        for proc, err in children:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            while line and line.strip() != "READY":
                line = proc.stdout.readline()
            if not line:
                err.seek(0)
                raise RuntimeError(f"a child exited before it was ready: {err.read()[-2000:]}")
        t0 = time.perf_counter()
        for proc, _ in children:
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()

        results = []
        for proc, err in children:
            out, _ = proc.communicate(timeout=float(params.get("timeout", 1200)))
            lines = [ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")]
            if not lines:
                err.seek(0)
                raise RuntimeError(f"a child gave no result: {err.read()[-2000:]}")
            results.append(json.loads(lines[-1][len("BENCH_RESULT ") :]))
        wall_s = time.perf_counter() - t0

    client = api.client(uri)
    expected = n_procs * steps * keys
    stored = 0
    for child in results:
        if "error" in child:
            raise RuntimeError(f"a child failed: {child['error']}")
        if child["run_id"] is None:
            continue
        for k in range(keys):
            stored += len(client.get_metric_history(child["run_id"], f"metric_{k}"))
    locked = sum(c["locked_errors"] for c in results)
    other = sum(c["other_errors"] for c in results)
    messages = sorted({m for c in results for m in c["messages"]})
    return {
        "procs": n_procs,
        "points_expected": expected,
        "points_stored": stored,
        "lost_points": expected - stored,
        "locked_errors": locked,
        "other_errors": other,
        "error_samples": messages[:5],
        "wall_s": wall_s,
    }


def _reap(proc: subprocess.Popen[str]) -> None:
    """Make sure a child we started is gone (it may hang if the tool under test deadlocks)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def child(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One writer: wait for GO, then start a run, log params and metrics, end the run."""
    mlflow = api.mlflow
    mlflow.set_tracking_uri(params["uri"])
    counts = {"locked": 0, "other": 0}
    messages: set[str] = set()

    def attempt(func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            text = str(exc)
            if LOCKED in text.lower():
                counts["locked"] += 1
            else:
                counts["other"] += 1
            messages.add(f"{type(exc).__name__}: {text[:200]}")
            return None

    # Open the store before the starting signal so that imports and schema checks overlap.
    attempt(api.client(params["uri"]).get_experiment, params["experiment_id"])
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.readline()

    active = attempt(mlflow.start_run, experiment_id=params["experiment_id"])
    run_id = active.info.run_id if active is not None else None
    if run_id is not None:
        for i in range(5):
            attempt(mlflow.log_param, f"param_{i}", i)
        for step in range(int(params["steps"])):
            for k in range(int(params["keys"])):
                attempt(mlflow.log_metric, f"metric_{k}", step * 0.001 + k, step=step)
        attempt(mlflow.end_run)
    return {
        "run_id": run_id,
        "locked_errors": counts["locked"],
        "other_errors": counts["other"],
        "messages": sorted(messages),
    }
