"""MLflow's metric-history endpoints (protocol reference §2.2).

Histories are answered straight from the store's columnar :class:`MetricHistory` (NumPy arrays)
through :func:`runlab.server.wire.metric_points`, never through a Metric object per point: that is
what keeps a 100,000-point get-history in the tens of milliseconds.
"""

from __future__ import annotations

from typing import Any

from runlab.entities import MetricHistory
from runlab.errors import InvalidParameter
from runlab.server import wire
from runlab.server.auth.rules import RUN_ID, experiment, run_ids
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields, missing_value, run_id_of

#: Limits of the bulk endpoints (protocol reference §3).
MAX_RUNS_PER_BULK_REQUEST = 100
BULK_INTERVAL_MAX_RESULTS = 2500
BULK_MAX_RESULTS = 25000


def get_history(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    key = f.required_string("metric_key")
    max_results = f.int64("max_results")
    if max_results is not None and max_results <= 0:
        raise InvalidParameter(f"Field 'max_results' must be positive, got {max_results}.")
    page_token = f.string("page_token") or None
    history = ctx.tracking_store.get_metric_history(run_id, key, max_results, page_token)
    out: dict[str, Any] = {}
    if len(history):
        out["metrics"] = wire.metric_points(key, history.steps, history.timestamps, history.values)
    if history.token:
        out["next_page_token"] = history.token
    return out


def _run_ids(f: RequestFields, name: str) -> list[str]:
    run_ids = f.string_list(name)
    if not run_ids:
        raise missing_value(name)
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidParameter(
            f"Field '{name}' names {len(run_ids)} runs; at most {MAX_RUNS_PER_BULK_REQUEST} are "
            "allowed per request."
        )
    # A run named twice would only repeat its points.
    return list(dict.fromkeys(run_ids))


def _bounded(f: RequestFields, name: str, default: int, limit: int) -> int:
    value = f.int64(name, default=default)
    assert value is not None
    if not 1 <= value <= limit:
        raise InvalidParameter(f"Field '{name}' must be from 1 to {limit}, got {value}.")
    return value


def sample_steps(steps: Any, max_results: int) -> Any:
    """At most ``max_results`` distinct steps, evenly spread, always keeping the first and last."""
    import numpy as np

    distinct = np.unique(steps)
    if len(distinct) <= max_results:
        return distinct
    if max_results == 1:
        return distinct[:1]
    picks = np.linspace(0, len(distinct) - 1, max_results).round().astype(np.int64)
    return distinct[np.unique(picks)]


def _in_order(history: MetricHistory, mask: Any = None) -> tuple[Any, Any, Any]:
    """Columns of the (optionally masked) history ordered by (step, timestamp)."""
    import numpy as np

    steps, timestamps, values = history.steps, history.timestamps, history.values
    if mask is not None:
        steps, timestamps, values = steps[mask], timestamps[mask], values[mask]
    order = np.lexsort((timestamps, steps))
    return steps[order], timestamps[order], values[order]


def get_history_bulk_interval(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    import numpy as np

    run_ids = _run_ids(f, "run_ids")
    key = f.required_string("metric_key")
    start_step, end_step = f.int64("start_step"), f.int64("end_step")
    if (start_step is None) != (end_step is None):
        raise InvalidParameter("Fields 'start_step' and 'end_step' must be given together.")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameter(
            f"Field 'start_step' ({start_step}) must not be greater than 'end_step' ({end_step})."
        )
    max_results = _bounded(f, "max_results", BULK_INTERVAL_MAX_RESULTS, BULK_INTERVAL_MAX_RESULTS)
    metrics: list[dict[str, Any]] = []
    for run_id in run_ids:
        history = ctx.tracking_store.get_metric_history(run_id, key)
        in_range = np.ones(len(history.steps), dtype=bool)
        if start_step is not None and end_step is not None:
            in_range = (history.steps >= start_step) & (history.steps <= end_step)
        chosen = sample_steps(history.steps[in_range], max_results)
        mask = in_range & np.isin(history.steps, chosen)
        metrics.extend(wire.metric_points(key, *_in_order(history, mask), run_id=run_id))
    return {"metrics": metrics} if metrics else {}


def get_history_bulk(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_ids = _run_ids(f, "run_id")
    key = f.required_string("metric_key")
    max_results = _bounded(f, "max_results", BULK_MAX_RESULTS, BULK_MAX_RESULTS)
    metrics: list[dict[str, Any]] = []
    for run_id in run_ids:
        left = max_results - len(metrics)
        if left <= 0:
            break
        h = ctx.tracking_store.get_metric_history(run_id, key)
        metrics.extend(
            wire.metric_points(
                key, h.steps[:left], h.timestamps[:left], h.values[:left], run_id=run_id
            )
        )
    return {"metrics": metrics}


ENDPOINTS = [
    Endpoint(
        "GET",
        "metrics/get-history",
        get_history,
        "Every point of one metric, optionally paged",
        {
            "run_id": "string",
            "run_uuid": "string",
            "metric_key": "string",
            "max_results": "integer",
            "page_token": "string",
        },
        ("run_id", "metric_key"),
        rule=experiment("read", RUN_ID),
    ),
    Endpoint(
        "GET",
        "metrics/get-history-bulk-interval",
        get_history_bulk_interval,
        "Sampled histories of one metric over several runs",
        {
            "run_ids": "array",
            "metric_key": "string",
            "start_step": "integer",
            "end_step": "integer",
            "max_results": "integer",
        },
        ("run_ids", "metric_key"),
        rule=experiment("read", run_ids("run_ids")),
    ),
]

#: Served only under /ajax-api/2.0/mlflow, as in MLflow.
AJAX_ENDPOINTS = [
    Endpoint(
        "GET",
        "metrics/get-history-bulk",
        get_history_bulk,
        "Histories of one metric over several runs (UI only)",
        {"run_id": "array", "metric_key": "string", "max_results": "integer"},
        ("run_id", "metric_key"),
        rule=experiment("read", run_ids("run_id")),
    ),
]
