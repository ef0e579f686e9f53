"""runlab's own endpoints, under /api/2.0/runlab (and /ajax-api/2.0/runlab), where MLflow has none.

``GET metrics/downsampled`` answers a chart's series in N step buckets that keep each bucket's
minimum and maximum, so a spike survives however long the series is. The store computes it from
its chunk summaries (see :mod:`runlab.store.sql.metric_downsample`).

``GET registered-models/history`` (the registry's stage and alias history) is declared with the
other registry endpoints in :mod:`runlab.server.routes.registry` and served under these prefixes
when the app has a registry store.
"""

from __future__ import annotations

from typing import Any

from runlab.errors import InvalidParameter, RunlabError
from runlab.server import wire
from runlab.server.auth.rules import RUN_ID, experiment
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields, run_id_of
from runlab.store.sql.metric_downsample import DEFAULT_BUCKETS, MAX_BUCKETS

#: Where these endpoints are served.
RUNLAB_PREFIXES = ("/api/2.0/runlab", "/ajax-api/2.0/runlab")


def downsampled(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    key = f.required_string("metric_key")
    buckets = f.int64("buckets", default=DEFAULT_BUCKETS)
    assert buckets is not None
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidParameter(f"Field 'buckets' must be from 1 to {MAX_BUCKETS}, got {buckets}.")
    start_step, end_step = f.int64("start_step"), f.int64("end_step")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameter(
            f"Field 'start_step' ({start_step}) must not be greater than 'end_step' ({end_step})."
        )
    method = getattr(ctx.tracking_store, "get_metric_downsampled", None)
    if method is None:
        raise RunlabError(
            "This server's tracking store cannot downsample metrics; use a SQL backend.",
            "NOT_IMPLEMENTED",
        )
    result = method(run_id, key, buckets, start_step, end_step)
    return {
        "run_id": run_id,
        "metric_key": key,
        "buckets": [wire.metric_bucket(b) for b in result],
    }


ENDPOINTS = [
    Endpoint(
        "GET",
        "metrics/downsampled",
        downsampled,
        "One metric in N step buckets with first/last step, min, max, last value and count",
        {
            "run_id": "string",
            "metric_key": "string",
            "buckets": "integer",
            "start_step": "integer",
            "end_step": "integer",
        },
        ("run_id", "metric_key"),
        rule=experiment("read", RUN_ID),
    ),
]
