"""The server benchmark's table rows (issue 3's targets) and notes."""

from __future__ import annotations

from typing import Any

from report import Results, Row

#: MLflow 3.17.2 as measured when issue 3 was filed (1 worker, SQLite), quoted in the notes.
ISSUE_MLFLOW_FIGURES = (
    "log-batch ingest 2,900 points/s; run creation + small log-batch 57 ms; search over 2,000 runs "
    "163 ms; get-history of 100,000 points 6.5 s; fluent API through the server 69 calls/s"
)


def _ms(v: float, _: dict[str, Any]) -> str:
    return f"{v * 1000:,.1f} ms"


def _pts(v: float, r: dict[str, Any]) -> str:
    # Every point is read back after each repeat; the cell says how many did not arrive.
    return f"{v:,.0f} pts/s ({r['lost_points']:,} lost)"


SERVER_ROWS: list[Row] = [
    Row(
        "server-ingest",
        "log-batch ingest, batches of 1000: 1 client, 1 worker",
        lambda r: r["points_per_s_median"],
        _pts,
        lower_is_better=False,
        target="≥ 150,000 pts/s",
        meets_target=lambda v, _: v >= 150_000,
    ),
    Row(
        "server-ingest4",
        "log-batch ingest, batches of 1000: 4 concurrent clients, 2 workers",
        lambda r: r["points_per_s_median"],
        _pts,
        lower_is_better=False,
        target="≥ 300,000 pts/s",
        meets_target=lambda v, _: v >= 300_000,
    ),
    Row(
        "server-create",
        "run creation: runs/create + one small log-batch (median latency)",
        lambda r: r["latency_s_median"],
        _ms,
        lower_is_better=True,
        target="≤ 3 ms",
        meets_target=lambda v, _: v <= 0.003,
    ),
    Row(
        "server-search",
        "search-runs: metric+param+tag filter, order by a metric, 100 results",
        lambda r: r["search_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['runs']:,} runs)",
        lower_is_better=True,
        target="≤ 15 ms at 2,000 runs",
        meets_target=lambda v, _: v <= 0.015,
        judged_when=lambda r: r["runs"] == 2_000,
    ),
    Row(
        "server-search-large",
        "same search over many more runs",
        lambda r: r["search_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['runs']:,} runs)",
        lower_is_better=True,
        target="≤ 100 ms at 100,000 runs",
        meets_target=lambda v, _: v <= 0.100,
        judged_when=lambda r: r["runs"] == 100_000,
    ),
    Row(
        "server-history",
        "get-history of one metric: whole answer received",
        lambda r: r["http_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['points']:,} pts)",
        lower_is_better=True,
        target="≤ 250 ms at 100,000 pts",
        meets_target=lambda v, _: v <= 0.250,
        judged_when=lambda r: r["points"] == 100_000,
        per_unit=lambda r: r["points"],
    ),
    Row(
        "server-history",
        "same, plus decoding the JSON in the client",
        lambda r: r["total_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms",
        lower_is_better=True,
        per_unit=lambda r: r["points"],
    ),
    Row(
        "server-fluent",
        "fluent API through the server: `log_metric` calls/s (user side)",
        lambda r: r["calls_per_s_median"],
        lambda v, r: f"{v:,.0f}/s",
        lower_is_better=False,
        target="≥ 50,000/s",
        meets_target=lambda v, _: v >= 50_000,
    ),
    Row(
        "server-fluent",
        "fluent API through the server: start_run → end_run (all points delivered)",
        lambda r: r["total_s_median"],
        lambda v, r: f"{v:,.2f} s ({r['calls']:,} calls)",
        lower_is_better=True,
        per_unit=lambda r: r["calls"],
    ),
    Row(
        "server-fluent",
        "fluent API through the server: points lost",
        lambda r: r["points_expected"] - r["points_stored"],
        lambda v, r: f"{v:,.0f} of {r['points_expected']:,}",
        lower_is_better=True,
        target="0",
        meets_target=lambda v, _: v == 0,
        ratio=False,
    ),
]


#: The workloads of the Python-client table (issue 19).
PYCLIENT_WORKLOADS = ("server-py-search", "server-py-ingest", "server-py-history")

PYCLIENT_ROWS: list[Row] = [
    Row(
        "server-py-search",
        "runs/search: 10 params, 5 metrics, 3 tags per run; metric+param+tag filter, order by a "
        "metric, 100 results, answer decoded",
        lambda r: r["search_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['runs']:,} runs)",
        lower_is_better=True,
        target="≥ 10x MLflow",
        meets_target=lambda v, ratio: ratio is not None and ratio >= 10,
    ),
    Row(
        "server-py-ingest",
        "log-batch ingest of whole runs: create, 20 params + 5 tags, 10 x 1000 points, update; "
        "4 runs",
        lambda r: r["points_per_s_median"],
        _pts,
        lower_is_better=False,
        target="≥ 20x MLflow",
        meets_target=lambda v, ratio: ratio is not None and ratio >= 20,
    ),
    Row(
        "server-py-history",
        "get-history, every page, decoded",
        lambda r: r["history_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['points']:,} pts)",
        lower_is_better=True,
        target="≥ 20x MLflow",
        meets_target=lambda v, ratio: ratio is not None and ratio >= 20,
        per_unit=lambda r: r["points"],
    ),
]


def notes(results: Results) -> list[str]:
    """Sizes behind each figure, and what failed."""
    out: list[str] = []
    for workload in ("server-ingest", "server-ingest4"):
        for tool, r in results.get(workload, {}).items():
            if "points_per_s" in r:
                rates = ", ".join(f"{v:,.0f}" for v in r["points_per_s"])
                out.append(
                    f"{workload} ({tool}): {r['clients']} client(s) x {r['batches_per_client']} "
                    f"batches of 1000 points per repeat, {r['repeats']} repeats ({rates} pts/s)."
                )
    for tool, r in results.get("server-create", {}).items():
        if "latency_s_median" in r:
            out.append(
                f"server-create ({tool}): {r['runs']} runs after 5 warm-up runs; 90th percentile "
                f"{r['latency_s_p90'] * 1000:,.1f} ms."
            )
    for workload in ("server-search", "server-search-large"):
        for tool, r in results.get(workload, {}).items():
            if "search_s_median" in r:
                out.append(
                    f"{workload} ({tool}): {r['runs']:,} runs ({r['matching']:,} match, "
                    f"{r['returned']} returned), median of {len(r['search_s'])} calls after one "
                    f"warm-up; creating the runs through the API took {r['create_s']:,.1f} s."
                )
    for tool, r in results.get("server-history", {}).items():
        if "http_s_median" in r:
            paged = " (the server paged it; all pages timed)" if r.get("paged") else ""
            out.append(
                f"server-history ({tool}): {r['points']:,} points of one metric, median of "
                f"{r['repeats']} reads{paged}; logging them (batches of 1000) took "
                f"{r['log_s']:,.1f} s."
            )
    for tool, r in results.get("server-fluent", {}).items():
        if "calls_per_s_median" in r:
            out.append(
                f"server-fluent ({tool}): {r['calls']:,} log_metric calls per run (plus 20 "
                f"log_param), {r['repeats']} run(s); end_run waited {r['end_run_s_median']:,.2f} s "
                "for delivery; every point read back through the server."
            )
    for workload, per_tool in results.items():
        for tool, r in per_tool.items():
            if "error" in r:
                detail = str(r.get("detail", "")).strip().splitlines()[-6:]
                out.append(
                    f"{workload} ({tool}) failed: {r['error']}"
                    + "".join(f"\n    {line}" for line in detail)
                )
            elif "skipped" in r:
                out.append(f"{workload} ({tool}) not measured: {r['skipped_why']}")
    return out
