"""The serving benchmark's section of BENCHMARKS.md: its table (issue 5's target) and notes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import harness

#: MLflow 3.17.2 as measured when issue 5 was filed (50 trees on iris, 4 keep-alive threads).
ISSUE_MLFLOW_FIGURES = (
    "106 requests/s with 1 row (p50 35 ms, p99 84 ms), 98 requests/s with 100 rows"
)
TARGET = "≥ 2x MLflow's req/s at ≤ its p99"
TARGET_RATIO = 2.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "not run"
    if "error" in r:
        return "failed (see notes)"
    errors = f" ({r['errors']:,} errors)" if r["errors"] else ""
    return f"{r['requests_per_s']:,.0f}{errors}"


def _latency(r: dict[str, Any] | None) -> str:
    if r is None or "error" in r:
        return "—"
    return f"{_ms(r['p50_s'])} / {_ms(r['p99_s'])} ms"


def _cpu(r: dict[str, Any] | None) -> str:
    if r is None or "server_cpu_ms_per_request" not in r:
        return "—"
    return f"{r['server_cpu_ms_per_request']:,.1f}"


def _verdict(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> tuple[str, str]:
    """The ratio cell and the verdict cell for one row of the table."""
    if not ours or not theirs:
        return "—", "not judged (one side not run)"
    if "error" in ours or "error" in theirs:
        return "—", "❌ (a side failed)"
    ratio = ours["requests_per_s"] / theirs["requests_per_s"]
    if ours["errors"] or theirs["errors"]:
        return f"{ratio:,.2f}x", "❌ (errors)"
    met = ratio >= TARGET_RATIO and ours["p99_s"] <= theirs["p99_s"]
    return f"{ratio:,.2f}x", "✅" if met else "❌"


def table(results: dict[str, Any]) -> str:
    tools = results["tools"]
    workers = next((t["workers"] for t in tools.values() if "workers" in t), None)
    head = (
        "| request | runlab req/s | MLflow req/s | runlab vs MLflow | runlab p50 / p99 | "
        "MLflow p50 / p99 | workers | target | met? | server CPU per request, runlab / MLflow |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for rows in ("1", "100"):
        ours = tools.get("runlab", {}).get("by_rows", {}).get(rows) or tools.get("runlab")
        theirs = tools.get("mlflow", {}).get("by_rows", {}).get(rows) or tools.get("mlflow")
        ratio, met = _verdict(ours, theirs)
        label = "1 row" if rows == "1" else f"{rows} rows"
        lines.append(
            f"| {label} | {_cell(ours)} | {_cell(theirs)} | {ratio} | {_latency(ours)} | "
            f"{_latency(theirs)} | {workers if workers is not None else '—'} each | {TARGET} | "
            f"{met} | {_cpu(ours)} / {_cpu(theirs)} ms |"
        )
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    params = results["params"]
    for name, tool in results["tools"].items():
        for rows, r in tool.get("by_rows", {}).items():
            done = [x for x in r.get("rounds", []) if "requests_per_s" in x]
            if not done:
                continue
            per_round = ", ".join(
                f"{x['requests_per_s']:,.0f} req/s p99 {_ms(x['p99_s'])} ms" for x in done
            )
            cpu, cpus = r.get("server_cpu_ms_per_request"), r.get("server_cpus_used")
            cpu_note = f"; server CPU {cpu:,.2f} ms per request" if cpu is not None else ""
            if cpus is not None:
                cpu_note += f", {cpus:,.2f} CPUs busy"
            client_cpu = max(x["client_cpu_s"] for x in done)
            window = params["warmup_s"] + params["duration_s"]
            out.append(
                f"{name}, {rows} row(s): {r['requests']:,} requests timed over "
                f"{len(done)} round(s) ({per_round}){cpu_note}; the client used at most "
                f"{client_cpu:,.1f} s of CPU in a {window} s window."
            )
            if r.get("errors"):
                out.append(
                    f"{name}, {rows} row(s): {r['errors']} errors, e.g. {r['error_samples']}"
                )
            if r.get("failed_rounds"):
                bad = [x["error"] for x in r["rounds"] if "error" in x]
                out.append(
                    f"{name}, {rows} row(s): {r['failed_rounds']} round(s) failed: "
                    f"{_one_line(bad[0])}"
                )
        if "error" in tool:
            out.append(f"{name} failed: {_one_line(tool['error'])}")
    return out


def _one_line(text: str, limit: int = 500) -> str:
    """An error (often with a server's log in it) as one line of a Markdown list."""
    return " ".join(str(text).split())[:limit]


def render(
    results: dict[str, Any],
    command: str,
    started: dt.datetime,
    load_at_start: str,
    load_at_end: str,
) -> str:
    """The serving section: heading, setup, table and notes."""
    params = results["params"]
    model = results.get("model", {})
    saved = model.get("saved_with", "—")
    elapsed = results.get("elapsed_s")
    took = f"; the run took {elapsed / 60:,.1f} min" if elapsed else ""
    lines = [
        "## Model serving: `runlab models serve` vs `mlflow models serve` (issue 5)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}{took}",
        f"- Machine: {harness.machine_note()}",
        f"- Load average (1 / 5 / 15 min): {load_at_start} at the start, {load_at_end} at the end. "
        "The machine is shared; the client and the server share its CPUs, and other work running "
        "at the same time slows both servers.",
        "- Rerun: `python3 bench/run.py -w serving --write BENCHMARKS.md` (sizes: "
        "`--serving-duration-s`, `--serving-rounds`, `--serving-threads`, `--serving-workers`).",
        f"- The model: RandomForestClassifier(n_estimators=50, random_state=0) fitted on "
        f"scikit-learn {model.get('sklearn', '?')}'s bundled iris, saved once per run with "
        f"`{saved.split()[0]}.sklearn.save_model` ({saved}; skops, trusting "
        f"{', '.join(model.get('trusted_types', [])) or 'nothing more'}; signature inferred from "
        "the iris frame) into one folder that both servers load.",
        "- The servers: `runlab models serve -m DIR -p PORT --host 127.0.0.1` from this checkout "
        "and `mlflow models serve -m DIR -p PORT --host 127.0.0.1 --env-manager local "
        f"--workers {params['workers']}` from `bench/.venv-mlflow` (MLflow 3.17.2, whose default is "
        "1 worker), both started once per run and ready on `/ping` before any measure. Each runs "
        "with its own defaults otherwise: runlab micro-batches predict (requests that queue up "
        "while the model is busy are scored in one call, for scikit-learn models), MLflow "
        "predicts each request on its own thread (`asyncio.to_thread`).",
        f"- The client (bench/serving_client.py, one process per measure, the same for both): "
        f"{params['threads']} threads, each with its own keep-alive `http.client` connection, "
        'POST the same pre-encoded `{"dataframe_split": …}` body of iris rows to `/invocations` '
        f"back to back for {params['warmup_s']} s of warm-up, then {params['duration_s']} s "
        "measured. Latency is from sending to having read the whole answer. Every answer must be "
        "200 with the saved model's own predictions for those rows; anything else is an error. "
        f"Rounds: {params['rounds']}, the servers' order alternating; figures are medians over "
        "the rounds.",
        "- Both servers run as installed: runlab's dependencies include `uvicorn[standard]` "
        "(httptools, uvloop); `pip install mlflow==3.17.2` brings plain uvicorn (h11, asyncio). "
        "MLflow's uvicorn writes an access-log line per request; runlab's server logs as it "
        "does by default.",
        "- Server CPU per request: the CPU time (user + system) of the server's processes over "
        "a measure, warm-up included, divided by the requests it answered; it is less skewed by "
        "other work on the machine than requests/s and latency are.",
        f"- For reference, issue 5 measured MLflow 3.17.2 at: {ISSUE_MLFLOW_FIGURES}.",
        "",
        table(results),
        "",
        "Notes:",
        "",
    ]
    lines += [f"- {note}" for note in notes(results)]
    return "\n".join(lines)
