"""``search_runs`` for the fluent API: every matching run as a pandas DataFrame or a list."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from runlab.entities import Run, ViewType
from runlab.errors import InvalidParameter
from runlab.tracking.fluent_experiments import current_experiment_id, default_client

__all__ = ["runs_to_dataframe", "search_runs"]

#: The default cap on runs returned, like MLflow's.
SEARCH_MAX_RESULTS_PANDAS = 100_000
_PAGE_SIZE = 10_000


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching a filter, fetched page by page up to ``max_results``.

    Searches ``experiment_ids`` or ``experiment_names`` (not both), else every experiment when
    ``search_all_experiments``, else the current experiment. ``output_format="pandas"`` returns
    a DataFrame with columns run_id, experiment_id, status, artifact_uri, start_time, end_time,
    ``metrics.*``, ``params.*`` and ``tags.*``; ``"list"`` returns the :class:`Run` objects.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameter(f"output_format must be 'pandas' or 'list', got {output_format!r}.")
    if experiment_ids is not None and experiment_names is not None:
        raise InvalidParameter("Pass experiment_ids or experiment_names, not both.")
    client = default_client()
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [str(experiment_ids)]
    if experiment_names is not None:
        if isinstance(experiment_names, str):
            experiment_names = [experiment_names]
        found = (client.get_experiment_by_name(name) for name in experiment_names)
        ids = [e.experiment_id for e in found if e is not None]
    elif experiment_ids:
        ids = [str(e) for e in experiment_ids]
    elif search_all_experiments:
        ids = []
        token: str | None = None
        while True:
            page = client.search_experiments(view_type=ViewType.ALL, page_token=token)
            ids.extend(e.experiment_id for e in page)
            token = page.token
            if not token:
                break
    else:
        ids = [current_experiment_id(client)]

    runs: list[Run] = []
    token = None
    while ids and len(runs) < max_results:
        page_runs = client.search_runs(
            ids,
            filter_string=filter_string,
            run_view_type=run_view_type,
            max_results=min(_PAGE_SIZE, max_results - len(runs)),
            order_by=order_by,
            page_token=token,
        )
        runs.extend(page_runs)
        token = page_runs.token
        if not token:
            break
    if output_format == "list":
        return runs
    return runs_to_dataframe(runs)


def runs_to_dataframe(runs: Sequence[Run]) -> Any:
    """A pandas DataFrame with one row per run (missing metrics NaN, missing params/tags None)."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidParameter(
            "search_runs returns a pandas DataFrame, but pandas is not installed. Install it "
            "(pip install 'runlab[pandas]') or pass output_format='list'."
        ) from None
    n = len(runs)
    columns: dict[str, list[Any]] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
    }
    start = [r.info.start_time for r in runs]
    end = [r.info.end_time for r in runs]
    groups: dict[str, dict[str, list[Any]]] = {"metrics": {}, "params": {}, "tags": {}}
    for i, run in enumerate(runs):
        for prefix, values, missing in (
            ("metrics", run.data.metrics, math.nan),
            ("params", run.data.params, None),
            ("tags", run.data.tags, None),
        ):
            group = groups[prefix]
            for key, value in values.items():
                column = group.get(key)
                if column is None:
                    column = group[key] = [missing] * n
                column[i] = value
    frame = pd.DataFrame(columns)
    frame["start_time"] = pd.to_datetime(pd.Series(start, dtype="float64"), unit="ms", utc=True)
    frame["end_time"] = pd.to_datetime(pd.Series(end, dtype="float64"), unit="ms", utc=True)
    extra = {
        f"{prefix}.{key}": (
            pd.Series(values, dtype="float64")
            if prefix == "metrics"
            else pd.Series(values, dtype=object)
        )
        for prefix in ("metrics", "params", "tags")
        for key, values in sorted(groups[prefix].items())
    }
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra)], axis=1)
    return frame
