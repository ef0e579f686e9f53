"""Run counts and last activity per experiment, on every backend."""

from __future__ import annotations

import pytest

from runlab.errors import ExperimentNotFound
from runlab.store.base import ExperimentActivity, ExperimentActivityStore
from runlab.store.sql.tracking import SqlTrackingStore


def test_counts_active_runs_and_latest_start_or_end(store: SqlTrackingStore) -> None:
    busy = store.create_experiment("busy")
    idle = store.create_experiment("idle")
    first = store.create_run(busy, "u", 1_000, [], "a")
    store.create_run(busy, "u", 2_000, [], "b")
    store.update_run_info(first.info.run_id, run_status="FINISHED", end_time=5_000)
    gone = store.create_run(busy, "u", 9_000, [], "c")
    store.delete_run(gone.info.run_id)

    found = store.experiment_activity([busy, idle, "0"])

    assert found == {
        busy: ExperimentActivity(run_count=2, last_activity=5_000),
        idle: ExperimentActivity(run_count=0, last_activity=None),
        "0": ExperimentActivity(run_count=0, last_activity=None),
    }
    assert isinstance(store, ExperimentActivityStore)


def test_no_ids_and_unknown_ids(store: SqlTrackingStore) -> None:
    assert store.experiment_activity([]) == {}
    assert store.experiment_activity(["424242"]) == {
        "424242": ExperimentActivity(run_count=0, last_activity=None)
    }


def test_malformed_id_is_not_found(store: SqlTrackingStore) -> None:
    with pytest.raises(ExperimentNotFound):
        store.experiment_activity(["1 OR 1=1"])
