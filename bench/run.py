"""Benchmark runlab against MLflow on the same machine, in the same run, on the same workloads.

    python bench/run.py                  # everything, full sizes (several minutes)
    python bench/run.py --quick          # a smoke run with small sizes
    python bench/run.py -w import,loop   # some workloads only
    python bench/run.py --write BENCHMARKS.md

runlab is measured from this checkout with the interpreter that runs this script; MLflow inside
``bench/.venv-mlflow`` (created with ``python -m venv`` + ``pip install mlflow==3.17.2`` when
missing). Every workload runs in a fresh subprocess per tool, in a fresh temporary folder with a
local ``sqlite:///`` database, through the same driver code (``import runlab as mlflow`` vs
``import mlflow``). Numbers are medians of repeats; a workload that fails for one tool shows its
error in its cell and the rest carries on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import report

ALL_WORKLOADS = ["import", "loop", "disk", "history", "search", "concurrent"]

# Full sizes follow issue 2. MLflow gets smaller counts where 1M points would take many minutes;
# the table states every count, and per-point figures are computed from the real count.
FULL = {
    "import_repeats": 9,
    "loop_steps": 300,
    "loop_repeats": 5,
    "disk_points": 1_000_000,
    "mlflow_disk_points": 200_000,
    "history_points": 1_000_000,
    "mlflow_history_points": 200_000,
    "history_repeats": 3,
    "search_runs": 10_000,
    "mlflow_search_runs": 10_000,
    "search_repeats": 15,
    "concurrent_steps": 250,
}
QUICK = {
    "import_repeats": 3,
    "loop_steps": 300,
    "loop_repeats": 2,
    "disk_points": 20_000,
    "mlflow_disk_points": 20_000,
    "history_points": 20_000,
    "mlflow_history_points": 20_000,
    "history_repeats": 2,
    "search_runs": 300,
    "mlflow_search_runs": 300,
    "search_repeats": 5,
    "concurrent_steps": 25,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark runlab against MLflow 3.17.2 side by side.",
    )
    parser.add_argument(
        "-w",
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help=f"comma-separated subset of: {', '.join(ALL_WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--tools", default="runlab,mlflow", help="comma-separated: runlab, mlflow (default: both)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    for key, value in FULL.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            type=int,
            default=None,
            help=f"default {value:,} (quick: {QUICK[key]:,})",
        )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per workload and tool (default 1800)"
    )
    parser.add_argument(
        "--mlflow-venv",
        type=Path,
        default=harness.BENCH_DIR / ".venv-mlflow",
        help="virtualenv with MLflow (created when missing)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument("--write", type=Path, help="write a BENCHMARKS.md-style report here")
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> dict[str, int]:
    base = QUICK if args.quick else FULL
    return {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}


def params_for(workload: str, tool: str, sizes: dict[str, int]) -> dict[str, Any]:
    """The size parameters one workload gets for one tool."""
    theirs = tool == "mlflow"
    if workload == "loop":
        return {"steps": sizes["loop_steps"], "n_params": 20, "repeats": sizes["loop_repeats"]}
    if workload == "disk":
        points = sizes["mlflow_disk_points" if theirs else "disk_points"]
        return {"points": points, "keys": 10, "batch": 1000}
    if workload == "history":
        points = sizes["mlflow_history_points" if theirs else "history_points"]
        return {"points": points, "repeats": sizes["history_repeats"]}
    if workload == "search":
        runs = sizes["mlflow_search_runs" if theirs else "search_runs"]
        return {"runs": runs, "repeats": sizes["search_repeats"], "max_results": 100}
    if workload == "concurrent":
        return {"procs": 4, "steps": sizes["concurrent_steps"], "keys": 4}
    raise ValueError(workload)


def build_tools(names: list[str], mlflow_venv: Path) -> tuple[list[harness.Tool], dict[str, str]]:
    """The tools to measure; a tool that cannot be set up is reported, not fatal."""
    tools: list[harness.Tool] = []
    broken: dict[str, str] = {}
    for name in names:
        try:
            if name == "runlab":
                tools.append(harness.runlab_tool())
            elif name == "mlflow":
                tools.append(harness.mlflow_tool(mlflow_venv))
            else:
                broken[name] = f"unknown tool {name!r}"
        except Exception as exc:
            broken[name] = f"could not set up {name}: {exc}"
    return tools, broken


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in ALL_WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    tool_names = [t.strip() for t in args.tools.split(",") if t.strip()]
    tools, broken = build_tools(tool_names, args.mlflow_venv)

    started = dt.datetime.now(dt.timezone.utc)
    load_at_start = harness.load_average()
    results: report.Results = {}
    for workload in workloads:
        per_tool: dict[str, dict[str, Any]] = {n: {"error": m} for n, m in broken.items()}
        if workload == "import":
            per_tool.update(harness.measure_import(tools, sizes["import_repeats"]))
        else:
            for tool in tools:
                t0 = time.perf_counter()
                print(f"[{workload}] {tool.name} ...", file=sys.stderr, flush=True)
                result = harness.run_workload(
                    tool, workload, params_for(workload, tool.name, sizes), args.timeout
                )
                status = result.get("error", "ok")
                print(
                    f"[{workload}] {tool.name}: {status} ({time.perf_counter() - t0:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                per_tool[tool.name] = result
        results[workload] = per_tool

    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in argv)
    text = render(results, tool_names, command.strip(), started, load_at_start)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.write:
        args.write.write_text(text + "\n")
    return 0


def render(
    results: report.Results,
    tool_names: list[str],
    command: str,
    started: dt.datetime,
    load_at_start: str,
) -> str:
    """The whole report: heading, command, machine, table and notes."""
    lines = [
        "# Benchmarks: runlab vs MLflow 3.17.2",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load_at_start}",
        "- Rerun: `python3 bench/run.py --write BENCHMARKS.md` (all options: `--help`; "
        "`--quick` for a smoke run). MLflow runs inside `bench/.venv-mlflow`, created when missing.",
        "- Both tools run in the same session, each workload in a fresh subprocess and a fresh "
        "temporary folder with a local `sqlite:///` database; the same driver code imports "
        "`runlab as mlflow` or `mlflow`. Telemetry is off for both. Figures are medians.",
        "",
        report.table(results, tool_names),
        "",
        "Notes:",
        "",
    ]
    lines += [f"- {note}" for note in report.notes(results)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
