"""The projects benchmark (``-w projects``): ``runlab run`` vs ``mlflow run`` of the same project.

What is timed is what a user waits for: from the command (``python -m runlab.cli run …`` /
``python -m mlflow run …``) to the first line the entry point prints, and to the command's exit,
on runs after the first, when the project's environment is already built (a warm cache). The
project is ``examples/train_project``, copied into a git repository of its own (one commit):
its ``train.py`` prints ``train_project: started`` before
any import, then trains a small model and logs it with ``import runlab as mlflow``.

- runlab runs from this checkout with its default environment manager (uv) and, for reference,
  ``--env-manager local`` (the current interpreter, nothing to prepare).
- MLflow 3.17.2 runs in ``bench/.venv-mlflow-frameworks`` (see autolog_run.py) with each of its
  environment managers that can work here: ``local``, ``uv`` and ``virtualenv``; the fastest one
  that works is the comparison the issue asks for.
- Each tool logs to its own tracking server on this machine (``runlab server`` / ``mlflow
  server`` over a fresh SQLite file; both run for the whole measure, and the runs of all rows
  take turns, so the machine's load drifts over both tools alike). The entry point logs with runlab's
  client in both cases: under ``mlflow run`` it speaks MLflow's REST protocol to MLflow's server,
  so both runs record the same things.
- The project lists ``runlab`` as a dependency, which no index here serves. runlab's own
  environments install the runlab that runs them (this checkout); for MLflow's uv and
  virtualenv environments a wheel of this checkout is built once and offered to uv and pip
  (``UV_FIND_LINKS`` / ``PIP_FIND_LINKS``).
- Environments are cached in the benchmark's temporary folder (``RUNLAB_PROJECTS_CACHE``,
  ``MLFLOW_ENV_ROOT``), so the first run of each row builds one from scratch (shown as "cold")
  and nothing of the user's caches is reused or touched.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import server_harness
from autolog_run import FRAMEWORKS_VENV, frameworks_tool

PROJECTS_WORKLOADS = ["projects"]
EXAMPLE = harness.REPO_DIR / "examples" / "train_project"
#: The entry point's first line (train.py prints it before any import).
MARKER = "train_project: started"
#: The environment managers measured per tool, in the order shown.
MANAGERS = {"runlab": ("uv", "local"), "mlflow": ("local", "uv", "virtualenv")}
#: runlab's default environment manager: the row the comparison is made with.
RUNLAB_DEFAULT = "uv"


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The number of warm runs per row."""
    return {"repeats": sizes["projects_repeats"]}


def tools_for(names: list[str]) -> tuple[list[harness.Tool], dict[str, str]]:
    """runlab from this checkout and MLflow in the frameworks virtualenv."""
    tools: list[harness.Tool] = []
    broken: dict[str, str] = {}
    for name in names:
        try:
            if name == "runlab":
                tools.append(harness.runlab_tool())
            elif name == "mlflow":
                tools.append(frameworks_tool())
        except Exception as err:  # a tool that cannot be set up is reported, not fatal
            broken[name] = f"{type(err).__name__}: {err}"
    return tools, broken


def build_runlab_wheel(dest: Path) -> Path:
    """A wheel of this checkout in ``dest`` (what the project's ``runlab`` dependency installs)."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest)]
    subprocess.run(
        [*argv, str(harness.REPO_DIR)],
        check=True,
        capture_output=True,
    )
    return dest


def project_repository(dest: Path) -> Path:
    """A copy of the example project as a git repository of its own with one commit, as a
    user's project usually is: both tools record its commit, and uncommitted edits elsewhere in
    this checkout (which runlab would record as the run's patch) do not enter the measure."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.db", "mlruns"))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "example project"]):
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
            cwd=dest,
            check=True,
            capture_output=True,
        )
    return dest


def command(tool: harness.Tool, manager: str, project: Path) -> list[str]:
    """The command a user types, run by the tool's interpreter."""
    module = "runlab.cli" if tool.name == "runlab" else "mlflow"
    return [tool.python, "-m", module, "run", str(project), "--env-manager", manager]


def tool_env(tool: harness.Tool, tracking_uri: str, wheels: Path, workdir: Path) -> dict[str, str]:
    """The command's environment: the tracking server, caches in ``workdir``, the wheel."""
    env = dict(tool.env)
    bin_dir = str(Path(tool.python).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # `python` is the tool's, as when
    # its virtualenv is activated (MLflow's local manager runs the command with that `python`)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["RUNLAB_PROJECTS_CACHE"] = str(workdir / "runlab-envs")
    env["MLFLOW_ENV_ROOT"] = str(workdir / "mlflow-envs")
    env["UV_FIND_LINKS"] = str(wheels)
    env["PIP_FIND_LINKS"] = " ".join(p for p in (env.get("PIP_FIND_LINKS"), str(wheels)) if p)
    return env


def timed_run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Run one command: seconds to the entry point's first line and to the exit, and its output.

    Raises RuntimeError when the command fails or never prints the line.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe: nothing can block on a full second one
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    first_line: float | None = None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            if first_line is None and MARKER in line:
                first_line = time.perf_counter() - t0
            lines.append(line)
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"timed out after {timeout:.0f} s")
        code = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    total = time.perf_counter() - t0
    output = "".join(lines)
    if code != 0 or first_line is None or "train_project: done" not in output:
        tail = " | ".join(line.strip() for line in lines[-6:] if line.strip())
        raise RuntimeError(f"exit code {code}: {tail or 'no output'}")
    return {"first_line_s": first_line, "total_s": total}


@dataclass
class Row:
    """One tool with one environment manager: what runs it, and its samples so far."""

    tool: harness.Tool
    manager: str
    env: dict[str, str]
    workdir: Path
    project: Path
    result: dict[str, Any] = field(default_factory=dict)
    warm: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.tool.name} {self.manager}"


def measure_rows(rows: list[Row], repeats: int, timeout: float) -> None:
    """A cold run of every row (it builds the environment), then ``repeats`` rounds of one warm
    run per row, so that drift in the machine's load hits every tool and manager alike. A row
    whose run fails drops out with its error."""
    for round_no in range(repeats + 1):
        for row in rows:
            if "error" in row.result:
                continue
            t0 = time.perf_counter()
            try:
                argv = command(row.tool, row.manager, row.project)
                sample = timed_run(argv, row.env, row.workdir, timeout)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
                row.result = {"error": str(err)[:600]}
            else:
                if round_no == 0:
                    row.result = {"cold": sample}
                else:
                    row.warm.append(sample)
            print(
                f"[projects {row.key} {'cold' if round_no == 0 else round_no}]: "
                f"{row.result.get('error', 'ok')} ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    for row in rows:
        if "error" in row.result:
            continue
        row.result.update(
            repeats=len(row.warm),
            first_line_s=statistics.median(r["first_line_s"] for r in row.warm),
            total_s=statistics.median(r["total_s"] for r in row.warm),
            first_line_samples_s=[r["first_line_s"] for r in row.warm],
        )


def run_projects(
    tools: list[harness.Tool], broken: dict[str, str], params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Every row: {"rows": {"<tool> <manager>": result}, "ratio": …}."""
    results: dict[str, dict[str, Any]] = {
        f"{name} {manager}": {"error": why}
        for name, why in broken.items()
        for manager in MANAGERS.get(name, ())
    }
    with tempfile.TemporaryDirectory(prefix="bench-projects-") as tmp, ExitStack() as servers:
        root = Path(tmp)
        try:
            wheels = build_runlab_wheel(root / "wheels")
        except subprocess.CalledProcessError as err:
            message = (err.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
            return {"rows": results, "error": f"could not build a runlab wheel: {message}"}
        project = project_repository(root / "train_project")
        rows: list[Row] = []
        # Both servers run for the whole measure, so the rows can take turns.
        for tool in tools:
            workdir = root / tool.name
            workdir.mkdir()
            try:
                server = servers.enter_context(
                    server_harness.running_server(tool, "sqlite", 1, workdir)
                )
            except Exception as err:  # the server did not start: every row of the tool says so
                for manager in MANAGERS[tool.name]:
                    results[f"{tool.name} {manager}"] = {"error": f"{type(err).__name__}: {err}"}
                continue
            env = tool_env(tool, server.url, wheels, workdir)
            rows += [Row(tool, manager, env, workdir, project) for manager in MANAGERS[tool.name]]
        measure_rows(rows, params["repeats"], timeout)
        for row in rows:
            results[row.key] = row.result
    ordered = {
        f"{name} {m}": results[f"{name} {m}"]
        for name in MANAGERS
        for m in MANAGERS[name]
        if f"{name} {m}" in results
    }
    return {"rows": ordered, **comparison(ordered)}


def comparison(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """runlab's default row against MLflow's fastest working row (to the first line)."""
    ours = rows.get(f"runlab {RUNLAB_DEFAULT}", {})
    theirs = {k: r for k, r in rows.items() if k.startswith("mlflow ") and "error" not in r}
    if "error" in ours or "first_line_s" not in ours or not theirs:
        return {}
    best = min(theirs, key=lambda k: theirs[k]["first_line_s"])
    return {
        "mlflow_fastest": best,
        "ratio": theirs[best]["first_line_s"] / ours["first_line_s"],
    }


def render(result: dict[str, Any], command_line: str, started: dt.datetime, load: str) -> str:
    """The section of BENCHMARKS.md."""
    lines = [
        "## Projects: `runlab run` vs `mlflow run` of the same project (issue 16)",
        "",
        f"- Command: `{command_line}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}, at the end "
        f"{harness.load_average()} (the machine is shared: other work slows both tools)",
        "- Rerun: `python3 bench/run.py -w projects --write BENCHMARKS.md`. MLflow "
        f"{harness.MLFLOW_VERSION} runs in `bench/{FRAMEWORKS_VENV.name}`, created when missing.",
        "- The project: `examples/train_project` (an MLproject with a python_env.yaml that lists "
        "`runlab`; `train.py` prints its first line before any import, then fits a line by "
        "gradient descent and logs params, 20 loss points and a JSON artifact with `import runlab "
        "as mlflow`), copied into the benchmark's temporary folder as a git repository of its own "
        "with one commit. Both tools run that same copy, each against its own tracking server "
        "(SQLite) on this machine; under `mlflow run` the entry point's runlab client speaks "
        "MLflow's REST protocol to MLflow's server. The project's `runlab` dependency is this "
        "checkout: runlab's environments install the runlab that runs them; MLflow's uv and "
        "virtualenv environments get a wheel of it through `UV_FIND_LINKS` / `PIP_FIND_LINKS`.",
        "- Timed: from starting the command to the entry point's first line (and to the "
        "command's exit), on the runs after the first, with the environment already built and "
        "cached (environment caches live in the benchmark's temporary folder). Both servers run "
        "throughout; every row runs once first (the cold column: that run built the "
        "environment), then the warm runs go round all rows, both tools' in turn, so drift in "
        "the machine's load hits them alike. Figures are medians of the warm runs.",
        "",
    ]
    if "error" in result:
        lines.append(f"Not measured: {result['error']}")
        return "\n".join(lines)
    lines += [
        "| tool | environment manager | to the first line (warm) | to exit (warm) | "
        "warm runs | cold run: first line / exit |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in result["rows"].items():
        tool, manager = key.split(" ", 1)
        label = "runlab" if tool == "runlab" else f"MLflow {harness.MLFLOW_VERSION}"
        if manager == RUNLAB_DEFAULT and tool == "runlab":
            manager += " (default)"
        if "error" in r:
            lines.append(f"| {label} | {manager} | error: {r['error']} | | | |")
            continue
        cold = r["cold"]
        lines.append(
            f"| {label} | {manager} | {r['first_line_s']:.2f} s | {r['total_s']:.2f} s | "
            f"{r['repeats']} | {cold['first_line_s']:.2f} s / {cold['total_s']:.2f} s |"
        )
    lines.append("")
    if "ratio" in result:
        best = result["mlflow_fastest"].split(" ", 1)[1]
        ours = result["rows"][f"runlab {RUNLAB_DEFAULT}"]["first_line_s"]
        theirs = result["rows"][result["mlflow_fastest"]]["first_line_s"]
        verdict = "met" if result["ratio"] >= 10 else "not met"
        lines.append(
            f"To the entry point's first line on a warm run, `runlab run` ({RUNLAB_DEFAULT}) "
            f"takes {ours:.2f} s and `mlflow run` with its fastest manager here ({best}) "
            f"{theirs:.2f} s: **{result['ratio']:.1f}x** less time (target ≥ 10x: {verdict})."
        )
    else:
        lines.append("No ratio: runlab's default row or every MLflow row failed (see above).")
    return "\n".join(lines)
