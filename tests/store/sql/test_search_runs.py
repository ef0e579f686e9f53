"""search_runs through the store: filters, order, view types and page tokens end to end."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from runlab.entities import Metric, Param, RunTag, ViewType
from runlab.errors import InvalidParameter
from runlab.store.sql import search_plan
from runlab.store.sql.tracking import SqlTrackingStore
from support.pg_trace import traced


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


def test_search_run_rows_are_the_search_runs_page(
    store: SqlTrackingStore, runs: tuple[str, list[str]]
) -> None:
    """The server's path (grouped rows) holds the same runs, in the same order and with the
    same page token, as search_runs."""
    exp_id, ids = runs
    token, seen = None, []
    for _ in range(2):  # four matches, two pages
        rows, rows_token = store.search_run_rows(
            [exp_id], "params.model = 'cnn' OR tags.split = 'b'", max_results=2, page_token=token
        )
        page = store.search_runs(
            [exp_id], "params.model = 'cnn' OR tags.split = 'b'", max_results=2, page_token=token
        )
        assert rows.runs() == list(page) and rows_token == page.token
        assert rows.run_ids == [r.info.run_id for r in page]
        seen += rows.run_ids
        token = page.token
    assert token is None and sorted(seen) == sorted(ids[i] for i in (1, 3, 4, 5))
    nothing, no_token = store.search_run_rows([])
    assert nothing.run_ids == [] and no_token is None


def test_a_postgresql_search_page_takes_five_round_trips(
    store: SqlTrackingStore, runs: tuple[str, list[str]]
) -> None:
    """BEGIN, the planner settings, the search, the page's loader (one pipeline), COMMIT:
    libpq's trace of the connection shows one ReadyForQuery per round trip (docs/server.md)."""
    if store._db.backend != "postgresql":
        pytest.skip("round trips to PostgreSQL")
    exp_id, ids = runs
    # The first search also checks the planner statistics (at most every 30 s per process), and
    # the second prepares the statements it runs again (one extra round trip, once).
    for _ in range(2):
        store.search_runs([exp_id], order_by=["metrics.acc"], max_results=2)
    with traced(store._db.engine) as trace:
        # The page fills from the runs that have an acc (one statement; see search_plan).
        page = store.search_runs([exp_id], order_by=["metrics.acc"], max_results=2)
    assert [r.info.run_id for r in page] == [ids[0], ids[1]]
    assert len(trace.connections) == 1
    assert trace.round_trips == 5


def test_postgresql_plans_every_search_for_its_own_values(
    store: SqlTrackingStore, runs: tuple[str, list[str]]
) -> None:
    """psycopg prepares a statement run five times; PostgreSQL may then switch it to a generic
    plan that ignores the filter's values (measured: 220 ms against 5 ms over 1,000 runs)."""
    if store._db.backend != "postgresql":
        pytest.skip("prepared statements and generic plans are PostgreSQL's")
    exp_id, ids = runs
    for _ in range(12):
        found = store.search_runs(
            [exp_id], "params.model = 'cnn' AND tags.split = 'a'", order_by=["metrics.acc DESC"]
        )
        assert [r.info.run_id for r in found] == [ids[1]]
    # The store's pool hands the same idle connection back, with its prepared statements.
    with store._db.read() as conn:
        plans = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%sort_0%%'"
        ).all()
        # The page's loader then goes back to PostgreSQL's own choice: its statements look up
        # an array of ids, the same plan serves every call, and planning each would cost more.
        loader_plans = conn.exec_driver_sql(
            "SELECT generic_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT params.run_id%%'"
        ).all()
    assert plans, "the search statement was not prepared: the check above proves nothing"
    assert all(generic == 0 for generic, _ in plans)
    assert max(custom for _, custom in plans) >= 6
    assert loader_plans and max(generic for (generic,) in loader_plans) > 0


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


# -- ordering by a metric: the index-ordered branch (runs with a value) then the rest ----------


@dataclass(frozen=True)
class _Row:
    run_id: str
    score: float | None  # latest metric value; None when missing or NaN
    group: str | None  # a param, for a second sort key
    team: str
    start_time: int
    other: int  # the value of a second metric, for filters


# Latest `score` per run: ties, NaN (also logged after a number), missing, and +-Inf.
_SCORES: list[float | str | None] = [
    0.5, 0.1, 0.5, "nan", None, 0.3, 0.1, math.inf, -math.inf, 0.5, "nan-after", None,
    0.3, 0.1, 0.5, 2.0, "nan", None, -1.0, 0.5, 0.1, 0.3, None, 0.5,
]  # fmt: skip


@pytest.fixture
def scored(store: SqlTrackingStore) -> tuple[str, list[_Row]]:
    """24 runs whose `score` and `group` tie often and are often missing."""
    exp_id = store.create_experiment("scored")
    rows = []
    for i, score in enumerate(_SCORES):
        # Start times tie in pairs, so run_id breaks those ties too.
        start = 5000 + i // 2
        run_id = store.create_run(exp_id, "u", start, [], f"s-{i}").info.run_id
        metrics = [Metric("other", float(i), 1, 0)]
        if score == "nan-after":
            metrics += [Metric("score", 0.7, 1, 0), Metric("score", math.nan, 2, 1)]
        elif score is not None:
            metrics.append(Metric("score", math.nan if score == "nan" else float(score), 1, 0))
        group = None if i % 5 == 4 else "bca"[i % 3]
        team = "vision" if i % 4 else "nlp"
        store.log_batch(
            run_id,
            metrics=metrics,
            params=[] if group is None else [Param("group", group)],
            tags=[RunTag("team", team)],
        )
        value = score if isinstance(score, float) and not math.isnan(score) else None
        rows.append(_Row(run_id, value, group, team, start, i))
    return exp_id, rows


def _expected(rows: list[_Row], order: list[tuple[str, bool]]) -> list[str]:
    """The order the store promises: each key with missing values last, then run_id."""
    ordered = sorted(rows, key=lambda r: r.run_id)
    for field, ascending in reversed(order):
        # Stable sorts from the last key to the first; reverse=True keeps ties in place.
        present = [r for r in ordered if getattr(r, field) is not None]
        missing = [r for r in ordered if getattr(r, field) is None]
        ordered = sorted(present, key=lambda r: getattr(r, field), reverse=not ascending)
        ordered += missing
    return [r.run_id for r in ordered]


def _all_pages(store: SqlTrackingStore, exp_id: str, page_size: int, **kwargs: object) -> list[str]:
    """Every page of a search, concatenated (at most 60 pages, so a broken token cannot loop)."""
    seen: list[str] = []
    token = None
    for _ in range(60):
        page = store.search_runs(
            [exp_id],
            max_results=page_size,
            page_token=token,
            **kwargs,  # type: ignore[arg-type]
        )
        seen.extend(r.info.run_id for r in page)
        token = page.token
        if token is None:
            return seen
    raise AssertionError(f"paging did not end; so far {seen}")


_ORDERS = {
    "score ASC": [("score", True)],
    "score DESC": [("score", False)],
    "score ASC, group ASC": [("score", True), ("group", True)],
    "score DESC, group DESC": [("score", False), ("group", False)],
    "score ASC, start_time DESC": [("score", True), ("start_time", False)],
}
_ORDER_BY = {
    "score": "metrics.score",
    "group": "params.`group`",
    "start_time": "attributes.start_time",
}


def _order_by(order: list[tuple[str, bool]]) -> list[str]:
    return [f"{_ORDER_BY[field]} {'ASC' if asc else 'DESC'}" for field, asc in order]


@pytest.mark.parametrize("name", list(_ORDERS))
def test_metric_order_pages_match_full_order(
    store: SqlTrackingStore, scored: tuple[str, list[_Row]], name: str
) -> None:
    exp_id, rows = scored
    order = _ORDERS[name]
    expected = _expected(rows, order)
    for page_size in (1, 4, 7, 100):
        found = _all_pages(store, exp_id, page_size, order_by=_order_by(order))
        assert found == expected, page_size


# Filters with what they keep. `!=` on a param needs the param, so runs without it drop out.
_FILTERS: dict[str, Callable[[_Row], bool]] = {
    "tags.team = 'vision' AND metrics.other >= 3 AND params.`group` != 'a'": (
        lambda r: r.team == "vision" and r.other >= 3 and r.group not in (None, "a")
    ),
    "metrics.score < 1 AND params.`group` = 'b'": (
        lambda r: r.score is not None and r.score < 1 and r.group == "b"
    ),
    "metrics.other < 20 OR tags.team = 'nlp'": lambda r: r.other < 20 or r.team == "nlp",
}


@pytest.mark.parametrize("name", ["score ASC", "score DESC, group DESC"])
@pytest.mark.parametrize("filter_string", list(_FILTERS))
def test_metric_order_with_filters(
    store: SqlTrackingStore, scored: tuple[str, list[_Row]], name: str, filter_string: str
) -> None:
    exp_id, rows = scored
    order = _ORDERS[name]
    expected = _expected([r for r in rows if _FILTERS[filter_string](r)], order)
    for page_size in (2, 3, 100):
        found = _all_pages(
            store, exp_id, page_size, filter_string=filter_string, order_by=_order_by(order)
        )
        assert found == expected, page_size


def test_default_order_pages_match_full_order(
    store: SqlTrackingStore, scored: tuple[str, list[_Row]]
) -> None:
    exp_id, rows = scored
    expected = _expected(rows, [("start_time", False)])
    for page_size in (1, 5, 100):
        assert _all_pages(store, exp_id, page_size) == expected


def test_offset_beyond_all_valued_runs_counts_them(
    store: SqlTrackingStore, scored: tuple[str, list[_Row]], monkeypatch: pytest.MonkeyPatch
) -> None:
    exp_id, rows = scored
    counted: list[object] = []
    original = search_plan.Split.ranked_count

    def spy(self: search_plan.Split) -> object:
        counted.append(self)
        return original(self)

    monkeypatch.setattr(search_plan.Split, "ranked_count", spy)
    order = [("score", False)]
    valued = sum(r.score is not None for r in rows)
    # Pages of 3 over 17 valued runs: the page at offset 18 starts past them all.
    assert valued == 17
    assert _all_pages(store, exp_id, 3, order_by=_order_by(order)) == _expected(rows, order)
    assert counted
