"""The serving benchmark (issue 5): ``/invocations`` on ``runlab models serve`` and ``mlflow
models serve`` for the same scikit-learn model.

One run fits and saves the model once (with MLflow when it is measured, so runlab serves a model
MLflow wrote; with runlab otherwise), starts both servers on that folder with the same worker
count, and waits for ``/ping``. Then, round by round, for 1-row and 100-row requests, the same
client (serving_client.py, a separate process with the benchmark's interpreter) loads one server
and then the other, the order alternating between rounds. Figures are medians over the rounds;
every answer is checked. Failures come back as ``{"error": …}`` cells, as elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import serving_harness

SERVING_WORKLOADS = ["serving"]
MODEL_SCRIPT = harness.BENCH_DIR / "serving_model.py"
CLIENT_SCRIPT = harness.BENCH_DIR / "serving_client.py"
ROW_COUNTS = (1, 100)


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The serving sizes from run.py's table of sizes."""
    return {
        "threads": sizes["serving_threads"],
        "duration_s": sizes["serving_duration_s"],
        "warmup_s": sizes["serving_warmup_s"],
        "rounds": sizes["serving_rounds"],
        "workers": sizes["serving_workers"],
    }


def _result_line(stdout: str) -> dict[str, Any] | None:
    lines = [ln for ln in stdout.splitlines() if ln.startswith(harness.RESULT_PREFIX)]
    return json.loads(lines[-1][len(harness.RESULT_PREFIX) :]) if lines else None


def _subprocess_result(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a bench script and return its ``BENCH_RESULT`` line; raise with its stderr if none."""
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    result = _result_line(proc.stdout)
    if result is None:
        tail = proc.stderr.strip()[-1500:] or f"exit code {proc.returncode}"
        raise RuntimeError(f"{Path(cmd[1]).name} failed: {tail}")
    return result


def save_model(tool: harness.Tool, out_dir: Path, timeout: float) -> dict[str, Any]:
    """Fit and save the model with ``tool`` into ``out_dir/model`` (and the bodies beside it)."""
    cmd = [tool.python, str(MODEL_SCRIPT), tool.name, str(out_dir)]
    return _subprocess_result(cmd, tool.env, timeout)


def run_client(url: str, bodies: Path, rows: int, params: dict[str, Any]) -> dict[str, Any]:
    """One load measure against ``url`` in a fresh client process."""
    client = {
        "url": url,
        "bodies": str(bodies),
        "rows": rows,
        "threads": params["threads"],
        "duration_s": params["duration_s"],
        "warmup_s": params["warmup_s"],
    }
    cmd = [sys.executable, str(CLIENT_SCRIPT), json.dumps(client)]
    limit = params["warmup_s"] + params["duration_s"] + 120
    return _subprocess_result(cmd, harness.clean_env({}), limit)


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one tool and one request size."""
    done = [r for r in rounds if "requests_per_s" in r]
    if not done:
        return {"error": rounds[-1].get("error", "no round finished"), "rounds": rounds}
    out: dict[str, Any] = {
        "rounds": rounds,
        "requests_per_s": statistics.median(r["requests_per_s"] for r in done),
        "p50_s": statistics.median(r["p50_s"] for r in done),
        "p99_s": statistics.median(r["p99_s"] for r in done),
        "requests": sum(r["requests"] for r in done),
        "errors": sum(r["errors"] for r in done),
        "error_samples": [s for r in done for s in r["error_samples"]][:3],
        "failed_rounds": len(rounds) - len(done),
    }
    for key in ("server_cpu_ms_per_request", "server_cpus_used"):
        values = [r[key] for r in done if key in r]
        if values:
            out[key] = statistics.median(values)
    return out


def run_serving(
    tools: list[harness.Tool],
    broken: dict[str, str],
    params: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """The whole serving benchmark; never raises. Returns the model's description and, per tool,
    per request size, the rounds and their medians (or an error)."""
    started = time.perf_counter()
    out: dict[str, Any] = {"params": params, "tools": {n: {"error": m} for n, m in broken.items()}}
    if not tools:
        return out
    saver = next((t for t in tools if t.name == "mlflow"), tools[0])
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        try:
            out["model"] = save_model(saver, workdir, timeout)
        except Exception as exc:
            for tool in tools:
                out["tools"][tool.name] = {"error": f"saving the model failed: {exc}"[:600]}
            return out
        model_dir, bodies = Path(out["model"]["model_dir"]), workdir / "bodies.json"
        with contextlib.ExitStack() as stack:
            servers = {}
            for tool in tools:
                print(f"[serving] starting {tool.name} ...", file=sys.stderr, flush=True)
                try:
                    servers[tool.name] = stack.enter_context(
                        serving_harness.running_model_server(
                            tool, model_dir, params["workers"], workdir
                        )
                    )
                except Exception as exc:
                    out["tools"][tool.name] = {"error": f"{type(exc).__name__}: {exc}"[:800]}
            samples: dict[str, dict[int, list[dict[str, Any]]]] = {
                name: {rows: [] for rows in ROW_COUNTS} for name in servers
            }
            for i in range(params["rounds"]):
                order = list(servers) if i % 2 == 0 else list(reversed(servers))
                for rows in ROW_COUNTS:
                    for name in order:
                        samples[name][rows].append(_measure(servers[name], bodies, rows, params))
                        last = samples[name][rows][-1]
                        status = last.get("error") or (
                            f"{last['requests_per_s']:,.0f} req/s, p99 "
                            f"{last['p99_s'] * 1000:,.1f} ms, {last['errors']} errors"
                        )
                        print(
                            f"[serving] round {i + 1} {rows} row(s) {name}: {status}",
                            file=sys.stderr,
                            flush=True,
                        )
            for name, server in servers.items():
                out["tools"][name] = {
                    "workers": params["workers"],
                    "by_rows": {str(rows): _summary(samples[name][rows]) for rows in ROW_COUNTS},
                    "log_tail": server.log_tail(600),
                }
    out["elapsed_s"] = time.perf_counter() - started
    return out


def _measure(
    server: serving_harness.RunningServer, bodies: Path, rows: int, params: dict[str, Any]
) -> dict[str, Any]:
    """One client run against one server, with the server's CPU time over it; never raises."""
    try:
        cpu0 = serving_harness.process_group_cpu_s(server.proc.pid)
        t0 = time.perf_counter()
        result = run_client(server.url, bodies, rows, params)
        wall = time.perf_counter() - t0
        cpu1 = serving_harness.process_group_cpu_s(server.proc.pid)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:600]}
    if cpu0 is not None and cpu1 is not None:
        total = result["requests"] + result["errors"] + result["warmup_requests"]
        if total:
            # Warm-up requests are in the CPU time too, so they are in the count.
            result["server_cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / total
        # CPUs the server kept busy while the client ran (its start-up included, so a bit low).
        result["server_cpus_used"] = (cpu1 - cpu0) / wall
    return result
