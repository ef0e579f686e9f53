"""Parameter searches (GridSearchCV, RandomizedSearchCV, …): ``cv_results.csv`` and child runs.

Done in the background for the search's run. ``cv_results.csv`` holds ``cv_results_`` as a
table, one row per candidate. The best ``max_tuning_runs`` candidates (by ``rank_test_score``,
or by the first scorer's rank for several scorers; all of them with ``None``) each get a child
run, tagged ``mlflow.parentRunId``, with the estimator's params as that candidate set them and
the candidate's numeric results (``mean_test_score``, ``std_test_score``, ``rank_test_score``,
the fit and score times, the train scores when computed) as metrics, as MLflow records them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.sklearn_training import SearchWork

__all__ = ["best_candidates", "candidate_metrics", "cv_results_csv", "log_search"]


def log_search(run_id: str, search: Any, work: SearchWork) -> None:
    """Log the search's results table and its child runs."""
    from runlab.tracking.fluent_artifacts import log_text

    results = getattr(search, "cv_results_", None)
    if not isinstance(results, Mapping) or not results:
        return
    log_text(cv_results_csv(results), "cv_results.csv", run_id=run_id)
    for index in best_candidates(results, work.max_tuning_runs):
        _log_child(run_id, search, results, index, work)


def cv_results_csv(results: Mapping[str, Any]) -> str:
    """``cv_results_`` as CSV: a header of its keys, one row per candidate."""
    columns = list(results)
    rows = len(results[columns[0]])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for index in range(rows):
        writer.writerow([_cell(results[column], index) for column in columns])
    return buffer.getvalue()


def _cell(column: Any, index: int) -> str:
    mask = getattr(column, "mask", None)
    if mask is not None and bool(_item(mask, index)):
        return ""  # a parameter this candidate does not set
    value = column[index]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    return str(value)


def _item(mask: Any, index: int) -> Any:
    try:
        return mask[index]
    except (TypeError, IndexError):
        return mask  # numpy's nomask: nothing is masked


def best_candidates(results: Mapping[str, Any], limit: int | None) -> list[int]:
    """The candidates' indexes, best rank first (ties in search order), at most ``limit``."""
    rank_key = "rank_test_score" if "rank_test_score" in results else None
    if rank_key is None:
        rank_key = next((key for key in results if key.startswith("rank_test_")), None)
    count = len(results["params"])
    order = list(range(count))
    if rank_key is not None:
        ranks = results[rank_key]
        order.sort(key=lambda i: (float(ranks[i]), i))
    return order if limit is None else order[:limit]


def candidate_metrics(results: Mapping[str, Any], index: int) -> dict[str, float]:
    """The candidate's numeric results, without the per-split ones and the params."""
    metrics: dict[str, float] = {}
    for key, column in results.items():
        if key == "params" or key.startswith(("param_", "split")):
            continue
        try:
            value = float(column[index])
        except (TypeError, ValueError):
            continue
        if not math.isnan(value):
            metrics[key] = value
    return metrics


def _log_child(
    parent_run_id: str, search: Any, results: Mapping[str, Any], index: int, work: SearchWork
) -> None:
    from sklearn.base import clone

    from runlab.autologging.sklearn_fit import estimator_tags
    from runlab.autologging.training_run import AUTOLOGGING_TAG, _param_text
    from runlab.entities import Metric, Param
    from runlab.tracking.fluent import _target
    from runlab.tracking.system_tags import MLFLOW_PARENT_RUN_ID, default_run_tags
    from runlab.validation import MAX_PARAM_VALUE_LENGTH

    client = _target(parent_run_id).client
    base = getattr(search, "estimator", None)
    candidate = results["params"][index]
    params: dict[str, Any] = dict(candidate)
    tags = {**default_run_tags(), AUTOLOGGING_TAG: "sklearn", **work.extra_tags}
    if base is not None:
        estimator = clone(base).set_params(**candidate)
        params = estimator.get_params(deep=True)
        tags.update(estimator_tags(estimator))
    tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    child = client.create_run(work.experiment_id, tags=tags)
    child_id = child.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        child_id,
        metrics=[Metric(k, v, now, 0) for k, v in candidate_metrics(results, index).items()],
        params=[Param(str(k), _param_text(v)[:MAX_PARAM_VALUE_LENGTH]) for k, v in _sorted(params)],
        synchronous=True,
    )
    client.set_terminated(child_id, "FINISHED")


def _sorted(params: Mapping[str, Any]) -> Sequence[tuple[str, Any]]:
    return sorted(params.items(), key=lambda item: str(item[0]))
