"""The durable-mode benchmark (``-w durable``): runlab alone, one subprocess, three modes.

See workloads/durable_cost.py for what is measured; this runs it and renders its section of
BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import harness

DURABLE_WORKLOADS = ["durable"]


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The workload's sizes from the run's size table."""
    return {
        "points": sizes["durable_points"],
        "fsync_points": sizes["durable_fsync_points"],
        "repeats": sizes["durable_repeats"],
    }


def run_durable(
    tools: list[harness.Tool], broken: dict[str, str], params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Run the workload with runlab (the only tool that has the mode)."""
    tool = next((t for t in tools if t.name == "runlab"), None)
    if tool is None:
        return {"error": broken.get("runlab", "runlab was not among the tools (--tools)")}
    return harness.run_workload(tool, "durable", params, timeout)


_LABELS = {
    "off": "off (default: in-memory queue)",
    "1": "`RUNLAB_DURABLE=1` (a `write` per call)",
    "fsync": "`RUNLAB_DURABLE=fsync` (a `write` and an `fsync` per call)",
}


def render(result: dict[str, Any], command: str, started: dt.datetime, load: str) -> str:
    """The section: heading, setup, one row per mode, and the loss check."""
    lines = [
        "## Durable mode: the cost of `RUNLAB_DURABLE`",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}",
        "- Rerun: `python3 bench/run.py -w durable --write BENCHMARKS.md` (runlab only; it does "
        "not need the MLflow virtualenv).",
        "- One process logs N points of one metric with the fluent `log_metric` into a fresh "
        "local SQLite file per mode (`start_run` → loop → `end_run`), and reads them all back; "
        "the spool folder is on the same disk. Figures are medians of the repeats. The per-call "
        "time is the loop's wall time over N, so it includes the background writer's share of "
        "the interpreter; the in-memory writer leaves more of the store's work for `end_run`, "
        "so the loop plus `end_run` over N is the fairer comparison.",
        "",
    ]
    if "error" in result:
        lines.append(f"Not measured: {result['error']}")
        return "\n".join(lines)
    lines += [
        "| mode | points x repeats | `log_metric` per call | `end_run` (drains) | "
        "loop + `end_run` per point | vs off: per call / per point | points lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in result["modes"].items():
        lost = r["points_expected"] - r["points_stored"]
        lines.append(
            f"| {_LABELS.get(label, label)} | {r['points']:,} x {r['repeats']} | "
            f"{r['per_call_s_median'] * 1e6:,.1f} µs ({r['calls_per_s_median']:,.0f}/s) | "
            f"{r['end_run_s_median'] * 1000:,.1f} ms | {r['per_point_s_median'] * 1e6:,.1f} µs | "
            f"{r['ratio_vs_off']:,.2f}x / {r['total_ratio_vs_off']:,.2f}x | "
            f"{lost:,} of {r['points_expected']:,} |"
        )
    return "\n".join(lines)
