"""search_runs through the store: filters, order, view types and page tokens end to end."""

from __future__ import annotations

import math

import pytest

from runlab.entities import Metric, Param, RunTag, ViewType
from runlab.errors import InvalidParameter
from runlab.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def runs(store: SqlTrackingStore) -> tuple[str, list[str]]:
    exp_id = store.create_experiment("search")
    ids = []
    for i in range(6):
        run_id = store.create_run(exp_id, "u", 1000 + i, [], f"run-{i}").info.run_id
        metrics = [Metric("acc", math.nan if i == 5 else i / 10, 1, 0)]
        if i == 4:
            metrics = []  # no acc at all
        store.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("model", "cnn" if i % 2 else "MLP")],
            tags=[RunTag("split", "a" if i < 3 else "b")],
        )
        ids.append(run_id)
    return exp_id, ids


def test_filter_and_order(store: SqlTrackingStore, runs: tuple[str, list[str]]) -> None:
    exp_id, ids = runs
    found = store.search_runs(
        [exp_id],
        "metrics.acc >= 0.1 AND params.model = 'cnn' AND tags.split = 'a'",
        order_by=["metrics.acc DESC"],
    )
    assert [r.info.run_id for r in found] == [ids[1]]
    either = store.search_runs(
        [exp_id], "params.model = 'MLP' OR tags.split = 'b'", order_by=["attributes.start_time"]
    )
    assert [r.info.run_id for r in either] == [ids[0], ids[2], ids[3], ids[4], ids[5]]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_missing_and_nan_sort_last(
    store: SqlTrackingStore, runs: tuple[str, list[str]], direction: str
) -> None:
    exp_id, ids = runs
    ordered = [
        r.info.run_id for r in store.search_runs([exp_id], order_by=[f"metrics.acc {direction}"])
    ]
    real = ids[:4] if direction == "ASC" else ids[:4][::-1]
    assert ordered[:4] == real
    assert set(ordered[4:]) == {ids[4], ids[5]}


def test_default_order_is_newest_first(
    store: SqlTrackingStore, runs: tuple[str, list[str]]
) -> None:
    exp_id, ids = runs
    assert [r.info.run_id for r in store.search_runs([exp_id])] == ids[::-1]


def test_paging_is_complete_and_stable(
    store: SqlTrackingStore, runs: tuple[str, list[str]]
) -> None:
    exp_id, ids = runs
    seen, token = [], None
    while True:
        page = store.search_runs(
            [exp_id], max_results=4, order_by=["params.model"], page_token=token
        )
        seen.extend(r.info.run_id for r in page)
        token = page.token
        if token is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    first = store.search_runs([exp_id], max_results=4, order_by=["params.model"])
    with pytest.raises(InvalidParameter, match="page_token"):
        store.search_runs([exp_id], max_results=4, order_by=["tags.split"], page_token=first.token)


def test_view_types(store: SqlTrackingStore, runs: tuple[str, list[str]]) -> None:
    exp_id, ids = runs
    store.delete_run(ids[0])
    active = {r.info.run_id for r in store.search_runs([exp_id])}
    deleted = {
        r.info.run_id for r in store.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    }
    every = {r.info.run_id for r in store.search_runs([exp_id], run_view_type=ViewType.ALL)}
    assert deleted == {ids[0]} and active == set(ids[1:]) and every == set(ids)


def test_empty_experiment_list(store: SqlTrackingStore) -> None:
    assert store.search_runs([]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": "metrics.acc >> 1"}, "position"),
        ({"filter_string": "params.model = cnn"}, "cnn"),
        ({"order_by": ["metrics.acc SIDEWAYS"]}, "SIDEWAYS"),
        ({"max_results": 50001}, "50000"),
        ({"experiment_ids": ["abc"]}, "abc"),
    ],
)
def test_bad_search_input(
    store: SqlTrackingStore, runs: tuple[str, list[str]], kwargs: dict, message: str
) -> None:
    exp_id, _ = runs
    args = {"experiment_ids": [exp_id], **kwargs}
    with pytest.raises(InvalidParameter, match=message):
        store.search_runs(**args)
