"""The autologging benchmark (``-w autolog`` or one of its parts): runlab vs MLflow 3.17.2.

Three measures, each the issue's:

* ``autolog-sklearn``: a ``RandomForestClassifier(n_estimators=100)`` fit on 10,000 x 10 rows,
  bare and under ``autolog()``: how long ``fit()`` takes to return, and how long until the
  metrics, plots and model are recorded (workloads/autolog_sklearn.py);
* ``autolog-import``: importing the six frameworks in a fresh interpreter, with and without
  ``autolog()`` called first;
* ``autolog-lightning``: Lightning, 10 epochs x 200 steps, a metric logged every step, against
  each tool's own tracking server on this machine, autologging off vs on
  (workloads/autolog_lightning.py).

Both tools use the same framework installs: MLflow runs in ``bench/.venv-mlflow-frameworks``, a
virtualenv made with ``--system-site-packages`` over the interpreter that runs this script, with
``mlflow==3.17.2`` installed into it, so scikit-learn, torch, Lightning and the rest are the very
same files for both.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import server_harness

AUTOLOG_WORKLOADS = ["autolog-sklearn", "autolog-import", "autolog-lightning"]
FRAMEWORKS_VENV = harness.BENCH_DIR / ".venv-mlflow-frameworks"
#: What "importing the six frameworks" means: what a training script of each kind imports.
FRAMEWORK_IMPORTS = (
    "import sklearn.ensemble, xgboost, lightgbm, torch, lightning, keras\n"
    "from transformers import Trainer\n"
)


def frameworks_tool() -> harness.Tool:
    """MLflow in a virtualenv that sees this interpreter's frameworks (created when missing)."""
    python = harness.venv_python(FRAMEWORKS_VENV)
    if harness.installed_mlflow_version(python) != harness.MLFLOW_VERSION:
        if not python.exists():
            print(f"creating {FRAMEWORKS_VENV} ...", file=sys.stderr)
            subprocess.run(
                [sys.executable, "-m", "venv", "--system-site-packages", str(FRAMEWORKS_VENV)],
                check=True,
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={harness.MLFLOW_VERSION}"],
            check=True,
        )
    return harness.Tool(
        "mlflow",
        "mlflow",
        str(python),
        harness.clean_env({"KERAS_BACKEND": "torch"}),
        label=f"MLflow {harness.MLFLOW_VERSION}",
    )


def tools_for(names: list[str]) -> tuple[list[harness.Tool], dict[str, str]]:
    """runlab from this checkout and MLflow over the same frameworks."""
    tools: list[harness.Tool] = []
    broken: dict[str, str] = {}
    for name in names:
        try:
            if name == "runlab":
                tool = harness.runlab_tool()
                tool.env["KERAS_BACKEND"] = "torch"
                tools.append(tool)
            elif name == "mlflow":
                tools.append(frameworks_tool())
        except Exception as err:  # a tool that cannot be set up is reported, not fatal
            broken[name] = f"{type(err).__name__}: {err}"
    return tools, broken


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The sizes of the three measures."""
    return {
        "rows": sizes["autolog_rows"],
        "repeats": sizes["autolog_repeats"],
        "import_repeats": sizes["autolog_import_repeats"],
        "epochs": sizes["autolog_epochs"],
        "steps": sizes["autolog_steps"],
        "lightning_repeats": sizes["autolog_lightning_repeats"],
    }


def _import_time(tool: harness.Tool, code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([tool.python, "-c", code], env=tool.env, check=True, capture_output=True)
    return time.perf_counter() - t0


def measure_imports(tool: harness.Tool, repeats: int) -> dict[str, Any]:
    """Fresh-interpreter wall time of the framework imports, without and with autolog() first."""
    package = tool.package
    variants = {
        "bare": FRAMEWORK_IMPORTS,
        "tool": f"import {package}\n" + FRAMEWORK_IMPORTS,
        "autolog": f"import {package}\n{package}.autolog()\n" + FRAMEWORK_IMPORTS,
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    _import_time(tool, variants["autolog"])  # warm the file cache for all three
    for _ in range(repeats):
        for name, code in variants.items():  # interleaved: drift hits all three alike
            times[name].append(_import_time(tool, code))
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {
        "repeats": repeats,
        **{f"{k}_s": v for k, v in medians.items()},
        "ratio": medians["autolog"] / medians["bare"],
    }


def run_autolog(
    workloads: list[str],
    tools: list[harness.Tool],
    broken: dict[str, str],
    params: dict[str, Any],
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """Run the chosen measures for every tool: {measure: {tool: result}}."""
    results: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        per_tool: dict[str, Any] = {name: {"error": why} for name, why in broken.items()}
        for tool in tools:
            t0 = time.perf_counter()
            try:
                per_tool[tool.name] = _one(workload, tool, params, timeout)
            except Exception as err:
                per_tool[tool.name] = {"error": f"{type(err).__name__}: {err}"}
            status = per_tool[tool.name].get("error", "ok")
            print(
                f"[{workload} {tool.name}]: {status} ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        results[workload] = per_tool
    return results


def _one(workload: str, tool: harness.Tool, params: dict[str, Any], timeout: float) -> Any:
    if workload == "autolog-import":
        return measure_imports(tool, params["import_repeats"])
    if workload == "autolog-sklearn":
        return harness.run_workload(
            tool, workload, {"rows": params["rows"], "repeats": params["repeats"]}, timeout
        )
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-lightning-") as workdir,
        server_harness.running_server(tool, "sqlite", 1, Path(workdir)) as server,
    ):
        return harness.run_workload(
            tool,
            workload,
            {
                "server_url": server.url,
                "epochs": params["epochs"],
                "steps": params["steps"],
                "repeats": params["lightning_repeats"],
            },
            timeout,
        )


def _cell(result: dict[str, Any], text: str) -> str:
    return f"error: {result['error']}" if "error" in result else text


def render(
    results: dict[str, dict[str, Any]], command: str, started: dt.datetime, load: str
) -> str:
    """The section of BENCHMARKS.md: setup, one table per measure, what was recorded."""
    lines = [
        "## Autologging: what `autolog()` costs a training (issue 14)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}",
        "- Rerun: `python3 bench/run.py -w autolog --write BENCHMARKS.md`. MLflow runs in "
        "`bench/.venv-mlflow-frameworks` (`--system-site-packages`, so both tools use the same "
        "scikit-learn, torch and Lightning files), created when missing.",
        "- Figures are medians of the repeats; ratios are each tool against its own bare run "
        "in the same process.",
        "",
    ]
    sk = results.get("autolog-sklearn")
    if sk:
        lines += [
            "### scikit-learn: `RandomForestClassifier(n_estimators=100)` on 10,000 x 10 rows",
            "",
            "| tool | bare fit | autologged `fit()` returns | everything recorded | "
            "`fit()` vs bare (target ≤ 1.5x) | recorded vs bare | first autologged fit "
            "(returns / recorded) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in sk.items():
            if "error" in r:
                lines.append(f"| {name} | {_cell(r, '')} | | | | | |")
                continue
            lines.append(
                f"| {name} | {r['bare_s']:.2f} s | {r['fit_s']:.2f} s | {r['recorded_s']:.2f} s "
                f"| **{r['fit_ratio']:.2f}x** | {r['recorded_ratio']:.2f}x | "
                f"{r['first']['fit_s']:.2f} s / {r['first']['recorded_s']:.2f} s |"
            )
        lines += ["", "What each tool's last autologged run held:", ""]
        for name, r in sk.items():
            if "recorded" in r:
                rec = r["recorded"]
                lines.append(
                    f"- {name}: status {rec['status']}, {rec['params']} params, metrics "
                    f"{', '.join(rec['metrics'])}; artifacts {', '.join(rec['artifacts'])}"
                )
        lines.append("")
    imp = results.get("autolog-import")
    if imp:
        lines += [
            "### Importing the six frameworks (a fresh interpreter each time)",
            "",
            "Imported: `" + FRAMEWORK_IMPORTS.strip().replace("\n", "; ") + "`.",
            "",
            "| tool | frameworks alone | after `import <tool>` | after `<tool>.autolog()` | "
            "autolog vs alone (target ≤ 1.1x) |",
            "|---|---|---|---|---|",
        ]
        for name, r in imp.items():
            if "error" in r:
                lines.append(f"| {name} | {_cell(r, '')} | | | |")
                continue
            lines.append(
                f"| {name} | {r['bare_s']:.2f} s | {r['tool_s']:.2f} s | {r['autolog_s']:.2f} s "
                f"| **{r['ratio']:.2f}x** |"
            )
        lines.append("")
    pl = results.get("autolog-lightning")
    if pl:
        lines += [
            "### Lightning: 10 epochs x 200 steps, a metric every step, to a local server",
            "",
            "| tool | autologging off | on: `trainer.fit()` | on: until recorded | "
            "`fit()` on vs off (runlab target ≤ 1.05x) | step points stored |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in pl.items():
            if "error" in r:
                lines.append(f"| {name} | {_cell(r, '')} | | | | |")
                continue
            lines.append(
                f"| {name} | {r['bare_s']:.2f} s | {r['fit_s']:.2f} s | {r['recorded_s']:.2f} s "
                f"| **{r['fit_ratio']:.3f}x** | {r['step_points']:,} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")
