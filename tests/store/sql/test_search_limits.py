"""The largest filters the parser lets through compile and run on every backend.

The parser bounds a filter's comparisons and nesting (``MAX_COMPARISONS``, ``MAX_NESTING``) so that
the SQL it compiles to stays inside each database's own limits: SQLite's expression depth (1000)
and parser stack, PostgreSQL's stack depth, MariaDB's thread stack. A filter just over a bound is
a 400-style InvalidParameter, never a database error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runlab.entities import ViewType
from runlab.errors import InvalidParameter
from runlab.search.parser import MAX_COMPARISONS, MAX_NESTING
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore

#: One comparison per kind of SQL the run compiler emits (EXISTS on params/tags, latest_metrics,
#: columns of runs, dataset joins, IN lists); ``{i}`` makes each comparison distinct.
RUN_TERMS = [
    "params.p{i} = 'x'",
    "tags.t{i} LIKE 'x%'",
    "metrics.m{i} > 1",
    "attributes.run_name = 'x{i}'",
    "attributes.run_id IN ('a{i}', 'b{i}')",
    "datasets.name = 'd{i}'",
]


def largest_filters(term: str) -> Iterator[str]:
    """Filters at the bounds: most comparisons joined each way, and wrapped as deep as allowed."""
    many = [term.format(i=i) for i in range(MAX_COMPARISONS)]
    yield " AND ".join(many)
    yield " OR ".join(many)
    yield "NOT " * MAX_NESTING + term.format(i=0)
    yield "NOT " * (MAX_NESTING - 1) + "(" + " AND ".join(many) + ")"
    yield "(" * MAX_NESTING + " OR ".join(many) + ")" * MAX_NESTING
    half = MAX_NESTING // 2
    yield "NOT (" * half + " AND ".join(many) + ")" * half


def over_the_bound(term: str) -> str:
    return " AND ".join(term.format(i=i) for i in range(MAX_COMPARISONS + 1))


# One test per entity, looping over its terms: each test creates a database on every backend.


def test_largest_run_filters_run_on_every_backend(store: SqlTrackingStore) -> None:
    run = store.create_run("0", "u", 0, [], "r")
    for term in RUN_TERMS:
        for text in largest_filters(term):
            found = store.search_runs(["0"], text, ViewType.ALL, 10, None, None)
            assert all(r.info.run_id == run.info.run_id for r in found)
        with pytest.raises(InvalidParameter, match=f"more than {MAX_COMPARISONS} comparisons"):
            store.search_runs(["0"], over_the_bound(term), ViewType.ALL, 10, None, None)


def test_largest_experiment_and_logged_model_filters_run_on_every_backend(
    store: SqlTrackingStore,
) -> None:
    for term in ("name = 'x{i}'", "tags.t{i} = 'x'", "creation_time > {i}"):
        for text in largest_filters(term):
            store.search_experiments(filter_string=text)
        with pytest.raises(InvalidParameter, match="comparisons"):
            store.search_experiments(filter_string=over_the_bound(term))
    for term in ("metrics.m{i} > 1", "params.p{i} = 'x'", "name = 'x{i}'"):
        for text in largest_filters(term):
            store.search_logged_models(["0"], text)
        with pytest.raises(InvalidParameter, match="comparisons"):
            store.search_logged_models(["0"], over_the_bound(term))


REGISTRY_SEARCHES: list[tuple[str, str]] = [
    ("search_registered_models", "name = 'm{i}'"),
    ("search_registered_models", "tags.t{i} = 'x'"),
    ("search_model_versions", "tags.t{i} = 'x'"),
    ("search_model_versions", "version_number > {i}"),
    ("search_model_versions", "run_id IN ('r{i}')"),
]


def test_largest_registry_filters_run_on_every_backend(registry_store: SqlRegistryStore) -> None:
    registry_store.create_registered_model("m0")
    for method, term in REGISTRY_SEARCHES:
        search: Callable[..., Any] = getattr(registry_store, method)
        for text in largest_filters(term):
            search(filter_string=text)
        with pytest.raises(InvalidParameter, match="comparisons"):
            search(filter_string=over_the_bound(term))
