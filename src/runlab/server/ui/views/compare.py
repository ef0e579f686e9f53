"""The compare page: ``/compare?runs=<id>&runs=<id>…`` sets 2 to 100 runs side by side.

The server renders the runs, a params/metrics table that marks the rows whose values differ,
and embeds the same values as JSON for the page's plots (parallel coordinates, scatter), so
drawing them needs no further API calls. Only the metric charts fetch their series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities import Run
from runlab.errors import InvalidParameter
from runlab.server.auth.rules import experiment, guarded, runs_named_by
from runlab.server.ui.formatting import format_number
from runlab.store.base import TrackingStore

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: Fewest runs a comparison makes sense for.
MIN_RUNS = 2
#: Most runs one page compares: beyond that neither the table nor the plots stay readable.
MAX_RUNS = 100

#: Distinct colours for the first runs; later runs get hues spread around the wheel. The same
#: colour marks a run in the table, the overlaid charts and the plots.
PALETTE = (
    "#2557d6",
    "#d9480f",
    "#2b8a3e",
    "#ae3ec9",
    "#c92a2a",
    "#0c8599",
    "#e8590c",
    "#5c940d",
    "#862e9c",
    "#495057",
)

#: Params drawn as axes of the parallel coordinates at first; more crowd a laptop screen.
PARALLEL_PARAMS = 8


def run_color(index: int) -> str:
    """The colour of the ``index``-th run, the same in the table and in every plot."""
    if index < len(PALETTE):
        return PALETTE[index]
    # The golden angle spreads any number of further hues around the wheel without clustering.
    hue = (index * 137.508) % 360
    return f"hsl({hue:.1f}, 70%, 40%)"


def natural_key(text: str) -> tuple[list[str | int], str]:
    """Sort key that puts ``m2`` before ``m10``: runs of digits compare as numbers.

    ``re.split`` with a group alternates text and digits from a text part, so each position
    compares a str with a str or an int with an int.
    """
    parts = re.split(r"(\d+)", text)
    return [int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)], text


@dataclass(frozen=True)
class ComparedRun:
    """One run as the page shows it."""

    run_id: str
    name: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time: int | None
    deleted: bool
    color: str


@dataclass(frozen=True)
class Row:
    """One key of the params/metrics table: its value in each run, in run order."""

    kind: str  # "param" or "metric"
    key: str
    cells: list[str]  # what the table shows; "" for a run without the key
    exact: list[str]  # the full value, for a cell's tooltip (metrics are shortened in cells)
    values: list[str | float | None]  # what the plots get; None for missing or non-finite
    present: list[bool]  # whether each run has the key at all (a NaN metric still has it)
    differs: bool


def requested_run_ids(values: Iterable[str]) -> list[str]:
    """The distinct run ids among ``runs`` parameters, in the order given (blanks skipped)."""
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def parse_run_ids(request: Request) -> list[str]:
    """The distinct ``runs`` parameters in the order given; InvalidParameter if too few/many."""
    ids = requested_run_ids(request.query_params.getlist("runs"))
    if len(ids) < MIN_RUNS:
        raise InvalidParameter(
            f"Choose at least {MIN_RUNS} different runs to compare (got {len(ids)}): "
            "/compare?runs=<run id>&runs=<run id>."
        )
    if len(ids) > MAX_RUNS:
        raise InvalidParameter(
            f"At most {MAX_RUNS} runs can be compared at once (got {len(ids)}); choose fewer runs."
        )
    return ids


def load_runs(store: TrackingStore, run_ids: list[str]) -> list[tuple[Run, str]]:
    """Each run with its experiment's name; RunNotFound names the first unknown id."""
    runs = [store.get_run(run_id) for run_id in run_ids]
    names: dict[str, str] = {}
    for run in runs:
        experiment_id = run.info.experiment_id
        if experiment_id not in names:
            names[experiment_id] = store.get_experiment(experiment_id).name
    return [(run, names[run.info.experiment_id]) for run in runs]


def _plot_value(value: float) -> float | None:
    # JSON has no NaN or Infinity: a plot leaves such a point out, the table still shows it.
    return value if math.isfinite(value) else None


def build_rows(runs: list[Run]) -> list[Row]:
    """The table's rows: param keys, then metric keys (latest values), in natural key order."""
    rows: list[Row] = []
    param_keys = sorted({key for run in runs for key in run.data.params}, key=natural_key)
    for key in param_keys:
        params = [run.data.params.get(key) for run in runs]
        rows.append(
            Row(
                kind="param",
                key=key,
                cells=["" if p is None else p for p in params],
                exact=["" if p is None else p for p in params],
                values=list(params),
                present=[p is not None for p in params],
                differs=len(set(params)) > 1,
            )
        )
    metric_keys = sorted({key for run in runs for key in run.data.metrics}, key=natural_key)
    for key in metric_keys:
        metrics = [run.data.metrics.get(key) for run in runs]
        # repr() tells NaN from NaN alike (NaN != NaN) and a missing value from any number.
        distinct = {repr(m) for m in metrics}
        rows.append(
            Row(
                kind="metric",
                key=key,
                cells=["" if m is None else format_number(m) for m in metrics],
                exact=["" if m is None else repr(m) for m in metrics],
                values=[None if m is None else _plot_value(m) for m in metrics],
                present=[m is not None for m in metrics],
                differs=len(distinct) > 1,
            )
        )
    return rows


def build_context(loaded: list[tuple[Run, str]]) -> dict[str, Any]:
    """The template's context: the runs, the table rows and the JSON the plots read."""
    compared = [
        ComparedRun(
            run_id=run.info.run_id,
            name=run.info.run_name or run.info.run_id,
            experiment_id=run.info.experiment_id,
            experiment_name=experiment_name,
            status=run.info.status,
            start_time=run.info.start_time,
            deleted=run.info.lifecycle_stage == "deleted",
            color=run_color(index),
        )
        for index, (run, experiment_name) in enumerate(loaded)
    ]
    rows = build_rows([run for run, _ in loaded])
    data = {
        "runs": [{"id": r.run_id, "name": r.name, "color": r.color} for r in compared],
        "columns": [
            {
                "kind": row.kind,
                "key": row.key,
                "values": row.values,
                "present": row.present,
                "differs": row.differs,
            }
            for row in rows
        ],
    }
    params = [row for row in rows if row.kind == "param"]
    # The parallel coordinates start with params that differ: one value for all says nothing.
    axes = [row.key for row in params if row.differs] or [row.key for row in params]
    return {
        "runs": compared,
        "param_rows": params,
        "parallel_params": set(axes[:PARALLEL_PARAMS]),
        "metric_rows": [row for row in rows if row.kind == "metric"],
        "differing": sum(row.differs for row in rows),
        "data": data,
    }


def allow_eval(policy: str) -> str:
    """``policy`` with ``'unsafe-eval'`` added to its ``script-src``.

    Plotly's parallel coordinates draw with WebGL through regl, which compiles its drawing
    code with ``new Function``; without this the plot only says "WebGL is not supported". It
    is granted to this page alone, and still only to scripts this server sends: no inline
    script runs, so no value in the page can reach an eval.
    """
    return policy.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'", 1)


def routes(pages: Pages) -> list[Route]:
    """The compare page's route."""

    async def compare(request: Request) -> Response:
        """Runs side by side: the table of what differs, overlaid charts and the plots."""
        context: dict[str, Any] = {"nav": "experiments", "error": None, "runs": []}

        def load() -> dict[str, Any]:
            # Too few or too many runs, or an id that names no run, is shown in the page.
            return build_context(load_runs(pages.ctx.tracking_store, parse_run_ids(request)))

        response = await pages.render_or_error("compare.html", context, load)
        if response.status_code == 200:
            response.headers["Content-Security-Policy"] = allow_eval(
                response.headers["Content-Security-Policy"]
            )
        return response

    # READ on the experiment of every run compared (read as the page reads them).
    compared = runs_named_by("runs", lambda f: requested_run_ids(f.string_list("runs")))
    return [
        guarded(
            Route("/compare", compare, methods=["GET"], name="ui:compare"),
            experiment("read", compared),
        )
    ]
