"""The system-metrics benchmark (``-w sysmetrics``): what logging system metrics costs a run.

Issue 18 asks that the sampling thread behind ``start_run(log_system_metrics=True)`` cost less
than 1% of a CPU. What a user pays is every CPU cycle the process spends because system metrics
are on: sampling (psutil), averaging, and writing the points to the store. So each measure is a
whole process, and the figure is the difference of its CPU time against the same process with
system metrics off:

- One process per tool and setting: ``import runlab as mlflow`` / ``import mlflow``, a local
  ``sqlite:///`` store in a fresh folder, the sampling interval set in code, then
  ``start_run(log_system_metrics=…)`` and a main thread that sleeps through the window (a
  training loop would be busy instead; the sampler's own cost is the same). CPU time is the
  process's user + system time over the window (``getrusage``), so every thread counts.
- Settings: off (the baseline), every 1 s (ten times the default rate, the stricter case) and
  every 10 s (the default). ``samples_before_logging`` stays 1, so a point is logged per sample.
- Before the window each process logs one ordinary metric and waits a second, as a training
  run would have logged something: what a tool's first metric write costs (imports, opening
  the store) is then outside the window for every setting, with system metrics on or off.
- After the window the process ends its run and counts the ``system/*`` points it stored, which
  shows both tools logged what they should.
- All processes of a round run at the same time (they sleep most of the window; CPU time, not
  wall time, is measured); figures are medians over the rounds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from autolog_run import FRAMEWORKS_VENV

SYSMETRICS_WORKLOADS = ["sysmetrics"]
#: (label, sampling interval in seconds or None for off), in the order shown.
SETTINGS = (("off", None), ("every 1 s", 1.0), ("every 10 s (default)", 10.0))

#: The measured process; argv: package, interval ("off" or seconds), window seconds, workdir.
_PROGRAM = r"""
import json, resource, sys, time
package, interval, window, workdir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
mlflow = __import__(package)
mlflow.set_tracking_uri(f"sqlite:///{workdir}/store.db")
mlflow.set_experiment("sysmetrics")
on = interval != "off"
if on:
    mlflow.set_system_metrics_sampling_interval(float(interval))
    mlflow.set_system_metrics_samples_before_logging(1)

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

run = mlflow.start_run(log_system_metrics=on)
# A training run logs metrics of its own: log one first, so that what any first write costs
# (imports, a connection, compiled statements) falls before the window, in every setting alike.
mlflow.log_metric("warmup", 1.0)
time.sleep(1.0)
cpu0, wall0 = cpu(), time.perf_counter()
time.sleep(window)
cpu1, wall1 = cpu(), time.perf_counter()
mlflow.end_run()
client = mlflow.tracking.MlflowClient()
keys = [k for k in client.get_run(run.info.run_id).data.metrics if k.startswith("system/")]
points = sum(len(client.get_metric_history(run.info.run_id, k)) for k in keys)
print("BENCH_RESULT " + json.dumps(
    {"cpu_s": cpu1 - cpu0, "wall_s": wall1 - wall0, "keys": len(keys), "points": points}
))
"""


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The window each process sleeps through, and the rounds."""
    return {"window_s": sizes["sysmetrics_window_s"], "rounds": sizes["sysmetrics_rounds"]}


def _start(tool: harness.Tool, interval: float | None, window: float, workdir: Path) -> Any:
    workdir.mkdir(parents=True)
    argv = [
        tool.python,
        "-c",
        _PROGRAM,
        tool.package,
        "off" if interval is None else str(interval),
        str(window),
        str(workdir),
    ]
    return subprocess.Popen(
        argv, env=tool.env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: Any, timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in out.splitlines():
        if line.startswith(harness.RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(harness.RESULT_PREFIX) :])
            return result
    return {"error": (err.strip().splitlines() or ["no result"])[-1][:300]}


def run_sysmetrics(
    tools: list[harness.Tool], broken: dict[str, str], params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Every tool and setting, all processes of a round at once, ``rounds`` times."""
    window = float(params["window_s"])
    samples: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {
        f"{name} {label}": msg for name, msg in broken.items() for label, _ in SETTINGS
    }
    with tempfile.TemporaryDirectory(prefix="runlab-bench-sysmetrics-") as tmp:
        for round_no in range(params["rounds"]):
            t0 = time.perf_counter()
            procs = {}
            for tool in tools:
                for label, interval in SETTINGS:
                    key = f"{tool.name} {label}"
                    workdir = Path(tmp) / f"r{round_no}" / f"{tool.name}-{interval}"
                    procs[key] = _start(tool, interval, window, workdir)
            for key, proc in procs.items():
                result = _finish(proc, window + timeout)
                if "error" in result:
                    errors[key] = result["error"]
                else:
                    samples.setdefault(key, []).append(result)
            print(
                f"[sysmetrics round {round_no + 1}]: {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    rows: dict[str, dict[str, Any]] = {}
    for tool in tools:
        baseline = samples.get(f"{tool.name} off")
        for label, interval in SETTINGS:
            key = f"{tool.name} {label}"
            if key in errors or key not in samples:
                rows[key] = {"error": errors.get(key, "no result")}
                continue
            runs = samples[key]
            row: dict[str, Any] = {
                "cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "points": statistics.median(r["points"] for r in runs),
                "keys": max(r["keys"] for r in runs),
            }
            if interval is not None and baseline:
                # Pair each round with its own baseline: the rounds share the machine's load.
                extra = [
                    (r["cpu_s"] - b["cpu_s"]) / r["wall_s"]
                    for r, b in zip(runs, baseline, strict=False)
                ]
                row["cpu_percent"] = 100 * statistics.median(extra)
            rows[key] = row
    return {"rows": rows, "window_s": window, "rounds": params["rounds"]}


def render(result: dict[str, Any], command_line: str, started: dt.datetime, load: str) -> str:
    """The section of BENCHMARKS.md."""
    window = result["window_s"]
    lines = [
        "## System metrics: what `log_system_metrics=True` costs a run (issue 18)",
        "",
        f"- Command: `{command_line}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}, at the end "
        f"{harness.load_average()}",
        "- Rerun: `python3 bench/run.py -w sysmetrics --write BENCHMARKS.md`. MLflow "
        f"{harness.MLFLOW_VERSION} runs in `bench/{FRAMEWORKS_VENV.name}`, created when missing.",
        f"- Each process starts a run on a local SQLite store and sleeps through a {window:.0f} s "
        "window; its CPU time (user + system, every thread) over the window is measured with "
        "system metrics off and on. The cost is the difference, as a share of one CPU. "
        f"{result['rounds']} rounds, all processes of a round at once; medians.",
        "",
        "| tool | sampling | CPU time in the window | extra CPU vs. off (% of one CPU) "
        "| `system/*` points stored (keys) |",
        "|---|---|---|---|---|",
    ]
    for key, row in result["rows"].items():
        tool, label = key.split(" ", 1)
        name = "runlab" if tool == "runlab" else f"MLflow {harness.MLFLOW_VERSION}"
        if "error" in row:
            lines.append(f"| {name} | {label} | failed: {row['error'][:200]} | | |")
            continue
        extra = f"{row['cpu_percent']:.3f}%" if "cpu_percent" in row else "(the baseline)"
        lines.append(
            f"| {name} | {label} | {row['cpu_s'] * 1000:.0f} ms | {extra} | "
            f"{row['points']:.0f} ({row['keys']}) |"
        )
    ours = [
        r["cpu_percent"]
        for k, r in result["rows"].items()
        if k.startswith("runlab ") and "cpu_percent" in r
    ]
    if ours:
        worst = max(ours)
        met = "met" if worst < 1.0 else "not met"
        lines += [
            "",
            f"runlab's system metrics cost at most **{worst:.3f}%** of one CPU, even sampling ten "
            f"times as often as the default (target: < 1%: {met}).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - run through bench/run.py
    sys.exit(f"run this through bench/run.py -w sysmetrics ({os.path.basename(__file__)})")
