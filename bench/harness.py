"""Running workloads in fresh subprocesses, one interpreter per tool, and describing the machine."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DRIVER = BENCH_DIR / "driver.py"
RESULT_PREFIX = "BENCH_RESULT "
MLFLOW_VERSION = "3.17.2"


@dataclass
class Tool:
    """One side of the comparison: a name, the package it imports, and the interpreter to use."""

    name: str
    package: str
    python: str
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without tracking settings, plus ``extra``.

    Telemetry is switched off for both tools so that no run waits on the network.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RUNLAB_", "MLFLOW_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env.update(extra)
    return env


def runlab_tool() -> Tool:
    """runlab from this checkout, with the interpreter that runs the benchmark."""
    src = str(REPO_DIR / "src")
    return Tool(
        "runlab",
        "runlab",
        sys.executable,
        clean_env({"PYTHONPATH": src}),
        label="runlab (checkout)",
    )


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtualenv, on POSIX or Windows."""
    posix = venv / "bin" / "python"
    return posix if posix.exists() or os.name != "nt" else venv / "Scripts" / "python.exe"


def installed_mlflow_version(python: Path) -> str | None:
    """The MLflow version importable by ``python``, or None."""
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_mlflow_venv(venv: Path, version: str = MLFLOW_VERSION) -> Path:
    """Create ``venv`` with ``mlflow==version`` unless it already has that version."""
    python = venv_python(venv)
    if installed_mlflow_version(python) == version:
        return python
    if not python.exists():
        print(f"creating {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"installing mlflow=={version} into {venv} ...", file=sys.stderr)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={version}"], check=True
    )
    return python


def mlflow_tool(venv: Path) -> Tool:
    """MLflow inside its own virtualenv (created when missing)."""
    python = ensure_mlflow_venv(venv)
    return Tool("mlflow", "mlflow", str(python), clean_env({}), label=f"MLflow {MLFLOW_VERSION}")


def run_workload(
    tool: Tool, workload: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Run one workload in a fresh subprocess and a fresh temporary folder.

    Never raises: a failure comes back as ``{"error": message, "detail": ...}`` so that one
    broken cell does not abort the whole benchmark.
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-{workload}-") as workdir:
        params = {**params, "workdir": workdir, "timeout": timeout}
        cmd = [tool.python, str(DRIVER), tool.name, workload, json.dumps(params)]
        try:
            proc = subprocess.run(
                cmd,
                env=tool.env,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
        if not lines:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            return {"error": tail[0], "detail": proc.stderr[-4000:]}
        result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
        if "error" in result:
            result["detail"] = result.pop("traceback", "") + proc.stderr[-2000:]
        db_path = result.get("db_path")
        if db_path:
            # Size once every connection is closed (SQLite checkpoints the WAL on the last close).
            result["size_after_exit"] = sum(
                os.path.getsize(db_path + s)
                for s in ("", "-wal", "-shm", "-journal")
                if os.path.exists(db_path + s)
            )
        return result


def measure_import(tools: list[Tool], repeats: int) -> dict[str, dict[str, Any]]:
    """Wall time of ``python -c "import <package>"``, interleaving the tools round by round.

    One untimed warm-up per tool fills the bytecode caches; the interpreter's own start-up time
    (``python -c pass``) is measured alongside and reported, not subtracted.
    """
    samples: dict[str, list[float]] = {t.name: [] for t in tools}
    baseline: dict[str, list[float]] = {t.name: [] for t in tools}
    errors: dict[str, str] = {}

    def timed(tool: Tool, code: str) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [tool.python, "-c", code], env=tool.env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
        return elapsed

    for tool in tools:
        try:
            timed(tool, f"import {tool.package}")
        except RuntimeError as exc:
            errors[tool.name] = str(exc)
    for i in range(repeats):
        order = tools if i % 2 == 0 else list(reversed(tools))
        for tool in order:
            if tool.name in errors:
                continue
            baseline[tool.name].append(timed(tool, "pass"))
            samples[tool.name].append(timed(tool, f"import {tool.package}"))
    out: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if tool.name in errors:
            out[tool.name] = {"error": errors[tool.name]}
            continue
        out[tool.name] = {
            "repeats": repeats,
            "samples_s": samples[tool.name],
            "median_s": _median(samples[tool.name]),
            "python_startup_s": _median(baseline[tool.name]),
        }
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def machine_note() -> str:
    """One line about the machine: CPU, cores, memory, OS, Python, SQLite."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def load_average() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews timings), or "n/a"."""
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def git_revision() -> str:
    """The checkout's short commit, with ``+dirty`` when tracked files have changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")
