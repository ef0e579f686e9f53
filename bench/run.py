"""Benchmark runlab against MLflow on the same machine, in the same run, on the same workloads.

    python bench/run.py                  # everything, full sizes (a long while)
    python bench/run.py --quick          # a smoke run with small sizes
    python bench/run.py -w import,loop   # some workloads only
    python bench/run.py -w server --backend sqlite,postgresql   # the server benchmark
    python bench/run.py -w serving       # model serving: /invocations (issue 5)
    python bench/run.py -w ui            # the web UI in Chromium (issue 6)
    python bench/run.py -w durable       # what RUNLAB_DURABLE costs (runlab only)
    python bench/run.py -w autolog       # what autolog() costs a training (issue 14)
    python bench/run.py -w projects      # runlab run vs mlflow run of a project (issue 16)
    python bench/run.py -w auth          # log-batch ingest with and without --auth (issue 17)
    python bench/run.py -w spark         # spark_udf batch scoring on local Spark (issue 18)
    python bench/run.py -w sysmetrics    # what log_system_metrics=True costs a run (issue 18)
    python bench/run.py --write BENCHMARKS.md

Two groups of workloads. The client-side ones (issue 2) run the Python API in-process against a
local SQLite file. The server ones (issue 3, ``-w server`` or ``server-…``) start ``runlab
server`` and ``mlflow server`` over the same kind of database (``--backend``) and send both the
same raw REST requests from one HTTP client; see server_run.py. The serving one (issue 5, ``-w
serving``) starts ``runlab models serve`` and ``mlflow models serve`` on the same saved model and
loads ``/invocations`` from one client; see serving_run.py. The UI one (issue 6, ``-w ui``)
seeds both servers with the same big experiment and times their pages in Chromium; see
ui_run.py. The durable one (``-w durable``) measures runlab alone: the fluent loop with
``RUNLAB_DURABLE`` off, ``1`` and ``fsync``; see durable_run.py.

runlab is measured from this checkout with the interpreter that runs this script; MLflow inside
``bench/.venv-mlflow`` (created with ``python -m venv`` + ``pip install mlflow==3.17.2`` when
missing). Every workload runs in a fresh subprocess per tool, in a fresh temporary folder with a
local ``sqlite:///`` database, through the same driver code (``import runlab as mlflow`` vs
``import mlflow``). Numbers are medians of repeats; a workload that fails for one tool shows its
error in its cell and the rest carries on.

``--write FILE`` replaces only the sections of FILE this run measured (client side, server on
SQLite, server on PostgreSQL, serving), so the groups can be rerun separately.
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

import auth_run
import autolog_run
import durable_run
import harness
import projects_run
import report
import server_harness
import server_report
import server_run
import serving_report
import serving_run
import spark_run
import sysmetrics_run
import ui_report
import ui_run

CLIENT_WORKLOADS = ["import", "loop", "disk", "history", "search", "concurrent"]
SERVER_WORKLOADS = list(server_run.SERVER_WORKLOADS)
SERVING_WORKLOADS = list(serving_run.SERVING_WORKLOADS)
UI_WORKLOADS = list(ui_run.UI_WORKLOADS)
DURABLE_WORKLOADS = list(durable_run.DURABLE_WORKLOADS)
AUTOLOG_WORKLOADS = list(autolog_run.AUTOLOG_WORKLOADS)
PROJECTS_WORKLOADS = list(projects_run.PROJECTS_WORKLOADS)
AUTH_WORKLOADS = list(auth_run.AUTH_WORKLOADS)
SYSMETRICS_WORKLOADS = list(sysmetrics_run.SYSMETRICS_WORKLOADS)
SPARK_WORKLOADS = list(spark_run.SPARK_WORKLOADS)
ALL_WORKLOADS = (
    CLIENT_WORKLOADS
    + SERVER_WORKLOADS
    + SERVING_WORKLOADS
    + UI_WORKLOADS
    + DURABLE_WORKLOADS
    + AUTOLOG_WORKLOADS
    + PROJECTS_WORKLOADS
    + AUTH_WORKLOADS
    + SYSMETRICS_WORKLOADS
    + SPARK_WORKLOADS
)
#: Names that stand for a group of workloads in ``-w``.
WORKLOAD_GROUPS = {
    "client": CLIENT_WORKLOADS,
    "server": SERVER_WORKLOADS,
    "autolog": AUTOLOG_WORKLOADS,
}
BACKENDS = ("sqlite", "postgresql")

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
    # The server benchmark (issue 3). MLflow gets fewer batches/runs/calls where its rate would
    # make the full count take many minutes; rates and latencies compare directly.
    "server_ingest_batches": 200,
    "mlflow_server_ingest_batches": 20,
    "server_ingest4_batches": 100,
    "mlflow_server_ingest4_batches": 10,
    "server_ingest_repeats": 3,
    "server_create_runs": 500,
    "mlflow_server_create_runs": 200,
    "server_search_runs": 2_000,
    "mlflow_server_search_runs": 2_000,
    "server_search_large_runs": 100_000,
    "mlflow_server_search_large_runs": 0,  # ~95 min of run creation at MLflow's 57 ms per run
    "server_search_repeats": 15,
    # As a Python client sees it (issue 19): runs searched, ingest repeats, history points.
    "server_py_search_runs": 1_000,
    "server_py_ingest_repeats": 5,
    "server_py_history_points": 50_000,
    "server_history_points": 100_000,
    "mlflow_server_history_points": 100_000,
    "server_history_repeats": 5,
    "server_fluent_steps": 10_000,
    "mlflow_server_fluent_steps": 100,
    "server_fluent_repeats": 3,
    "mlflow_server_fluent_repeats": 3,
    # The serving benchmark (issue 5): seconds per measure, rounds, client threads, workers.
    "serving_duration_s": 15,
    "serving_warmup_s": 3,
    "serving_rounds": 3,
    "serving_threads": 4,
    "serving_workers": 1,
    # The UI benchmark (issue 6): runs in the experiment, points of the long metric, cold loads.
    "ui_runs": 10_000,
    "ui_metric_points": 1_000_000,
    "ui_loads": 7,
    # Durable mode: points per repeat with RUNLAB_DURABLE off and 1, fewer with fsync (a disk
    # flush per call), and repeats.
    "durable_points": 100_000,
    "durable_fsync_points": 2_000,
    "durable_repeats": 5,
    "autolog_rows": 10_000,
    "autolog_repeats": 5,
    "autolog_import_repeats": 5,
    "autolog_epochs": 10,
    "autolog_steps": 200,
    "autolog_lightning_repeats": 5,
    # Projects: warm runs per tool and environment manager (after one cold run).
    "projects_repeats": 5,
    # The auth benchmark (issue 17): batches of 1000 points per client, rounds.
    "auth_batches": 100,
    "mlflow_auth_batches": 10,
    "auth_rounds": 5,
    # System metrics (issue 18): the window each process sleeps through, and rounds.
    "sysmetrics_window_s": 60,
    "sysmetrics_rounds": 3,
    # Spark batch scoring (issue 18): rows scored per pass, timed passes.
    "spark_rows": 1_000_000,
    "spark_repeats": 5,
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
    "server_ingest_batches": 10,
    "mlflow_server_ingest_batches": 5,
    "server_ingest4_batches": 5,
    "mlflow_server_ingest4_batches": 3,
    "server_ingest_repeats": 2,
    "server_create_runs": 30,
    "mlflow_server_create_runs": 20,
    "server_search_runs": 200,
    "mlflow_server_search_runs": 200,
    "server_search_large_runs": 2_000,
    "mlflow_server_search_large_runs": 0,
    "server_search_repeats": 5,
    "server_py_search_runs": 200,
    "server_py_ingest_repeats": 1,
    "server_py_history_points": 5_000,
    "server_history_points": 5_000,
    "mlflow_server_history_points": 5_000,
    "server_history_repeats": 2,
    "server_fluent_steps": 300,
    "mlflow_server_fluent_steps": 20,
    "server_fluent_repeats": 2,
    "mlflow_server_fluent_repeats": 1,
    "serving_duration_s": 3,
    "serving_warmup_s": 1,
    "serving_rounds": 1,
    "serving_threads": 4,
    "serving_workers": 1,
    "ui_runs": 500,
    "ui_metric_points": 20_000,
    "ui_loads": 3,
    "durable_points": 10_000,
    "durable_fsync_points": 300,
    "durable_repeats": 2,
    "autolog_rows": 2_000,
    "autolog_repeats": 2,
    "autolog_import_repeats": 2,
    "autolog_epochs": 2,
    "autolog_steps": 50,
    "autolog_lightning_repeats": 1,
    "projects_repeats": 2,
    "auth_batches": 10,
    "mlflow_auth_batches": 2,
    "auth_rounds": 2,
    "sysmetrics_window_s": 10,
    "sysmetrics_rounds": 1,
    "spark_rows": 100_000,
    "spark_repeats": 2,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark runlab against MLflow 3.17.2 side by side.",
    )
    parser.add_argument(
        "-w",
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help=f"comma-separated subset of: {', '.join(ALL_WORKLOADS)}; 'client' and 'server' "
        "name the two groups (default: all)",
    )
    parser.add_argument(
        "--backend",
        default="sqlite",
        help="database kind(s) for the server workloads, comma-separated: sqlite, postgresql "
        f"(a fresh database per measure on {server_harness.POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}); "
        "default sqlite",
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


def expand_workloads(spec: str) -> list[str]:
    """The workloads ``-w`` names, with the group names expanded, in the order given."""
    out: list[str] = []
    for name in (w.strip() for w in spec.split(",")):
        for workload in WORKLOAD_GROUPS.get(name, [name] if name else []):
            if workload not in out:
                out.append(workload)
    return out


def _progress(label: str, t0: float, result: dict[str, Any]) -> None:
    status = result.get("error", "skipped" if "skipped" in result else "ok")
    print(f"[{label}]: {status} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    workloads = expand_workloads(args.workloads)
    unknown = [w for w in workloads if w not in ALL_WORKLOADS]
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if unknown or any(b not in BACKENDS for b in backends):
        bad = [*unknown, *(b for b in backends if b not in BACKENDS)]
        print(f"unknown workload(s) or backend(s): {', '.join(bad)}", file=sys.stderr)
        return 2
    tool_names = [t.strip() for t in args.tools.split(",") if t.strip()]
    if workloads and set(workloads) <= set(DURABLE_WORKLOADS):
        # runlab-only workloads: do not set up (or build) MLflow's virtualenv for nothing.
        tool_names = [t for t in tool_names if t == "runlab"]
    autolog = [w for w in workloads if w in AUTOLOG_WORKLOADS]
    own_tools = (
        AUTOLOG_WORKLOADS
        + PROJECTS_WORKLOADS
        + AUTH_WORKLOADS
        + SYSMETRICS_WORKLOADS
        + SPARK_WORKLOADS
    )
    others = [w for w in workloads if w not in own_tools]
    # The autologging, projects and auth measures bring their own MLflow (over this
    # interpreter's frameworks).
    tools, broken = build_tools(tool_names, args.mlflow_venv) if others else ([], {})
    command = ("python bench/run.py " + " ".join(shlex.quote(a) for a in argv)).strip()

    sections: dict[str, str] = {}
    raw: dict[str, Any] = {}
    client = [w for w in workloads if w in CLIENT_WORKLOADS]
    if client:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        results = run_client(client, tools, broken, sizes, args.timeout)
        raw["client"] = results
        sections["client"] = render(results, tool_names, command, started, load)
    server = [w for w in workloads if w in SERVER_WORKLOADS]
    for backend in backends if server else []:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        results = run_server(server, tools, broken, backend, sizes, args.timeout)
        raw[f"server-{backend}"] = results
        sections[f"server-{backend}"] = render_server(
            results, tool_names, backend, command, started, load, harness.load_average()
        )

    if "serving" in workloads:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        results = serving_run.run_serving(
            tools, broken, serving_run.params_for(sizes), args.timeout
        )
        raw["serving"] = results
        sections["serving"] = serving_report.render(
            results, command, started, load, harness.load_average()
        )

    if "ui" in workloads:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        results = ui_run.run_ui(tools, broken, ui_run.params_for(sizes), args.timeout)
        raw["ui"] = results
        sections["ui"] = ui_report.render(results, command, started, load, harness.load_average())

    if "durable" in workloads:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        result = durable_run.run_durable(tools, broken, durable_run.params_for(sizes), args.timeout)
        raw["durable"] = result
        sections["durable"] = durable_run.render(result, command, started, load)

    if autolog:
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        autolog_tools, autolog_broken = autolog_run.tools_for(tool_names)
        results = autolog_run.run_autolog(
            autolog, autolog_tools, autolog_broken, autolog_run.params_for(sizes), args.timeout
        )
        raw["autolog"] = results
        sections["autolog"] = autolog_run.render(results, command, started, load)

    # Measures that bring their own tools: (workload, module, its tools, its run function).
    # auth and sysmetrics use the projects measure's tools (runlab and MLflow over this
    # interpreter's packages).
    own_measures: tuple[tuple[str, Any, Any, Any], ...] = (
        ("projects", projects_run, projects_run.tools_for, projects_run.run_projects),
        ("auth", auth_run, projects_run.tools_for, auth_run.run_auth),
        ("sysmetrics", sysmetrics_run, projects_run.tools_for, sysmetrics_run.run_sysmetrics),
        ("spark", spark_run, spark_run.tools_for, spark_run.run_spark),
    )
    for name, module, tools_for, run in own_measures:
        if name not in workloads:
            continue
        started, load = dt.datetime.now(dt.timezone.utc), harness.load_average()
        own_tools, own_broken = tools_for(tool_names)
        result = run(own_tools, own_broken, module.params_for(sizes), args.timeout)
        raw[name] = result
        sections[name] = module.render(result, command, started, load)

    text = "\n\n".join(sections.values())
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    if args.write:
        write_sections(args.write, sections)
    return 0


def run_client(
    workloads: list[str],
    tools: list[harness.Tool],
    broken: dict[str, str],
    sizes: dict[str, int],
    timeout: float,
) -> report.Results:
    """The client-side workloads (issue 2), each in a fresh subprocess per tool."""
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
                    tool, workload, params_for(workload, tool.name, sizes), timeout
                )
                _progress(f"{workload}] {tool.name}", t0, result)
                per_tool[tool.name] = result
        results[workload] = per_tool
    return results


def run_server(
    workloads: list[str],
    tools: list[harness.Tool],
    broken: dict[str, str],
    backend: str,
    sizes: dict[str, int],
    timeout: float,
) -> report.Results:
    """The server workloads (issue 3) on one backend kind, each on a fresh server and database."""
    results: report.Results = {}
    usable = list(tools)
    setup_errors = dict(broken)
    if backend == "postgresql":
        for tool in tools:
            if tool.name == "mlflow":
                try:
                    server_harness.ensure_mlflow_postgres_driver(tool)
                except Exception as exc:
                    setup_errors[tool.name] = f"no PostgreSQL driver for MLflow: {exc}"
                    usable.remove(tool)
    for workload in workloads:
        per_tool: dict[str, dict[str, Any]] = {n: {"error": m} for n, m in setup_errors.items()}
        if workload in server_run.INTERLEAVED and len(usable) > 1:
            t0 = time.perf_counter()
            label = f"{workload} {backend}] {' + '.join(t.name for t in usable)}, interleaved"
            print(f"[{label} ...", file=sys.stderr, flush=True)
            both = server_run.run_interleaved(
                usable,
                workload,
                backend,
                {t.name: server_run.params_for(workload, t.name, sizes) for t in usable},
            )
            for name, result in both.items():
                _progress(f"{label}: {name}", t0, result)
            per_tool.update(both)
            results[workload] = per_tool
            continue
        for tool in usable:
            t0 = time.perf_counter()
            label = f"{workload} {backend}] {tool.name}"
            print(f"[{label} ...", file=sys.stderr, flush=True)
            params = server_run.params_for(workload, tool.name, sizes)
            result = server_run.run_server_workload(tool, workload, backend, params, timeout)
            _progress(label, t0, result)
            per_tool[tool.name] = result
        results[workload] = per_tool
    return results


TITLE = "# Benchmarks: runlab vs MLflow 3.17.2"
_BEGIN, _END = "<!-- bench:{}:begin -->", "<!-- bench:{}:end -->"


def write_sections(path: Path, sections: dict[str, str]) -> None:
    """Write ``sections`` into ``path``, replacing only those sections if it already has them.

    Each section sits between ``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->``; a
    section the file lacks is appended, and the rest of the file is kept as it was.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else TITLE + "\n"
    if not text.startswith(TITLE):
        text = TITLE + "\n\n" + text
    for name, body in sections.items():
        begin, end = _BEGIN.format(name), _END.format(name)
        block = f"{begin}\n{body}\n{end}"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            text = head + block + rest.split(end, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def render(
    results: report.Results,
    tool_names: list[str],
    command: str,
    started: dt.datetime,
    load_at_start: str,
) -> str:
    """The client-side section: heading, command, machine, table and notes."""
    lines = [
        "## Client side: the Python API on a local SQLite file (issue 2)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load_at_start}",
        "- Rerun: `python3 bench/run.py -w client --write BENCHMARKS.md` (all options: `--help`; "
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


def render_server(
    results: report.Results,
    tool_names: list[str],
    backend: str,
    command: str,
    started: dt.datetime,
    load_at_start: str,
    load_at_end: str,
) -> str:
    """One server section (one backend kind): heading, setup, table and notes."""
    kind = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[backend]
    database = (
        "a fresh SQLite file"
        if backend == "sqlite"
        else "a fresh PostgreSQL database on 127.0.0.1:5432 (both servers use psycopg 3)"
    )
    lines = [
        f"## Server: `runlab server` vs `mlflow server` on {kind} (issue 3)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}",
        f"- Load average (1 / 5 / 15 min): {load_at_start} at the start, {load_at_end} at the end. "
        "The machine is shared; other work running at the same time slows both servers.",
        f"- Rerun: `python3 bench/run.py -w server --backend {backend} --write BENCHMARKS.md`.",
        f"- Each measure starts a fresh server over {database}: `runlab server` from this checkout "
        "and `mlflow server` 3.17.2 from `bench/.venv-mlflow`, both with `--serve-artifacts` and "
        "the same `--workers` (1, or 2 for the 4-client ingest). One HTTP client (urllib3, in the "
        "benchmark's process, one keep-alive connection per client thread) sends both servers the "
        "same raw MLflow REST requests; ingest bodies are encoded before the clock starts. The "
        "fluent row runs each tool's own fluent API against its own server. Figures are medians; "
        "every measure reads back what it wrote.",
        f"- For reference, issue 3 measured MLflow 3.17.2 (1 worker, SQLite) at: "
        f"{server_report.ISSUE_MLFLOW_FIGURES}.",
        "",
    ]
    if any(row.workload in results for row in server_report.SERVER_ROWS):
        lines += [report.table(results, tool_names, server_report.SERVER_ROWS), ""]
    if any(w in results for w in server_report.PYCLIENT_WORKLOADS):
        lines += [
            "### As a Python client sees it (issue 19)",
            "",
            "The same servers driven the way MLflow's own client drives them: a `requests` "
            "session, each payload built and JSON-encoded per call, each answer decoded; "
            "payloads shaped like real runs (see `bench/server_pyclient.py`). Both servers run "
            "at once, each filled in turn, and their timed repeats alternate (runlab, MLflow, "
            "MLflow, runlab, ...), so that both are timed over the same minutes of a machine "
            "whose speed drifts.",
            "",
            report.table(results, tool_names, server_report.PYCLIENT_ROWS),
            "",
        ]
    lines += [
        "Notes:",
        "",
    ]
    lines += [f"- {note}" for note in server_report.notes(results)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
