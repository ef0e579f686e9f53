"""Experiment ids past 64 bits name no experiment on any backend (not an overflow error)."""

from __future__ import annotations

import pytest

from runlab.errors import ExperimentNotFound
from runlab.store.sql.tracking import SqlTrackingStore


@pytest.mark.parametrize("experiment_id", [str(2**63), str(2**64), "9" * 40])
def test_ids_past_64_bits_are_not_found(store: SqlTrackingStore, experiment_id: str) -> None:
    calls = [
        lambda: store.get_experiment(experiment_id),
        lambda: store.delete_experiment(experiment_id),
        lambda: store.restore_experiment(experiment_id),
        lambda: store.rename_experiment(experiment_id, "renamed"),
        lambda: store.set_experiment_tag(experiment_id, "k", "v"),
        lambda: store.delete_experiment_tag(experiment_id, "k"),
        lambda: store.create_run(experiment_id, "u", 0, [], "r"),
    ]
    for call in calls:
        with pytest.raises(
            ExperimentNotFound, match=f"^No Experiment with id={experiment_id} exists$"
        ):
            call()
    # The largest 64-bit id is a valid id that merely does not exist.
    with pytest.raises(ExperimentNotFound):
        store.get_experiment(str(2**63 - 1))
    assert [e.experiment_id for e in store.search_experiments()] == ["0"]
