"""The Spark scoring benchmark (``-w spark``): runlab's and MLflow's ``spark_udf`` side by side.

Both tools score the same Parquet input (``rows`` x 10 float features, fixed seed) with the same
scikit-learn ``LogisticRegression``, saved once in the MLflow model format both read, on the same
local Spark (``local[2]``, the same pyspark install, the same Spark configuration), in the same
benchmark run. Each tool runs in a fresh process of its own (bench/spark_workload.py) with its own Spark:
one warm-up pass, then ``repeats`` timed passes of
``df.withColumn("p", udf(*features)).write.format("noop")``, which pushes every row through
the UDF; the two processes take turns pass by pass. Figures are medians; rows/s is rows over
the median pass.

- runlab runs from this checkout (``spark_udf(..., trusted=True)``: the model is a pickle).
- MLflow 3.17.2 runs in ``bench/.venv-mlflow-frameworks`` (see autolog_run.py), which sees this
  interpreter's pyspark, scikit-learn and pandas; ``env_manager="local"``.
- Loads per pass: runlab's UDF counts them itself (``udf.model_loads``); MLflow's are counted by
  wrapping ``mlflow.pyfunc.load_model`` in MLflow's processes only (bench/spark_counting).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import autolog_run
import harness

SPARK_WORKLOADS = ["spark"]
WORKLOAD = harness.BENCH_DIR / "spark_workload.py"
COUNTING = harness.BENCH_DIR / "spark_counting"
MASTER = "local[2]"
#: The two measures: the file as Spark splits it by default, and the same rows read as this
#: many partitions (as a table stored in many files is), where a load per task adds up.
MEASURES = ("whole", "split")
SPLIT_PARTITIONS = 16
FEATURES = 10
#: The Spark configuration both tools get. Arrow batches of 10,000 rows are Spark's default,
#: written out so that the table says what was measured.
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    "spark.driver.memory": "2g",
}


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """Rows scored and timed passes."""
    return {"rows": sizes["spark_rows"], "repeats": sizes["spark_repeats"]}


def tools_for(names: list[str]) -> tuple[list[harness.Tool], dict[str, str]]:
    """The autologging benchmark's tools, with pyspark made sure of in MLflow's virtualenv."""
    tools, broken = autolog_run.tools_for(names)
    for tool in list(tools):
        if tool.name != "mlflow":
            continue
        try:
            _ensure_pyspark(tool)
        except Exception as err:  # a tool that cannot be set up is reported, not fatal
            tools.remove(tool)
            broken[tool.name] = f"{type(err).__name__}: {err}"
    return tools, broken


def _pyspark_version(python: str) -> str | None:
    proc = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('pyspark'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _ensure_pyspark(tool: harness.Tool) -> None:
    """The same pyspark in MLflow's virtualenv as here (it normally sees this one's)."""
    ours = _pyspark_version(sys.executable)
    if ours is None:
        raise RuntimeError("pyspark is not installed: pip install 'runlab[spark]'")
    if _pyspark_version(tool.python) != ours:
        subprocess.run(
            [tool.python, "-m", "pip", "install", "--quiet", f"pyspark=={ours}"], check=True
        )


def prepare(workdir: Path, rows: int) -> tuple[Path, Path]:
    """The shared input (Parquet) and model (MLflow format, saved by runlab)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    sys.path.insert(0, str(harness.REPO_DIR / "src"))
    import runlab.sklearn
    from runlab.models.signature import infer_signature

    rng = np.random.default_rng(7)
    features = pd.DataFrame(
        rng.standard_normal((rows, FEATURES)), columns=[f"x{i}" for i in range(FEATURES)]
    )
    weights = rng.standard_normal(FEATURES)
    labels = (features.to_numpy() @ weights > 0).astype("int64")
    sample = features.iloc[:20_000]
    model = LogisticRegression(max_iter=200).fit(sample, labels[:20_000])
    model_dir = workdir / "model"
    # cloudpickle: the format MLflow writes for scikit-learn models (runlab's default is skops,
    # which MLflow 3.17.2 cannot read).
    runlab.sklearn.save_model(
        model,
        str(model_dir),
        serialization_format="cloudpickle",
        signature=infer_signature(sample, model.predict(sample)),
    )
    data_path = workdir / "input.parquet"
    features.to_parquet(data_path, row_group_size=50_000)
    return model_dir, data_path


class _Worker:
    """One tool's workload process, answering one line per command."""

    def __init__(self, tool: harness.Tool, job: dict[str, Any], env: dict[str, str]) -> None:
        self.tool = tool
        self.proc = subprocess.Popen(
            [tool.python, str(WORKLOAD), tool.name, json.dumps(job)],
            env=env,
            cwd=job["workdir"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def answer(self, command: str | None = None) -> dict[str, Any]:
        """Send ``command`` (if any) and read the next result line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(harness.RESULT_PREFIX):
                result: dict[str, Any] = json.loads(line[len(harness.RESULT_PREFIX) :])
                if "error" in result:
                    raise RuntimeError(result["error"] + "\n" + result.get("traceback", ""))
                return result
        raise RuntimeError(f"exited: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self.proc.wait(timeout=60)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return (err.strip().splitlines() or [f"exit code {self.proc.returncode}"])[-1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_spark(
    tools: list[harness.Tool], broken: dict[str, str], params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Both tools over the same input: {"setup": ..., "tools": {name: result}, "floors": ...}.

    Each tool's process is set up and warmed up in turn; then the timed passes alternate
    between the tools (the order flips every round), so a change in the machine's load during
    the measure touches both alike. A tool that fails is reported and the other carries on.
    ``timeout`` bounds the set-up of each tool.
    """
    per_tool: dict[str, Any] = {name: {"error": why} for name, why in broken.items()}
    floors: dict[str, dict[str, list[float]]] = {}
    workers: dict[str, _Worker] = {}
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as scratch:
        workdir = Path(scratch)
        model_dir, data_path = prepare(workdir, params["rows"])
        try:
            for tool in tools:
                t0 = time.perf_counter()
                try:
                    worker = _Worker(tool, *_job(tool, model_dir, data_path, workdir))
                    workers[tool.name] = worker
                    ready = _with_timeout(worker, None, timeout)
                    ready["measures"] = {m: {"times_s": [], "loads": []} for m in MEASURES}
                    per_tool[tool.name] = ready
                except Exception as err:
                    per_tool[tool.name] = {"error": f"{type(err).__name__}: {err}"}
                    if tool.name in workers:
                        workers.pop(tool.name).close()
                status = per_tool[tool.name].get("error", "ready")
                print(
                    f"[spark {tool.name}]: {status} ({time.perf_counter() - t0:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            for round_no in range(params["repeats"]):
                names = list(workers)
                for measure in MEASURES:
                    for name in names if round_no % 2 == 0 else names[::-1]:
                        if name not in workers:
                            continue
                        try:
                            result = workers[name].answer(f"pass {measure}")
                        except Exception as err:
                            per_tool[name] = {"error": f"{type(err).__name__}: {err}"}
                            workers.pop(name).close()
                            continue
                        cell = per_tool[name]["measures"][measure]
                        cell["times_s"].append(result["seconds"])
                        cell["loads"].append(result["loads"])
                if workers:  # Spark alone, in one of the processes (the same pyspark)
                    answer = next(iter(workers.values())).answer("floor")
                    for measure, values in answer.items():
                        for key, value in values.items():
                            floors.setdefault(measure, {}).setdefault(key, []).append(value)
            for name, worker in list(workers.items()):
                per_tool[name]["checksum"] = worker.answer("finish")["checksum"]
                for cell in per_tool[name]["measures"].values():
                    cell["median_s"] = statistics.median(cell["times_s"])
                    cell["rows_per_s"] = per_tool[name]["rows"] / cell["median_s"]
        finally:
            for worker in workers.values():
                worker.close()
    return {
        "setup": {
            "rows": params["rows"],
            "master": MASTER,
            "conf": SPARK_CONF,
            "split_partitions": SPLIT_PARTITIONS,
        },
        "tools": per_tool,
        "floors": {
            measure: {key: statistics.median(values) for key, values in kinds.items()}
            for measure, kinds in floors.items()
        },
    }


def _with_timeout(worker: _Worker, command: str | None, timeout: float) -> dict[str, Any]:
    """The worker's answer, or the worker killed after ``timeout`` seconds."""
    timer = threading.Timer(timeout, worker.close)
    timer.start()
    try:
        return worker.answer(command)
    finally:
        timer.cancel()


def _job(
    tool: harness.Tool, model_dir: Path, data_path: Path, workdir: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """The workload's parameters and environment for ``tool``."""
    loads_dir = workdir / f"loads-{tool.name}"
    loads_dir.mkdir()
    env = dict(tool.env)
    env["PYSPARK_PYTHON"] = tool.python  # the workers run the tool's interpreter
    env["PYSPARK_DRIVER_PYTHON"] = tool.python
    if tool.name == "mlflow":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COUNTING), env.get("PYTHONPATH")]))
        env["BENCH_MLFLOW_LOADS_DIR"] = str(loads_dir)
    job = {
        "model_dir": str(model_dir),
        "data_path": str(data_path),
        "master": MASTER,
        "spark_conf": SPARK_CONF,
        "loads_dir": str(loads_dir),
        "workdir": str(workdir),
        "split_partitions": SPLIT_PARTITIONS,
    }
    return job, env


def render(result: dict[str, Any], command: str, started: dt.datetime, load: str) -> str:
    """The section of BENCHMARKS.md."""
    setup, tools, floors = result["setup"], result["tools"], result.get("floors", {})
    conf = ", ".join(f"`{k}={v}`" for k, v in setup["conf"].items())
    lines = [
        "## Spark batch scoring: `spark_udf` (issue 18)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}",
        "- Rerun: `python3 bench/run.py -w spark --write BENCHMARKS.md`. MLflow runs in "
        "`bench/.venv-mlflow-frameworks` (`--system-site-packages`: the same pyspark, "
        "scikit-learn and pandas files for both), created when missing.",
        f"- Workload: {setup['rows']:,} rows x {FEATURES} float features in one Parquet file, "
        "scored by the same scikit-learn `LogisticRegression` (saved once, MLflow format, "
        'cloudpickle) through each tool\'s `spark_udf(..., result_type="double")` on '
        f'`{setup["master"]}` with {conf}; timed: `df.withColumn("p", udf(*features))'
        '.write.format("noop")` (every row goes through the UDF), median of the timed passes '
        "after a warm-up pass; each tool in a process (and a Spark) of its own, the two "
        "taking turns pass by pass. *whole*: the file as Spark splits it by default; *split*: "
        f"the same rows read as {setup['split_partitions']} partitions "
        "(`spark.sql.files.maxPartitionBytes`), as a table kept in many files is.",
        "- Loads per pass: how many times a Spark worker loaded the model during one pass. "
        "runlab's UDF counts its loads in a Spark accumulator (`udf.model_loads`); MLflow's are "
        "counted by wrapping `mlflow.pyfunc.load_model` in MLflow's own processes "
        "(bench/spark_counting/sitecustomize.py).",
        "",
        "| tool | input (partitions) | rows/s | median pass | loads per timed pass |",
        "|---|---|---|---|---|",
    ]
    for name, r in tools.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | |")
            continue
        for measure, cell in r["measures"].items():
            if "median_s" not in cell:
                continue
            lines.append(
                f"| {name} | {measure} ({r['partitions'][measure]}) | "
                f"{cell['rows_per_s']:,.0f} | {cell['median_s']:.2f} s | "
                f"{', '.join(str(n) for n in cell['loads'])} |"
            )
    lines.append("")
    ours, theirs = tools.get("runlab", {}), tools.get("mlflow", {})
    for measure in MEASURES:
        a = ours.get("measures", {}).get(measure, {})
        b = theirs.get("measures", {}).get(measure, {})
        if "rows_per_s" in a and "rows_per_s" in b:
            ratio = a["rows_per_s"] / b["rows_per_s"]
            verdict = "met" if ratio >= 1.5 else "not met"
            lines.append(
                f"- *{measure}*: runlab scores **{ratio:.2f}x** MLflow's rows/s (target ≥ 1.5x: "
                f"{verdict})."
            )
    for name, r in tools.items():
        if "make_udf_s" in r:
            lines.append(
                f"- {name}: `spark_udf()` took {r['make_udf_s']:.2f} s, the warm-up pass "
                f"{r['first_s']:.2f} s with {r['first_loads']} load(s); sum of the predictions "
                f"{r['checksum']:,.0f}."
            )
    if floors:
        lines += [
            "",
            "Spark alone: the same passes with a UDF that returns zeros and loads no model (median "
            "per pass, in the first tool's process, in the same rounds). What a tool's pass takes "
            "above it is what its UDF adds.",
            "",
            "| input | pandas UDF, no model | Arrow UDF, no model | runlab | MLflow |",
            "|---|---|---|---|---|",
        ]
        for measure in MEASURES:
            kinds = floors.get(measure, {})
            cells = [
                f"{kinds[k]:.2f} s" if k in kinds else "n/a"
                for k in ("pandas_floor_s", "arrow_floor_s")
            ]
            for r in (ours, theirs):
                cell = r.get("measures", {}).get(measure, {})
                cells.append(f"{cell['median_s']:.2f} s" if "median_s" in cell else "n/a")
            lines.append(f"| {measure} | " + " | ".join(cells) + " |")
        lines.append("")
        for measure in MEASURES:
            kinds = floors.get(measure, {})
            a = ours.get("measures", {}).get(measure, {})
            b = theirs.get("measures", {}).get(measure, {})
            if not kinds or "median_s" not in a or "median_s" not in b:
                continue
            floor = min(kinds.values())
            lines.append(
                f"- *{measure}*: above the cheaper model-free UDF ({floor:.2f} s), runlab's UDF "
                f"adds {a['median_s'] - floor:+.2f} s per pass and MLflow's "
                f"{b['median_s'] - floor:+.2f} s; a UDF that added nothing would score at most "
                f"{b['median_s'] / floor:.2f}x MLflow's rows/s on this Spark."
            )
    return "\n".join(lines).rstrip("\n")
