"""The distinct param, metric and tag keys of an experiment's runs, on every backend."""

from __future__ import annotations

import pytest

from runlab.entities import Metric, Param, RunTag
from runlab.errors import ExperimentNotFound
from runlab.store.base import ExperimentKeys, ExperimentKeysStore
from runlab.store.sql.tracking import SqlTrackingStore


def test_lists_each_kind_once_sorted_and_only_for_that_experiment(
    store: SqlTrackingStore,
) -> None:
    exp = store.create_experiment("keys")
    other = store.create_experiment("other")
    a = store.create_run(exp, "u", 1_000, [], "a").info.run_id
    b = store.create_run(exp, "u", 2_000, [], "b").info.run_id
    gone = store.create_run(exp, "u", 3_000, [], "gone").info.run_id
    elsewhere = store.create_run(other, "u", 1_000, [], "x").info.run_id
    store.log_batch(
        a, [Metric("loss", 1.0, 1, 0), Metric("acc", 0.5, 1, 0)], [Param("lr", "1")], []
    )
    store.log_batch(
        b,
        [Metric("loss", 0.5, 2, 1)],
        [Param("lr", "2"), Param("Batch", "8")],
        [RunTag("team", "x")],
    )
    store.log_batch(gone, [Metric("old", 1.0, 1, 0)], [], [])
    store.delete_run(gone)
    store.log_batch(elsewhere, [Metric("other", 1.0, 1, 0)], [Param("other", "1")], [])

    keys = store.experiment_keys(exp)

    assert keys.params == ["Batch", "lr"]
    # A deleted run's keys stay: the deleted view shows those runs too.
    assert keys.metrics == ["acc", "loss", "old"]
    # Run names are the mlflow.runName tag; every run here has one.
    assert "team" in keys.tags and "mlflow.runName" in keys.tags
    assert "other" not in keys.tags
    assert isinstance(store, ExperimentKeysStore)


def test_keys_differing_only_in_case_or_trailing_space_are_distinct(
    store: SqlTrackingStore,
) -> None:
    exp = store.create_experiment("spaces")
    first = store.create_run(exp, "u", 1_000, [], "r1").info.run_id
    second = store.create_run(exp, "u", 1_000, [], "r2").info.run_id
    # On separate runs: MySQL's PAD SPACE key would refuse "a" and "a " on one run.
    store.log_batch(first, [], [Param("a", "1"), Param("A", "2")], [])
    store.log_batch(second, [], [Param("a ", "3")], [])

    assert store.experiment_keys(exp).params == ["A", "a", "a "]


def test_empty_and_unknown_experiments_have_no_keys(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("empty")

    assert store.experiment_keys(exp) == ExperimentKeys(params=[], metrics=[], tags=[])
    assert store.experiment_keys("424242") == ExperimentKeys(params=[], metrics=[], tags=[])


def test_malformed_id_is_not_found(store: SqlTrackingStore) -> None:
    with pytest.raises(ExperimentNotFound):
        store.experiment_keys("1 OR 1=1")
