"""The UI benchmark's section of BENCHMARKS.md: time to draw each page, and the 1 s target."""

from __future__ import annotations

import datetime as dt
from typing import Any

import harness
import ui_run

TARGET_S = 1.0


def _seconds(r: dict[str, Any] | None) -> str:
    if r is None:
        return "not run"
    if "error" in r:
        return "failed (see notes)"
    return f"{r['median_s']:,.2f} s"


def _ratio(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> str:
    if not ours or not theirs or "error" in ours or "error" in theirs:
        return "—"
    return f"{theirs['median_s'] / ours['median_s']:,.1f}x"


def _met(ours: dict[str, Any] | None) -> str:
    if not ours or "error" in ours:
        return "❌ (not measured)"
    return "✅" if ours["median_s"] <= TARGET_S else "❌"


def _target_cells(page: str, ours: dict[str, Any] | None) -> str:
    if page not in ui_run.TARGETED_PAGES:
        return "— | —"
    return f"≤ {TARGET_S:g} s | {_met(ours)}"


def _page(results: dict[str, Any], tool: str, page: str) -> dict[str, Any] | None:
    entry = results["tools"].get(tool)
    if entry is None:
        return None
    if "error" in entry:
        return {"error": entry["error"]}
    value: dict[str, Any] | None = entry.get(page)
    return value


def table(results: dict[str, Any]) -> str:
    """One row per page: both medians, how many times faster runlab is, and the target."""
    lines = [
        "| page | runlab | MLflow | MLflow / runlab | target (runlab) | met? |",
        "|---|---|---|---|---|---|",
    ]
    for page, label in ui_run.PAGES:
        ours, theirs = _page(results, "runlab", page), _page(results, "mlflow", page)
        lines.append(
            f"| {label} | {_seconds(ours)} | {_seconds(theirs)} | {_ratio(ours, theirs)} | "
            f"{_target_cells(page, ours)} |"
        )
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> list[str]:
    """Per tool: the seeding time, every sample and URL, and any error."""
    out: list[str] = []
    for name, entry in results["tools"].items():
        if "error" in entry:
            out.append(f"{name} failed: {_one_line(entry['error'])}")
            continue
        out.append(f"{name}: seeding took {entry.get('seed_s', 0):,.1f} s (not measured).")
        for page, label in ui_run.PAGES:
            r = entry.get(page)
            if r is None:
                continue
            if "error" in r:
                out.append(f"{name}, {label} ({r.get('url', '')}): {_one_line(r['error'])}")
                continue
            samples = ", ".join(f"{s:,.2f}" for s in r["samples_s"])
            document = r.get("document_median_s")
            served = (
                f"; the HTML document arrived after {document:,.2f} s (median)"
                if document is not None
                else ""
            )
            out.append(f"{name}, {label}: `{r['url']}`, loads {samples} s{served}.")
    return out


def _one_line(text: str, limit: int = 500) -> str:
    return " ".join(str(text).split())[:limit]


def render(
    results: dict[str, Any],
    command: str,
    started: dt.datetime,
    load_at_start: str,
    load_at_end: str,
) -> str:
    """The UI section: heading, setup, table and notes."""
    params = results["params"]
    elapsed = results.get("elapsed_s")
    took = f"; the run took {elapsed / 60:,.1f} min" if elapsed else ""
    lines = [
        "## Web UI: time to draw the runs table and a long metric chart (issue 6)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}{took}",
        f"- Machine: {harness.machine_note()}; Chromium {results.get('chromium', '?')} "
        "(Debian's, headless, through Playwright)",
        f"- Load average (1 / 5 / 15 min): {load_at_start} at the start, {load_at_end} at the end. "
        "The browser and the server share the machine's CPUs.",
        "- Rerun: `python3 bench/run.py -w ui --write BENCHMARKS.md` (sizes: `--ui-runs`, "
        "`--ui-metric-points`, `--ui-loads`).",
        f"- The data, the same for both: an experiment of {params['runs']:,} runs (5 params, "
        f"3 metrics of one point, 3 tags each) and one run with a metric of {params['points']:,} "
        "points. runlab's is written with its SQL store (`create_run` and `log_batch`, the long "
        "metric in batches of 1,000) before its server starts; MLflow's goes straight into the "
        "tables of the database its server created (its REST API would take tens of minutes), "
        "into an experiment created through that API. Seeding is not timed; each server's REST "
        "API is asked for a seeded run and the long metric before any page is loaded.",
        "- The servers: `runlab server` from this checkout and `mlflow server` 3.17.2 (with its "
        "UI build) from `bench/.venv-mlflow`, each over its own SQLite file, 1 worker each.",
        f"- A measure: a cold load (new browser context: empty cache, 1280x800) from navigation "
        f"start to the first animation frame in which the page shows the thing: at least "
        f"{ui_run.MIN_ROWS} visible rows of the runs table (runlab `/experiments/{{id}}`, MLflow "
        "`/#/experiments/{id}/runs`, its Training runs tab), or the long metric's line reaching "
        "its last step (MLflow draws the first part of a long history, then the rest as it "
        "arrives) (runlab's run page `/runs/{id}#chart-1`, MLflow's metric page "
        '`/#/metric/{key}?runs=[id]&metric="key"&…`, the URL its own links build'
        '). "Drawn" counts runlab\'s first drawing, an SVG chart of the whole downsampled series '
        'with its axes and min/max band, shown while Plotly.js (4.8 MB) starts; "interactive" '
        "waits for Plotly's own line, as for MLflow, whose chart is Plotly's from the start. "
        f"Each page is loaded once untimed, then {params['loads']} times; figures are medians. "
        "Screenshots of the last load of each page are in bench/results/.",
        "",
        table(results),
        "",
        "Notes:",
        "",
    ]
    lines += [f"- {note}" for note in notes(results)]
    return "\n".join(lines)
