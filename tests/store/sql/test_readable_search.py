"""Searches kept to what a caller may read (``readable=``), on SQLite, PostgreSQL and MariaDB.

The restriction is part of the search's SELECT, so a page is full and the page token's offset
counts only rows the caller was shown: paging with a small ``max_results`` returns every
readable row exactly once and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from runlab.entities import PagedList, ViewType
from runlab.errors import InvalidParameter
from runlab.store.base import ReadableExperimentSearch, ReadableRegistrySearch, ReadableSet
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.registry_search import select_registered_model_names
from runlab.store.sql.search_compiler import select_experiment_ids
from runlab.store.sql.tracking import SqlTrackingStore

T = TypeVar("T")

#: Registered models, with neighbours that a case- or accent-blind comparison would confuse.
MODELS = ("clf", "CLF", "clé", "cle", "reg", "rank", "it's")


def _all_pages(search: Callable[[str | None], PagedList[T]]) -> tuple[list[T], list[int]]:
    """Every item of a paged search, and the size of each page."""
    items: list[T] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        page = search(token)
        items.extend(page)
        sizes.append(len(page))
        token = page.token
        if not token:
            return items, sizes


@pytest.fixture
def experiments(store: SqlTrackingStore) -> list[str]:
    """Seven experiments besides Default ("0"), created in order, each a little later."""
    ids = []
    for i in range(7):
        ids.append(store.create_experiment(f"e{i}"))
        time.sleep(0.002)
    return ids


def _experiment_ids(store: SqlTrackingStore, readable: ReadableSet | None, **kw: Any) -> list[str]:
    return [
        e.experiment_id for e in store.search_experiments(max_results=1000, readable=readable, **kw)
    ]


def test_sql_stores_declare_they_filter(
    store: SqlTrackingStore, registry_store: SqlRegistryStore
) -> None:
    assert isinstance(store, ReadableExperimentSearch) and store.filters_readable
    assert isinstance(registry_store, ReadableRegistrySearch) and registry_store.filters_readable


def test_experiments_only_granted(store: SqlTrackingStore, experiments: list[str]) -> None:
    granted = {experiments[1], experiments[4], experiments[6]}
    only = ReadableSet(by_default=False, granted=frozenset(granted))
    assert set(_experiment_ids(store, only)) == granted
    # The restriction is one more condition: filter and order still apply within it.
    assert _experiment_ids(store, only, filter_string="name != 'e4'", order_by=["name ASC"]) == [
        experiments[1],
        experiments[6],
    ]
    nothing = ReadableSet(by_default=False)
    assert _experiment_ids(store, nothing) == []
    page = store.search_experiments(max_results=1, readable=nothing)
    assert list(page) == [] and page.token is None


def test_experiments_all_but_refused(store: SqlTrackingStore, experiments: list[str]) -> None:
    refused = {"0", experiments[2], experiments[3]}
    but = ReadableSet(by_default=True, refused=frozenset(refused))
    assert set(_experiment_ids(store, but)) == set(experiments) - refused
    # No restriction, and a restriction that hides nothing, return everything.
    everything = {"0", *experiments}
    assert set(_experiment_ids(store, None)) == everything
    assert set(_experiment_ids(store, ReadableSet(by_default=True))) == everything


def test_experiment_keys_that_name_no_experiment_are_ignored(
    store: SqlTrackingStore, experiments: list[str]
) -> None:
    # Permissions are kept under the store's spelling; anything else names no experiment and
    # must neither match one nor break the statement.
    odd = frozenset({"x", "", "-1", "1e3", "99999999999999999999999", "\uff10", experiments[0]})
    assert _experiment_ids(store, ReadableSet(by_default=False, granted=odd)) == [experiments[0]]
    hidden = set(_experiment_ids(store, ReadableSet(by_default=True, refused=odd)))
    assert hidden == {"0", *experiments} - {experiments[0]}


def test_experiment_view_types_are_restricted_too(
    store: SqlTrackingStore, experiments: list[str]
) -> None:
    store.delete_experiment(experiments[1])
    store.delete_experiment(experiments[2])
    only = ReadableSet(by_default=False, granted=frozenset({experiments[1], experiments[3]}))
    assert _experiment_ids(store, only, view_type=ViewType.DELETED_ONLY) == [experiments[1]]
    assert _experiment_ids(store, only, view_type=ViewType.ACTIVE_ONLY) == [experiments[3]]
    assert set(_experiment_ids(store, only, view_type=ViewType.ALL)) == {
        experiments[1],
        experiments[3],
    }


@pytest.mark.parametrize("order_by", [None, ["name ASC"], ["name DESC"]])
def test_paging_experiments_returns_each_readable_one_once(
    store: SqlTrackingStore, experiments: list[str], order_by: list[str] | None
) -> None:
    for readable, expected in (
        (
            ReadableSet(by_default=False, granted=frozenset(experiments[::2])),
            set(experiments[::2]),
        ),
        (
            ReadableSet(by_default=True, refused=frozenset({"0", experiments[3]})),
            set(experiments) - {experiments[3]},
        ),
    ):
        items, sizes = _all_pages(
            lambda token, r=readable: store.search_experiments(
                max_results=2, order_by=order_by, page_token=token, readable=r
            )
        )
        ids = [e.experiment_id for e in items]
        assert len(ids) == len(set(ids)) and set(ids) == expected
        # Every page but the last is full: nothing was cut after the database paged.
        assert all(size == 2 for size in sizes[:-1]) and 1 <= sizes[-1] <= 2


def test_a_bad_filter_is_refused_with_a_restriction_too(store: SqlTrackingStore) -> None:
    with pytest.raises(InvalidParameter, match="filter"):
        store.search_experiments(filter_string="name ~ 'x'", readable=ReadableSet(by_default=False))


@pytest.fixture
def models(registry_store: SqlRegistryStore) -> SqlRegistryStore:
    """The models of ``MODELS``, each with two versions (the second of "rank" deleted)."""
    for name in MODELS:
        registry_store.create_registered_model(name)
        for i in (1, 2):
            registry_store.create_model_version(name, f"s3://bucket/models/{i}")
        time.sleep(0.002)
    registry_store.delete_model_version("rank", 2)
    return registry_store


def _names(reg: SqlRegistryStore, readable: ReadableSet | None, **kw: Any) -> list[str]:
    return [m.name for m in reg.search_registered_models(readable=readable, **kw)]


def _versions(
    reg: SqlRegistryStore, readable: ReadableSet | None, **kw: Any
) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in reg.search_model_versions(readable=readable, **kw)]


def test_registered_models_by_exact_name(models: SqlRegistryStore) -> None:
    only = ReadableSet(by_default=False, granted=frozenset({"clf", "clé", "it's", "gone"}))
    # "CLF" and "cle" are other models: the comparison is exact on every backend.
    assert sorted(_names(models, only)) == ["clf", "clé", "it's"]
    but = ReadableSet(by_default=True, refused=frozenset({"clf", "reg"}))
    assert sorted(_names(models, but)) == sorted(set(MODELS) - {"clf", "reg"})
    assert _names(models, ReadableSet(by_default=False)) == []
    assert sorted(_names(models, None)) == sorted(MODELS)
    assert sorted(_names(models, only, filter_string="name LIKE 'c%'")) == ["clf", "clé"]


def test_model_versions_follow_their_model(models: SqlRegistryStore) -> None:
    only = ReadableSet(by_default=False, granted=frozenset({"clf", "rank"}))
    assert _versions(models, only) == [("clf", 2), ("clf", 1), ("rank", 1)]
    but = ReadableSet(by_default=True, refused=frozenset({"CLF", "clé", "cle", "it's", "reg"}))
    assert _versions(models, but) == [("clf", 2), ("clf", 1), ("rank", 1)]
    assert _versions(models, ReadableSet(by_default=False)) == []
    # A filter naming a model the caller may not read finds nothing.
    assert _versions(models, only, filter_string="name = 'reg'") == []


def test_paging_models_and_versions_returns_each_readable_one_once(
    models: SqlRegistryStore,
) -> None:
    readable = ReadableSet(by_default=True, refused=frozenset({"CLF", "reg"}))
    expected = sorted(set(MODELS) - {"CLF", "reg"})
    items, sizes = _all_pages(
        lambda token: models.search_registered_models(
            max_results=2, page_token=token, readable=readable
        )
    )
    assert sorted(m.name for m in items) == expected and len(items) == len(expected)
    assert all(size == 2 for size in sizes[:-1])

    versions, sizes = _all_pages(
        lambda token: models.search_model_versions(
            max_results=2, page_token=token, readable=readable
        )
    )
    pairs = [(v.name, v.version) for v in versions]
    assert len(pairs) == len(set(pairs))
    assert {name for name, _ in pairs} == set(expected)
    assert len(pairs) == 2 * len(expected) - 1  # rank's second version is deleted
    assert all(size == 2 for size in sizes[:-1])


def test_ids_and_names_are_bound_parameters() -> None:
    """The restriction reaches the database as parameters, never as SQL text."""
    restricted = select_experiment_ids(
        None, ViewType.ALL, None, 10, 0, "sqlite", ReadableSet(False, frozenset({"41", "42"}))
    )
    names = select_registered_model_names(
        None, None, 10, 0, "sqlite", ReadableSet(True, refused=frozenset({"x' OR '1'='1"}))
    )
    for statement, literal in ((restricted, "42"), (names, "OR '1'")):
        compiled = statement.compile()
        assert literal not in str(compiled)
        assert "POSTCOMPILE" in str(compiled)  # SQLAlchemy's expanding (bound) IN list
