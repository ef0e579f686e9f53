"""Autologging's cost on a scikit-learn fit: the issue's RandomForestClassifier workload.

One process per tool. The same data (``make_classification``, ``rows`` x 10, fixed seed) and the
same estimator, ``RandomForestClassifier(n_estimators=100)``, fitted ``repeats`` times bare
(autologging disabled) and ``repeats`` times under ``autolog()``, alternating. For each
autologged fit three times are kept: until ``fit()`` returns (what the user waits for), until
everything is recorded (runlab: ``flush()``, which waits for the background work and the end of
the run; MLflow logs synchronously inside ``fit()``, and ``flush_async_logging()`` returns at
once), and whether the run then holds the metrics, plots and model.
"""

from __future__ import annotations

import time
from typing import Any

from workloads.common import median, sqlite_uri

EXPECTED_METRICS = ("training_accuracy_score", "training_f1_score", "training_score")


def _flush(mlflow: Any) -> None:
    flush = getattr(mlflow, "flush", None) or getattr(mlflow, "flush_async_logging", None)
    if flush is not None:
        flush()


def _recorded(api: Any, uri: str) -> dict[str, Any]:
    """What the last autologged run holds, read back through the tool's client."""
    mlflow = api.mlflow
    run = mlflow.last_active_run()
    client = api.client(uri)
    artifacts = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    return {
        "status": run.info.status,
        "metrics": sorted(run.data.metrics),
        "params": len(run.data.params),
        "artifacts": artifacts,
        "has_expected_metrics": all(k in run.data.metrics for k in EXPECTED_METRICS),
    }


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    mlflow = api.mlflow
    uri = sqlite_uri(params["workdir"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-autolog-sklearn")
    X, y = make_classification(n_samples=params["rows"], n_features=10, random_state=0)
    # Warm-up: the first fit pays for imports either way; it is not what is compared.
    RandomForestClassifier(n_estimators=5, random_state=0).fit(X[:200], y[:200])
    bare_s: list[float] = []
    fit_s: list[float] = []
    recorded_s: list[float] = []
    first: dict[str, float] = {}
    for repeat in range(params["repeats"]):
        mlflow.autolog(disable=True)
        t0 = time.perf_counter()
        RandomForestClassifier(n_estimators=100, random_state=repeat).fit(X, y)
        bare_s.append(time.perf_counter() - t0)
        mlflow.autolog()
        t0 = time.perf_counter()
        RandomForestClassifier(n_estimators=100, random_state=repeat).fit(X, y)
        t1 = time.perf_counter()
        _flush(mlflow)
        t2 = time.perf_counter()
        fit_s.append(t1 - t0)
        recorded_s.append(t2 - t0)
        if repeat == 0:
            first = {"fit_s": t1 - t0, "recorded_s": t2 - t0}
    recorded = _recorded(api, uri)
    mlflow.autolog(disable=True)
    bare = median(bare_s)
    return {
        "rows": params["rows"],
        "repeats": params["repeats"],
        "bare_s": bare,
        "fit_s": median(fit_s),
        "recorded_s": median(recorded_s),
        "fit_ratio": median(fit_s) / bare,
        "recorded_ratio": median(recorded_s) / bare,
        "first": first,
        "recorded": recorded,
    }
