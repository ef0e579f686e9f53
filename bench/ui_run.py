"""The UI benchmark: how fast runlab's and MLflow's web UIs draw a big runs table and a long chart.

Per tool, one fresh server over a fresh SQLite file (``runlab server`` from this checkout,
``mlflow server`` 3.17.2 from ``bench/.venv-mlflow``, which ships MLflow's UI build), seeded with
the same data by ui_seed.py: an experiment of ``runs`` runs (5 params, 3 metrics, 3 tags each)
and one run with a metric of ``points`` points. Then Chromium (ui_browser.py) loads, cold, each
tool's page for

- the runs table: runlab ``/experiments/{id}``, MLflow ``/#/experiments/{id}/runs`` (its
  "Training runs" tab); drawn when at least 10 rows of the table are visible;
- the long metric's chart: runlab's run page ``/runs/{id}#chart-1`` (the link its metrics table
  gives; the page draws a chart once it is on screen), MLflow's metric page
  ``/#/metric/{key}?runs=[id]&metric="key"&experiments=[id]&…`` (the URL its own links build);
  drawn when a line that reaches the series' last step is on screen (MLflow draws the first
  pages of a long history before the rest arrives): for runlab, its first SVG drawing, made
  while Plotly.js starts; for MLflow, Plotly's. A third measure waits for Plotly's line on
  both, when the chart becomes interactive.

Figures are medians of ``loads`` cold loads after one warm-up. Failures come back as
``{"error": …}`` cells, as in the other benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import harness
import server_harness
import ui_browser

UI_WORKLOADS = ["ui"]
_TRAINING_KIND = {"key": "mlflow.experimentKind", "value": "custom_model_development"}
SEED_SCRIPT = harness.BENCH_DIR / "ui_seed.py"
SCREENSHOTS = harness.BENCH_DIR / "results"
#: The pages measured, in the table's order: (key, label).
PAGES = (
    ("runs_table", "runs table, first page"),
    ("metric_chart", "metric chart drawn"),
    ("metric_chart_interactive", "metric chart interactive (Plotly ready)"),
)
#: The pages with a speed target (the issue's): the others are measured for the record.
TARGETED_PAGES = ("runs_table", "metric_chart")
#: Rows that must be visible for a runs table to count as drawn (one screen's worth or so).
MIN_ROWS = 10
#: How long a page may take to draw before its measure counts as failed.
PAGE_TIMEOUT_S = 180
PLOTLY_LINE = ".js-plotly-plot .scatterlayer path.js-line"
RUNS_TABLES = {
    "runlab": ui_browser.Target("#runs tbody tr[data-run-id]", min=MIN_ROWS),
    # MLflow 3's runs table is an ag-grid; the centre container holds the rows' main cells.
    "mlflow": ui_browser.Target(".ag-center-cols-container .ag-row", min=MIN_ROWS),
}
#: A chart counts as drawn when its line is on screen. runlab draws it first as SVG
#: (quickchart.js) while Plotly.js starts, then again in Plotly; MLflow draws it in Plotly only.
CHART_LINES = {
    "runlab": f".metric-chart path.quick-line, .metric-chart {PLOTLY_LINE}",
    "mlflow": PLOTLY_LINE,
}
#: The chart is interactive (hover, zoom) once Plotly has drawn it.
INTERACTIVE_LINES = {"runlab": f".metric-chart {PLOTLY_LINE}", "mlflow": PLOTLY_LINE}


def targets(tool: str, points: int) -> dict[str, ui_browser.Target]:
    """What counts as drawn on ``tool``'s pages: table rows; the long metric's whole line."""
    # The whole series: a trace reaching the last step (runlab's buckets end on their last step).
    last_step = max(points - 1, 0)
    return {
        "runs_table": RUNS_TABLES[tool],
        "metric_chart": ui_browser.Target(CHART_LINES[tool], path=True, xmax=last_step),
        "metric_chart_interactive": ui_browser.Target(
            INTERACTIVE_LINES[tool], path=True, xmax=last_step, plotly_only=True
        ),
    }


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """The UI benchmark's sizes from run.py's table of sizes."""
    return {
        "runs": sizes["ui_runs"],
        "points": sizes["ui_metric_points"],
        "loads": sizes["ui_loads"],
    }


def page_urls(tool: str, base: str, seeded: dict[str, Any]) -> dict[str, str]:
    """The URLs of the measured pages of ``tool``'s server at ``base``."""
    experiment, run, key = seeded["experiment_id"], seeded["long_run_id"], seeded["metric_key"]
    if tool == "runlab":
        return {
            "runs_table": f"{base}/experiments/{experiment}",
            "metric_chart": f"{base}/runs/{run}#chart-1",
            "metric_chart_interactive": f"{base}/runs/{run}#chart-1",
        }
    # The query MLflow's own links to its metric page carry (Routes.getMetricPageRoute in its
    # UI build): the page refuses a URL without ``metric``, and plots the ``plot_metric_keys``.
    quoted = urllib.parse.quote
    query = (
        f"runs={json.dumps([run])}&metric={quoted(json.dumps(key))}"
        f"&experiments={json.dumps([experiment])}&plot_metric_keys={quoted(json.dumps([key]))}"
        "&plot_layout={}&x_axis=step&y_axis_scale=linear&line_smoothness=1&show_point=false"
        "&deselected_curves=[]&last_linear_y_axis_range=[]"
    )
    return {
        "runs_table": f"{base}/#/experiments/{experiment}/runs",
        "metric_chart": f"{base}/#/metric/{quoted(key)}?{query}",
        "metric_chart_interactive": f"{base}/#/metric/{quoted(key)}?{query}",
    }


def _seed(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(harness.RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"seeding failed: {proc.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(harness.RESULT_PREFIX) :])
    return result


def _check_seeded(base: str, seeded: dict[str, Any], runs: int) -> None:
    """Ask the server's REST API whether the data is there, so a bad seed fails loudly."""
    import httpx

    api = f"{base}/api/2.0/mlflow"
    with httpx.Client(timeout=120) as client:
        found = client.post(
            f"{api}/runs/search",
            json={
                "experiment_ids": [seeded["experiment_id"]],
                "filter": "attributes.run_name = 'run-00000'",
            },
        )
        found.raise_for_status()
        listed = found.json().get("runs", [])
        if runs and (len(listed) != 1 or len(listed[0]["data"].get("params", [])) != 5):
            raise RuntimeError(f"the seeded runs are not as written: {found.text[:500]}")
        history = client.get(
            f"{api}/metrics/get-history",
            params={
                "run_id": seeded["long_run_id"],
                "metric_key": seeded["metric_key"],
                "max_results": 10,
            },
        )
        history.raise_for_status()
        if not history.json().get("metrics"):
            raise RuntimeError(f"the long metric is missing: {history.text[:500]}")


def measure_tool(
    tool: harness.Tool, browser: Any, params: dict[str, Any], workdir: Path, timeout: float
) -> dict[str, Any]:
    """Seed ``tool``'s server, then time its pages; raises on failure."""
    import httpx

    sizes = json.dumps({"runs": params["runs"], "points": params["points"]})
    seed_cmd = [tool.python, str(SEED_SCRIPT)]
    db = workdir / "server.db"
    out: dict[str, Any] = {}
    if tool.name == "runlab":
        # Written before the server starts, on the file the server then opens.
        artifacts = (workdir / "seed-artifacts").as_uri()
        seeded = _seed([*seed_cmd, "runlab", str(db), artifacts, sizes], tool.env, timeout)
    with server_harness.running_server(tool, "sqlite", 1, workdir) as server:
        if tool.name == "mlflow":
            # MLflow creates and migrates its tables on start; the experiment comes from its API,
            # marked as a model-training one (MLflow 3's UI otherwise leads with GenAI views).
            created = httpx.post(
                f"{server.url}/api/2.0/mlflow/experiments/create",
                json={"name": "ui-bench", "tags": [_TRAINING_KIND]},
                timeout=60,
            )
            created.raise_for_status()
            experiment_id = created.json()["experiment_id"]
            seed_env = harness.clean_env({})
            seeded = _seed(
                [sys.executable, str(SEED_SCRIPT), "mlflow", str(db), experiment_id, sizes],
                seed_env,
                timeout,
            )
        out["seed_s"] = seeded["seconds"]
        _check_seeded(server.url, seeded, params["runs"])
        urls = page_urls(tool.name, server.url, seeded)
        for page, _label in PAGES:
            print(f"[ui] {tool.name} {page} ...", file=sys.stderr, flush=True)
            try:
                out[page] = ui_browser.measure(
                    browser,
                    urls[page],
                    targets(tool.name, params["points"])[page],
                    params["loads"],
                    timeout_s=PAGE_TIMEOUT_S,
                    screenshot=SCREENSHOTS / f"ui-{tool.name}-{page}.png",
                )
            except Exception as exc:
                out[page] = {"error": f"{type(exc).__name__}: {exc}"[:800], "url": urls[page]}
        out["log_tail"] = server.log_tail(600)
    return out


def run_ui(
    tools: list[harness.Tool],
    broken: dict[str, str],
    params: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """The whole UI benchmark; never raises. Per tool: seeding time and each page's loads."""
    started = time.perf_counter()
    out: dict[str, Any] = {"params": params, "tools": {n: {"error": m} for n, m in broken.items()}}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        for tool in tools:
            out["tools"][tool.name] = {"error": f"playwright is not installed: {exc}"}
        return out
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=ui_browser.CHROMIUM,
                headless=True,
                args=ui_browser.chromium_args(),
            )
        except Exception as exc:
            for tool in tools:
                out["tools"][tool.name] = {
                    "error": f"Chromium did not start ({exc}); apt-get install -y chromium"[:800]
                }
            return out
        try:
            out["chromium"] = browser.version
            for tool in tools:
                workdir = Path(tmp) / tool.name
                workdir.mkdir()
                print(f"[ui] {tool.name}: seeding and starting ...", file=sys.stderr, flush=True)
                try:
                    out["tools"][tool.name] = measure_tool(tool, browser, params, workdir, timeout)
                except Exception as exc:
                    out["tools"][tool.name] = {"error": f"{type(exc).__name__}: {exc}"[:800]}
        finally:
            browser.close()
    out["elapsed_s"] = time.perf_counter() - started
    return out
