"""Experiments in the SQL store: lifecycle, names, tags, search, on all three backends."""

from __future__ import annotations

import pytest

from runlab.entities import LifecycleStage, RunTag, ViewType
from runlab.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
)
from runlab.store.sql.tracking import SqlTrackingStore


def test_default_experiment_exists(store: SqlTrackingStore) -> None:
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    assert default.artifact_location.endswith("/artifacts/0")
    with pytest.raises(InvalidParameter, match="Default"):
        store.delete_experiment("0")


def test_create_and_get(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("first", tags=[("team", "vision")])
    assert exp_id == "1"
    exp = store.get_experiment(exp_id)
    assert exp.name == "first"
    assert exp.tags == {"team": "vision"}
    assert exp.artifact_location.endswith("/artifacts/1")
    assert exp.creation_time is not None and exp.creation_time == exp.last_update_time
    assert store.get_experiment_by_name("first") == exp
    assert store.get_experiment_by_name("First") is None  # names are case-sensitive
    assert store.create_experiment("second", artifact_location="s3://bucket/x") == "2"
    assert store.get_experiment("2").artifact_location == "s3://bucket/x"


def test_missing_experiment(store: SqlTrackingStore) -> None:
    with pytest.raises(ExperimentNotFound):
        store.get_experiment("999")
    with pytest.raises(ExperimentNotFound):
        store.get_experiment("not-a-number")


@pytest.mark.parametrize("bad", ["", "   ", "x" * 501, 42, None])
def test_bad_names_write_nothing(store: SqlTrackingStore, bad: object) -> None:
    with pytest.raises(InvalidParameter):
        store.create_experiment(bad)  # type: ignore[arg-type]
    assert [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)] == ["0"]


def test_duplicate_name_even_when_deleted(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("dup")
    with pytest.raises(AlreadyExists):
        store.create_experiment("dup")
    store.delete_experiment(exp_id)
    with pytest.raises(AlreadyExists):
        store.create_experiment("dup")
    deleted = store.get_experiment_by_name("dup")
    assert deleted is not None and deleted.lifecycle_stage == LifecycleStage.DELETED


def test_delete_and_restore_cascade_to_runs(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("cascade")
    r1 = store.create_run(exp_id, "u", 1, [], "a").info.run_id
    r2 = store.create_run(exp_id, "u", 2, [], "b").info.run_id
    store.delete_run(r2)  # deleted on its own first
    store.delete_experiment(exp_id)
    assert store.get_run(r1).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidState):
        store.create_run(exp_id, "u", 3, [], "c")
    with pytest.raises(InvalidState):
        store.delete_experiment(exp_id)
    store.restore_experiment(exp_id)
    # Restoring brings back every run, including one deleted before the experiment was.
    assert {store.get_run(r).info.lifecycle_stage for r in (r1, r2)} == {LifecycleStage.ACTIVE}
    with pytest.raises(InvalidState):
        store.restore_experiment(exp_id)


def test_rename(store: SqlTrackingStore) -> None:
    a = store.create_experiment("a")
    store.create_experiment("b")
    store.rename_experiment(a, "c")
    assert store.get_experiment(a).name == "c"
    with pytest.raises(AlreadyExists):
        store.rename_experiment(a, "b")
    with pytest.raises(InvalidParameter):
        store.rename_experiment(a, "")
    store.delete_experiment(a)
    with pytest.raises(InvalidState):
        store.rename_experiment(a, "d")
    assert store.get_experiment(a).name == "c"


def test_experiment_tags(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("tagged")
    store.set_experiment_tag(exp_id, "k", "v1")
    store.set_experiment_tag(exp_id, "k", "v2")
    store.set_experiment_tag(exp_id, "note", "x" * 20000)
    assert store.get_experiment(exp_id).tags["k"] == "v2"
    with pytest.raises(InvalidParameter):
        store.set_experiment_tag(exp_id, "too-long", "x" * 20001)
    with pytest.raises(InvalidParameter):
        store.set_experiment_tag(exp_id, "../escape", "v")
    store.delete_experiment_tag(exp_id, "k")
    assert "k" not in store.get_experiment(exp_id).tags
    with pytest.raises(NotFound):
        store.delete_experiment_tag(exp_id, "k")
    assert "too-long" not in store.get_experiment(exp_id).tags


def test_search_experiments(store: SqlTrackingStore) -> None:
    ids = [store.create_experiment(f"exp-{i}", tags=[("parity", str(i % 2))]) for i in range(5)]
    store.delete_experiment(ids[0])
    active = store.search_experiments()
    assert {e.experiment_id for e in active} == {"0", *ids[1:]}
    deleted = store.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [ids[0]]
    odd = store.search_experiments(filter_string="tags.parity = '1'", order_by=["name ASC"])
    assert [e.name for e in odd] == ["exp-1", "exp-3"]
    liked = store.search_experiments(
        view_type=ViewType.ALL, filter_string="name LIKE 'exp-%'", order_by=["name DESC"]
    )
    assert [e.name for e in liked] == ["exp-4", "exp-3", "exp-2", "exp-1", "exp-0"]

    pages, token = [], None
    while True:
        page = store.search_experiments(
            view_type=ViewType.ALL, max_results=2, order_by=["name"], page_token=token
        )
        pages.append([e.name for e in page])
        token = page.token
        if token is None:
            break
    assert pages == [["Default", "exp-0"], ["exp-1", "exp-2"], ["exp-3", "exp-4"]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_string": "name = "},
        {"filter_string": "metrics.x > 1"},
        {"order_by": ["nonsense DESC"]},
        {"max_results": 0},
        {"max_results": 50001},
        {"page_token": "garbage!!"},
    ],
)
def test_search_experiments_bad_input(store: SqlTrackingStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidParameter):
        store.search_experiments(**kwargs)  # type: ignore[arg-type]


def test_run_tag_objects_accepted_as_experiment_tags(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("objs", tags=[RunTag("a", "1")])
    assert store.get_experiment(exp_id).tags == {"a": "1"}
