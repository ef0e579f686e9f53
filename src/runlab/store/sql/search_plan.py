"""Read a page of a runs search with as little sorting as the order allows.

The general plan (:func:`~runlab.store.sql.search_compiler.select_run_page`) puts a portable
NULLS LAST key, ``CASE WHEN value IS NULL``, in front of the ORDER BY. No index yields that
order, so the database finds and sorts every matching run before it can return the first page.

When the first sort key can be read from an index in order, the same order is the concatenation
of two branches:

* A ("ranked"), the runs that have a value for the first key, ordered by it, then the remaining
  keys, then ``run_id``. Its statement is written so that the database walks the index in order
  and stops after a page of matches.
* B ("unranked"), the runs without a value (for a metric also those whose latest value is NaN,
  stored as NULL), ordered by the remaining keys, then ``run_id``. It is read only when A does
  not fill the page.

A page is ``(A ++ B)[offset:offset + limit]``, exactly the rows of the general plan. Keys that
split this way: a metric (index ``latest_metrics (key, value)``), and ``start_time`` when the
search covers one experiment and one lifecycle stage (index ``runs (experiment_id,
lifecycle_stage, start_time)``). Every other order runs the general plan.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import replacement_traverse

from runlab.search import KeyType
from runlab.store.sql.schema import latest_metrics, runs
from runlab.store.sql.search_compiler import (
    RunQuery,
    _check_paging,
    run_query,
    run_sort_keys,
    select_run_page,
    sort_alias,
)

__all__ = ["PreparedSearch", "PreparedSearches", "RunSearchPlan", "Split", "WalkDecisions"]

# SQLite keeps no planner statistics here, so it walks a metric's index even when the searched
# runs own a small share of its rows, and then reads other experiments' rows for nothing. The
# walk is used only while the metric has at most this many rows per run in scope.
_SQLITE_MAX_KEY_ROWS_PER_RUN = 4

_ONE_SQL: ColumnElement[int] = sa.literal_column("1")


@dataclass(frozen=True)
class Split:
    """The statements of the two branches for one query."""

    query: RunQuery
    #: What branch A reads: the first key's table, and ``runs`` unless ``ranked_where`` tests it.
    ranked_source: sa.FromClause
    #: Branch A's conditions: the first key has a value, and the query's own conditions.
    ranked_where: tuple[ColumnElement[bool], ...]
    #: The first sort key's column in ranked_source.
    value: Any
    #: run_id as the index read by A holds it, so the tie-breaker too comes from the index.
    run_id: Any
    #: Branch B's extra condition: the first key has no value.
    lacks_value: ColumnElement[bool]

    def ranked(self, limit: int, offset: int) -> sa.Select[Any]:
        """Branch A: runs with a value, by the value, then the other keys, then run_id."""
        source, other_keys = run_sort_keys(self.query, self.ranked_source, 1, self.run_id)
        ascending = self.query.order[0].ascending
        return (
            sa.select(self.run_id)
            .select_from(source)
            .where(*self.ranked_where)
            .order_by(
                self.value.asc() if ascending else self.value.desc(),
                *other_keys,
                self.run_id.asc(),
            )
            .limit(limit)
            .offset(offset)
        )

    def ranked_count(self) -> sa.Select[Any]:
        """How many runs branch A holds in all."""
        return sa.select(sa.func.count()).select_from(self.ranked_source).where(*self.ranked_where)

    def unranked(self, limit: int, offset: int) -> sa.Select[Any]:
        """Branch B: runs without a value, by the other keys, then run_id."""
        source, other_keys = run_sort_keys(self.query, runs, first=1)
        return (
            sa.select(runs.c.run_id)
            .select_from(source)
            .where(*self.query.conditions, self.lacks_value)
            .order_by(*other_keys, runs.c.run_id.asc())
            .limit(limit)
            .offset(offset)
        )


def _metric_has_value(query: RunQuery, table: Any) -> list[ColumnElement[bool]]:
    # The first sort key's row with a number in it; at most one per run (primary key).
    key = query.dialect.str_equal(table.c.key, query.order[0].key.name)
    return [key, table.c.value.is_not(None)]


def _owned_by(condition: ColumnElement[bool] | None, run_id: Any) -> tuple[Any, ...]:
    """``condition`` with ``runs.run_id`` replaced by ``run_id`` (an equal column)."""
    if condition is None:
        return ()

    def replace(element: Any, **_: Any) -> Any:
        return run_id if element is runs.c.run_id else None

    return (replacement_traverse(condition, {}, replace),)


def _metric_split(query: RunQuery) -> Split | None:
    sort_0 = sort_alias(latest_metrics, 0)
    has_value = _metric_has_value(query, sort_0)
    valued = (
        sa.select(_ONE_SQL)
        .select_from(latest_metrics)
        .where(latest_metrics.c.run_id == runs.c.run_id, *_metric_has_value(query, latest_metrics))
        .exists()
    )
    if not query.dialect.is_mysql:
        # latest_metrics in front: its (key, value) index then gives the order directly, and
        # PostgreSQL and SQLite walk it when the filter lets a page fill early. The filter's
        # subqueries name the run by sort_0.run_id (the same id, by the join): the database
        # can then test them on each index entry before it looks the run up, which for a
        # metric+param+tag filter cut SQLite's statement by 30%.
        return Split(
            query,
            ranked_source=sort_0.join(runs, runs.c.run_id == sort_0.c.run_id),
            ranked_where=(*has_value, *query.scope, *_owned_by(query.filter, sort_0.c.run_id)),
            value=sort_0.c.value,
            run_id=sort_0.c.run_id,
            lacks_value=sa.not_(valued),
        )
    # MySQL/MariaDB fix the join order before they look for an index that gives the ORDER BY,
    # and put runs first when it is joined. With runs in an EXISTS, latest_metrics is the only
    # table to walk (MariaDB still starts from runs when the scope is small). Later sort keys
    # read from runs (attributes) would need it joined, so those orders take the general plan.
    if any(item.key.type is KeyType.ATTRIBUTE for item in query.order[1:]):
        return None
    in_scope = (
        sa.select(_ONE_SQL)
        .select_from(runs)
        .where(runs.c.run_id == sort_0.c.run_id, *query.conditions)
        .exists()
    )
    return Split(
        query,
        ranked_source=sort_0,
        ranked_where=(*has_value, in_scope),
        value=sort_0.c.value,
        run_id=sort_0.c.run_id,
        lacks_value=sa.not_(valued),
    )


def _start_time_split(query: RunQuery) -> Split:
    start = runs.c.start_time
    return Split(
        query,
        ranked_source=runs,
        ranked_where=(start.is_not(None), *query.conditions),
        value=start,
        run_id=runs.c.run_id,
        lacks_value=start.is_(None),
    )


def _metric_walk_pays_off(conn: Connection, query: RunQuery) -> bool:
    """Whether the first key's metric has few rows besides the searched runs' (for SQLite).

    Both counts read only index entries, and the second stops at the threshold, so this costs
    at most a few scans of the runs in scope, a small part of what the general plan costs.
    """
    in_scope = conn.execute(
        sa.select(sa.func.count()).select_from(runs).where(*query.scope)
    ).scalar_one()
    if in_scope == 0:
        return False
    ceiling = in_scope * _SQLITE_MAX_KEY_ROWS_PER_RUN
    rows = (
        sa.select(_ONE_SQL)
        .select_from(latest_metrics)
        .where(*_metric_has_value(query, latest_metrics))
        .limit(ceiling + 1)
        .subquery()
    )
    return bool(conn.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one() <= ceiling)


class WalkDecisions:
    """Recent answers of :func:`_metric_walk_pays_off`, per search scope and metric.

    The answer depends on how a metric's rows spread over experiments, which changes slowly,
    while working it out costs two counting queries, a tenth of a typical search. Each answer
    is reused for ``ttl_s`` seconds; a stale one only picks the slower of two correct plans.
    """

    def __init__(self, ttl_s: float = 10.0, size: int = 1024) -> None:
        self._ttl_s = ttl_s
        self._size = size
        self._answers: dict[tuple[Any, ...], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bool | None:
        found = self._answers.get(key)
        if found is None or time.monotonic() - found[0] > self._ttl_s:
            return None
        return found[1]

    def put(self, key: tuple[Any, ...], pays_off: bool) -> None:
        with self._lock:
            if len(self._answers) >= self._size:
                self._answers.clear()  # rare; simpler than LRU bookkeeping on every search
            self._answers[key] = (time.monotonic(), pays_off)


@dataclass
class PreparedSearch:
    """A parsed runs search and the statements built for it, kept for the next call.

    SQLAlchemy statements are immutable once built, so one prepared search serves any number
    of threads; ``statements`` only ever gains entries.
    """

    query: RunQuery
    split: Split | None
    #: Statements by (branch, limit, offset): a page asked again (a refresh) is not rebuilt.
    statements: dict[tuple[str, int, int], sa.Select[Any]] = field(default_factory=dict)

    #: Pages of one search whose statements are kept (paging through a search adds one each).
    MAX_STATEMENTS = 16

    def statement(
        self, branch: str, limit: int, offset: int, build: Callable[[], sa.Select[Any]]
    ) -> sa.Select[Any]:
        key = (branch, limit, offset)
        found = self.statements.get(key)
        if found is None:
            found = build()
            if len(self.statements) < self.MAX_STATEMENTS:
                self.statements[key] = found
        return found


class PreparedSearches:
    """Recently run searches, parsed and compiled to statements, by their exact arguments.

    Parsing the filter and building the statements cost about a millisecond, as much as
    running them on a small experiment; a client paging through a search, or a page refreshed,
    asks the same search again. Least recently used searches are dropped past ``size``.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._searches: OrderedDict[tuple[Any, ...], PreparedSearch] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        experiment_ids: Sequence[int],
        filter_string: str | None,
        view_type: int,
        order_by: Sequence[str] | None,
        dialect_name: str,
    ) -> PreparedSearch:
        """The prepared search for these arguments (InvalidParameter for a bad filter/order)."""
        key = (dialect_name, tuple(experiment_ids), filter_string, view_type, tuple(order_by or ()))
        with self._lock:
            found = self._searches.get(key)
            if found is not None:
                self._searches.move_to_end(key)
                return found
        # Parsed outside the lock: a bad filter raises here and is never kept.
        query = run_query(experiment_ids, filter_string, view_type, order_by, dialect_name)
        prepared = PreparedSearch(query, RunSearchPlan(query, 0, 0).split())
        with self._lock:
            self._searches[key] = prepared
            while len(self._searches) > self._size:
                self._searches.popitem(last=False)
        return prepared


@dataclass(frozen=True)
class RunSearchPlan:
    """How to read one page of a parsed runs search; :meth:`run_ids` reads it.

    Raises InvalidParameter for a negative limit or offset.
    """

    query: RunQuery
    limit: int
    offset: int
    #: Where to keep the SQLite walk decisions between searches (none: decide every time).
    walk_decisions: WalkDecisions | None = None
    #: The query's statements built by an earlier call, reused (none: built for this call).
    prepared: PreparedSearch | None = None

    def __post_init__(self) -> None:
        _check_paging(self.limit, self.offset)

    def split(self) -> Split | None:
        """The two branches, when the first sort key allows them (see the module docstring)."""
        if self.prepared is not None:
            return self.prepared.split
        first = self.query.order[0].key
        if first.type is KeyType.METRIC:
            return _metric_split(self.query)
        if first.type is KeyType.ATTRIBUTE and first.name == "start_time":
            # Over several experiments or stages the index holds one start_time sequence for
            # each, and reading them in order would need a merge these databases do not do.
            return _start_time_split(self.query) if self.query.single_scope else None
        return None

    def general(self) -> sa.Select[Any]:
        """The one statement that sorts every matching run."""
        return select_run_page(self.query, self.limit, self.offset)

    def run_ids(self, conn: Connection) -> list[str]:
        """The page's run ids, in order."""
        split = self.split()
        if split is None or (
            self.query.dialect.is_sqlite
            and self.query.order[0].key.type is KeyType.METRIC
            and not self._walk_pays_off(conn)
        ):
            general = self._statement("general", self.limit, self.offset, self.general)
            return list(conn.execute(general).scalars().all())
        return self.split_run_ids(conn, split)

    def _statement(
        self, branch: str, limit: int, offset: int, build: Callable[[], sa.Select[Any]]
    ) -> sa.Select[Any]:
        if self.prepared is None:
            return build()
        return self.prepared.statement(branch, limit, offset, build)

    def _walk_pays_off(self, conn: Connection) -> bool:
        if self.walk_decisions is None:
            return _metric_walk_pays_off(conn, self.query)
        key = (self.query.scope_key, self.query.order[0].key.name)
        pays_off = self.walk_decisions.get(key)
        if pays_off is None:
            pays_off = _metric_walk_pays_off(conn, self.query)
            self.walk_decisions.put(key, pays_off)
        return pays_off

    def split_run_ids(self, conn: Connection, split: Split) -> list[str]:
        """The page read through the two branches of ``split`` (``(A ++ B)[offset:][:limit]``)."""
        limit, offset = self.limit, self.offset
        ranked = self._statement("ranked", limit, offset, lambda: split.ranked(limit, offset))
        page = list(conn.execute(ranked).scalars().all())
        if len(page) == limit:
            return page
        # A ended before this page's end; B continues right after A's last row.
        if page or offset == 0:
            ranked_total = offset + len(page)
        else:
            ranked_total = conn.execute(split.ranked_count()).scalar_one()
        rest = conn.execute(split.unranked(limit - len(page), max(0, offset - ranked_total)))
        return page + list(rest.scalars().all())
