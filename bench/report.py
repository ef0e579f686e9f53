"""Turning workload results into the comparison table (Markdown) and BENCHMARKS.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Results = dict[str, dict[str, dict[str, Any]]]  # workload -> tool -> result


@dataclass(frozen=True)
class Row:
    """One line of the table: where its number comes from and how to judge it."""

    workload: str
    label: str
    value: Callable[[dict[str, Any]], float]
    fmt: Callable[[float, dict[str, Any]], str]
    lower_is_better: bool
    target: str = ""
    meets_target: Callable[[float, float | None], bool] | None = None
    #: Normalises a value by the workload's size before a ratio (different point counts).
    per_unit: Callable[[dict[str, Any]], float] | None = None
    #: Counts (errors, lost points) get no ratio.
    ratio: bool = True
    #: When given, the target is judged only for results it accepts (the target's size).
    judged_when: Callable[[dict[str, Any]], bool] | None = None


def _ms(v: float, _: dict[str, Any]) -> str:
    return f"{v * 1000:,.1f} ms"


def _s(v: float, _: dict[str, Any]) -> str:
    return f"{v:,.3f} s" if v < 10 else f"{v:,.1f} s"


def _rate(v: float, _: dict[str, Any]) -> str:
    return f"{v:,.0f}/s"


def _points_note(key: str) -> Callable[[float, dict[str, Any]], str]:
    def fmt(v: float, r: dict[str, Any]) -> str:
        return f"{_s(v, r)} ({r[key]:,} pts)"

    return fmt


ROWS: list[Row] = [
    Row(
        "import",
        '`python -c "import …"` wall time',
        lambda r: r["median_s"],
        _ms,
        lower_is_better=True,
        target="≤ 150 ms and ≥ 10x faster",
        meets_target=lambda v, ratio: v <= 0.150 and (ratio is None or ratio >= 10),
    ),
    Row(
        "import",
        "same, minus the bare interpreter's start-up (`python -c pass`)",
        lambda r: max(r["median_s"] - r["python_startup_s"], 0.0),
        _ms,
        lower_is_better=True,
    ),
    Row(
        "loop",
        "fluent loop: `log_metric` calls/s (300 steps x 3)",
        lambda r: r["calls_per_s_median"],
        _rate,
        lower_is_better=False,
        target="≥ 50,000/s",
        meets_target=lambda v, _: v >= 50_000,
    ),
    Row(
        "loop",
        "fluent loop: start_run → end_run wall time",
        lambda r: r["total_s_median"],
        _s,
        lower_is_better=True,
    ),
    Row(
        "loop",
        "fluent loop: points lost",
        lambda r: r["points_expected"] - r["points_stored"],
        lambda v, r: f"{v:,.0f} of {r['points_expected']:,}",
        lower_is_better=True,
        target="0",
        meets_target=lambda v, _: v == 0,
        ratio=False,
    ),
    Row(
        "disk",
        "bytes per metric point on disk (SQLite + WAL)",
        lambda r: r["bytes_per_point"],
        lambda v, r: f"{v:,.1f} B ({r['points']:,} pts)",
        lower_is_better=True,
        target="≤ 32 B",
        meets_target=lambda v, _: v <= 32,
    ),
    Row(
        "disk",
        "same, whole database file after the process exited (WAL checkpointed) ÷ points",
        lambda r: r["size_after_exit"] / r["points"],
        lambda v, r: f"{v:,.1f} B",
        lower_is_better=True,
    ),
    Row(
        "disk",
        "`log_batch` ingest, 1000-metric batches",
        lambda r: r["points_per_s"],
        lambda v, r: f"{v:,.0f} pts/s",
        lower_is_better=False,
    ),
    Row(
        "history",
        "`get_metric_history`: the call",
        lambda r: r["call_s_median"],
        _points_note("points"),
        lower_is_better=True,
        target="≤ 1 s at 1M pts",
        meets_target=None,  # judged below, only when runlab read 1M points
        per_unit=lambda r: r["points"],
    ),
    Row(
        "history",
        "`get_metric_history`: call + touch every point",
        lambda r: r["total_s_median"],
        _points_note("points"),
        lower_is_better=True,
        per_unit=lambda r: r["points"],
    ),
    Row(
        "search",
        "`search_runs` (metric+param+tag filter, order by metric, 100 results)",
        lambda r: r["search_s_median"],
        lambda v, r: f"{v * 1000:,.1f} ms ({r['runs']:,} runs)",
        lower_is_better=True,
        target="≤ 50 ms at 10,000 runs",
        meets_target=lambda v, _: v <= 0.050,
    ),
    Row(
        "concurrent",
        '4 processes, one SQLite file: "database is locked" errors',
        lambda r: r["locked_errors"],
        lambda v, r: f"{v:,.0f}" + (f" (+{r['other_errors']} other)" if r["other_errors"] else ""),
        lower_is_better=True,
        target="0",
        meets_target=lambda v, _: v == 0,
        ratio=False,
    ),
    Row(
        "concurrent",
        "4 processes, one SQLite file: points lost",
        lambda r: r["lost_points"],
        lambda v, r: f"{v:,.0f} of {r['points_expected']:,}",
        lower_is_better=True,
        target="0",
        meets_target=lambda v, _: v == 0,
        ratio=False,
    ),
]


def _cell(row: Row, result: dict[str, Any] | None) -> tuple[str, float | None]:
    if result is None:
        return "not run", None
    if "skipped" in result:
        return f"not measured ({result['skipped']})", None
    if "error" in result:
        message = str(result["error"]).replace("|", "\\|").replace("\n", " ")
        return f"error: {message[:80]}", None
    try:
        value = row.value(result)
        return row.fmt(value, result), value
    except Exception as exc:  # a result without the expected fields is shown, not fatal
        return f"error: {type(exc).__name__}: {exc}"[:90], None


def _ratio(row: Row, results: dict[str, dict[str, Any]], ours: float, theirs: float) -> float:
    if row.per_unit is not None:
        ours /= row.per_unit(results["runlab"])
        theirs /= row.per_unit(results["mlflow"])
    if row.lower_is_better:
        return theirs / ours if ours > 0 else float("inf")
    return ours / theirs if theirs > 0 else float("inf")


def table(results: Results, tools: list[str], rows: list[Row] | None = None) -> str:
    """The comparison as a Markdown table: one row per measure, medians, ratio, target.

    ``rows`` defaults to the client-side measures (:data:`ROWS`); the server benchmark passes
    its own.
    """
    header = ["measure", *[_TOOL_LABELS.get(t, t) for t in tools]]
    compare = "runlab" in tools and "mlflow" in tools
    if compare:
        header.append("runlab vs MLflow")
    header.append("runlab target")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in ROWS if rows is None else rows:
        if row.workload not in results:
            continue
        per_tool = results[row.workload]
        cells = [row.label]
        values: dict[str, float | None] = {}
        for tool in tools:
            text, value = _cell(row, per_tool.get(tool))
            cells.append(text)
            values[tool] = value
        ratio: float | None = None
        if compare:
            ours, theirs = values.get("runlab"), values.get("mlflow")
            if row.ratio and ours is not None and theirs is not None:
                ratio = _ratio(row, per_tool, ours, theirs)
                word = "smaller" if row.workload == "disk" and row.lower_is_better else "faster"
                note = (
                    " per pt" if row.per_unit is not None and _sizes_differ(row, per_tool) else ""
                )
                shown = ratio
                if ratio < 1:  # runlab lost this one: say so rather than "0.7x faster"
                    word = "larger" if word == "smaller" else "slower"
                    shown = 1 / ratio
                cells.append(f"{shown:,.1f}x {word}{note}")
            else:
                cells.append("—")
        cells.append(_verdict(row, values.get("runlab"), ratio, per_tool.get("runlab")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sizes_differ(row: Row, per_tool: dict[str, dict[str, Any]]) -> bool:
    assert row.per_unit is not None
    return row.per_unit(per_tool["runlab"]) != row.per_unit(per_tool["mlflow"])


def _verdict(row: Row, value: float | None, ratio: float | None, result: Any) -> str:
    if not row.target:
        return ""
    if value is None:
        return row.target
    ok: bool | None
    if row.judged_when is not None and not (result and row.judged_when(result)):
        ok = None
    elif row.meets_target is not None:
        ok = row.meets_target(value, ratio)
    elif row.workload == "history" and result and result.get("points") == 1_000_000:
        ok = value <= 1.0
    else:
        ok = None
    mark = {True: " ✅", False: " ❌", None: " (not judged at this size)"}[ok]
    return row.target + mark


_TOOL_LABELS = {"runlab": "runlab", "mlflow": "MLflow 3.17.2"}


def notes(results: Results) -> list[str]:
    """Details worth reading beside the table: sizes, errors, start-up baselines."""
    out: list[str] = []
    imp = results.get("import", {})
    for tool, r in imp.items():
        if "python_startup_s" in r:
            out.append(
                f"import ({tool}): median of {r['repeats']} fresh interpreters; the bare interpreter "
                f"(`python -c pass`) takes {r['python_startup_s'] * 1000:.1f} ms of that."
            )
    for tool, r in results.get("disk", {}).items():
        if "size_after" in r:
            out.append(
                f"disk ({tool}): {r['points']:,} points over {r['keys']} keys via log_batch; "
                f"files grew {r['size_before']:,} → {r['size_after']:,} bytes by end of run "
                f"(per point = growth / points); {r.get('size_after_exit', 0):,} bytes once the "
                "process had exited."
            )
    for tool, r in results.get("history", {}).items():
        if "call_s_median" in r:
            out.append(
                f"history ({tool}): {r['points']:,} points of one metric, median of {r['repeats']} "
                f"reads; logging them took {r['log_s']:.1f} s."
            )
    for tool, r in results.get("search", {}).items():
        if "search_s_median" in r:
            out.append(
                f"search ({tool}): {r['runs']:,} runs ({r['matching']:,} match, "
                f"{r['returned']} returned), median of {len(r['search_s'])} calls; creating the "
                f"runs took {r['create_s']:.1f} s."
            )
    for tool, r in results.get("concurrent", {}).items():
        if "lost_points" in r:
            samples = "; ".join(r.get("error_samples", []))
            out.append(
                f"concurrent ({tool}): {r['procs']} processes x {r['points_expected'] // r['procs']:,} "
                f"fluent log_metric calls each, released together; {r['wall_s']:.1f} s."
                + (f" Errors seen: {samples}" if samples else "")
            )
    for workload, per_tool in results.items():
        for tool, r in per_tool.items():
            if "error" in r:
                detail = str(r.get("detail", "")).strip().splitlines()[-6:]
                out.append(
                    f"{workload} ({tool}) failed: {r['error']}"
                    + "".join(f"\n    {line}" for line in detail)
                )
    return out
