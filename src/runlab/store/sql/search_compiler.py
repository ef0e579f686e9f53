"""Compile search filters and order_by items into one SQLAlchemy Core SELECT.

Everything a user typed reaches the database as a bound parameter: keys, values and LIKE patterns
alike. Nothing is evaluated in Python over all runs.

Semantics kept identical on SQLite, PostgreSQL and MySQL/MariaDB:

* ``=`` / ``!=`` and ``LIKE`` are case-sensitive and exact; ``ILIKE`` is case-insensitive.
  MySQL/MariaDB text columns use an exact NO PAD binary collation (see ``schema.py``), so
  ``'a'`` and ``'a '`` differ there as everywhere else. SQLite's LIKE ignores ASCII case, so a LIKE there is
  translated into the equivalent GLOB. LIKE patterns use ``%``, ``_`` and ``\\`` as the escape
  character on every backend.
* A param/tag ``!=`` means the key exists with another value; ``IS NULL`` means the key is absent.
* A metric compares the latest value; a NaN latest value (stored as NULL) matches only ``!=``.
* Comparisons are two-valued: a NULL attribute makes a comparison false, so ``NOT`` of it is true.
* Missing and NaN sort values go last in both directions, via a leading ``CASE WHEN x IS NULL``
  key (portable NULLS LAST); strings sort by code point (``COLLATE "C"`` on PostgreSQL, the
  columns' binary collation on MySQL, SQLite's default BINARY collation); ``run_id`` / ``experiment_id`` is always the final tie-breaker so offset
  paging is stable. ``search_plan`` reads the same runs order without the CASE key where an
  index can give it.
"""

from __future__ import annotations

import functools
import operator
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import NamedFromClause

from runlab.entities import ViewType
from runlab.errors import InvalidParameter
from runlab.search import (
    And,
    Comparison,
    Expr,
    Key,
    KeyType,
    Not,
    Or,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from runlab.store.base import ReadableSet
from runlab.store.sql.readable_filter import experiment_ids_condition
from runlab.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    params,
    runs,
    tags,
)

__all__ = [
    "DATASET_CONTEXT_TAG",
    "RunQuery",
    "run_query",
    "run_sort_keys",
    "select_experiment_ids",
    "select_run_ids",
    "select_run_page",
]

# The input tag that holds a dataset input's context ("training", "eval", ...).
DATASET_CONTEXT_TAG = "mlflow.data.context"

_DBL_MAX = sys.float_info.max
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LIKE_ESCAPE = "\\"
# Constants written into the SQL text (not user data), so the statement stays readable.
_ONE_SQL: ColumnElement[int] = sa.literal_column("1")
_ZERO_SQL: ColumnElement[int] = sa.literal_column("0")

_NUMERIC_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_RUN_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.run_id,
    "run_name": runs.c.name,
    "user_id": runs.c.user_id,
    "status": runs.c.status,
    "artifact_uri": runs.c.artifact_uri,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}

_EXPERIMENT_ATTRIBUTE_COLUMNS = {
    "name": experiments.c.name,
    "experiment_id": experiments.c.experiment_id,
    "creation_time": experiments.c.creation_time,
    "last_update_time": experiments.c.last_update_time,
}

_START_TIME_KEY = Key(KeyType.ATTRIBUTE, "start_time")
_CREATION_TIME_KEY = Key(KeyType.ATTRIBUTE, "creation_time")


# -- LIKE patterns ---------------------------------------------------------------------------------

_ANY, _ONE = object(), object()


def _like_parts(pattern: str) -> list[object]:
    """Split a LIKE pattern into wildcards (_ANY, _ONE) and literal characters.

    A backslash makes the next character literal; a trailing lone backslash is itself literal
    (PostgreSQL would reject it, the other backends differ, so it is normalised here).
    """
    parts: list[object] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == _LIKE_ESCAPE and i + 1 < len(pattern):
            parts.append(pattern[i + 1])
            i += 2
            continue
        parts.append(_ANY if ch == "%" else _ONE if ch == "_" else ch)
        i += 1
    return parts


def _to_like(parts: list[object]) -> str:
    out = []
    for part in parts:
        if part is _ANY:
            out.append("%")
        elif part is _ONE:
            out.append("_")
        else:
            assert isinstance(part, str)
            out.append(_LIKE_ESCAPE + part if part in "%_\\" else part)
    return "".join(out)


def _to_glob(parts: list[object]) -> str:
    out = []
    for part in parts:
        if part is _ANY:
            out.append("*")
        elif part is _ONE:
            out.append("?")
        else:
            assert isinstance(part, str)
            # GLOB has no escape character; a one-character class matches the character itself.
            out.append(f"[{part}]" if part in "*?[" else part)
    return "".join(out)


# -- predicates ------------------------------------------------------------------------------------


class _Dialect:
    """The few places where backends differ."""

    def __init__(self, name: str) -> None:
        self.name = name.lower()
        self.is_mysql = self.name in ("mysql", "mariadb")
        self.is_sqlite = self.name == "sqlite"
        self.is_postgresql = self.name in ("postgresql", "postgres")

    def str_equal(self, column: Any, value: str) -> ColumnElement[bool]:
        """Exact, case-sensitive string equality (every backend's text columns compare exactly)."""
        return column == value

    def str_in(self, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
        """``column IN values`` with exact string equality on every backend."""
        return column.in_(values)

    def string(self, column: Any, op: str, value: str) -> ColumnElement[bool]:
        """``column op value`` for = != LIKE ILIKE."""
        if op == "=":
            return self.str_equal(column, value)
        if op == "!=":
            return sa.not_(self.str_equal(column, value))
        parts = _like_parts(value)
        if op == "LIKE":
            if self.is_sqlite:
                # SQLite's LIKE ignores ASCII case; GLOB is the case-sensitive matcher.
                return column.op("GLOB", is_comparison=True)(_to_glob(parts))
            return column.like(_to_like(parts), escape=_LIKE_ESCAPE)
        if op == "ILIKE":
            # PostgreSQL: native ILIKE. Others: lower() on both sides (MySQL's binary collation
            # would otherwise keep LIKE case-sensitive).
            return column.ilike(_to_like(parts), escape=_LIKE_ESCAPE)
        raise AssertionError(f"unexpected string operator {op}")

    def sort_key(self, column: Any, is_string: bool) -> Any:
        """The column as an ORDER BY key: strings in code-point order on every backend."""
        if is_string and self.is_postgresql:
            return column.collate("C")
        return column


def _number(value: object) -> int | float:
    """A filter number as a bindable value.

    Out-of-range values are clamped: ±Inf is stored as ±DBL_MAX, MySQL rejects infinite
    parameters, and SQLite cannot bind integers beyond 64 bits.
    """
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    return max(-_DBL_MAX, min(_DBL_MAX, value))


def _numeric(column: Any, op: str, value: object) -> ColumnElement[bool]:
    return _NUMERIC_OPS[op](column, _number(value))


def _definite(column: Any, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """Make a comparison on a nullable column false (not unknown) for NULL, so NOT inverts it."""
    if getattr(column, "nullable", False):
        return sa.and_(column.is_not(None), predicate)
    return predicate


def _as_int64(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?\d{1,19}", text.strip()):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


# -- filters ---------------------------------------------------------------------------------------


class _FilterCompiler:
    """Turns an Expr into a WHERE clause; subclasses handle the entity's comparisons."""

    def __init__(self, dialect: _Dialect) -> None:
        self.dialect = dialect

    def compile(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, Comparison):
            return self.comparison(expr)
        if isinstance(expr, And):
            return self.conjunction(expr.items)
        if isinstance(expr, Or):
            return sa.or_(*(self.compile(item) for item in expr.items))
        if isinstance(expr, Not):
            return sa.not_(self.compile(expr.item))
        raise AssertionError(f"unexpected node {expr!r}")

    def conjunction(self, items: Sequence[Expr]) -> ColumnElement[bool]:
        return sa.and_(*(self.compile(item) for item in items))

    def comparison(self, comparison: Comparison) -> ColumnElement[bool]:
        raise NotImplementedError

    def column_comparison(self, column: Any, op: str, value: object) -> ColumnElement[bool]:
        """``column op value`` for IN / NOT IN (exact strings), string and numeric operators;
        false, not unknown, where a nullable column is NULL."""
        if op in ("IN", "NOT IN"):
            assert isinstance(value, tuple)
            match = self.dialect.str_in(column, value)
            return _definite(column, match if op == "IN" else sa.not_(match))
        if isinstance(value, str):
            return _definite(column, self.dialect.string(column, op, value))
        return _definite(column, _numeric(column, op, value))

    def key_value_exists(
        self, table: sa.Table, owner: Any, owner_column: Any, comparison: Comparison
    ) -> ColumnElement[bool]:
        """A param/tag-style comparison over a (owner, key, value) table."""
        key_match = [
            owner_column == owner,
            self.dialect.str_equal(table.c.key, comparison.key.name),
        ]
        if comparison.op in ("IS NULL", "IS NOT NULL"):
            found = sa.select(_ONE_SQL).where(*key_match).exists()
            return sa.not_(found) if comparison.op == "IS NULL" else found
        assert isinstance(comparison.value, str)
        value_match = self.dialect.string(table.c.value, comparison.op, comparison.value)
        return sa.select(_ONE_SQL).where(*key_match, value_match).exists()


class _RunFilterCompiler(_FilterCompiler):
    def conjunction(self, items: Sequence[Expr]) -> ColumnElement[bool]:
        # All dataset clauses of one AND-group must hold for the same dataset input.
        dataset_items = [
            item
            for item in items
            if isinstance(item, Comparison) and item.key.type is KeyType.DATASET
        ]
        others = [item for item in items if item not in dataset_items]
        clauses = [self.compile(item) for item in others]
        if dataset_items:
            clauses.append(self.datasets_exist(dataset_items))
        return sa.and_(*clauses)

    def comparison(self, comparison: Comparison) -> ColumnElement[bool]:
        key_type = comparison.key.type
        if key_type is KeyType.METRIC:
            return self.metric(comparison)
        if key_type is KeyType.PARAM:
            return self.key_value_exists(params, runs.c.run_id, params.c.run_id, comparison)
        if key_type is KeyType.TAG:
            return self.key_value_exists(tags, runs.c.run_id, tags.c.run_id, comparison)
        if key_type is KeyType.DATASET:
            return self.datasets_exist([comparison])
        return self.attribute(comparison)

    def metric(self, comparison: Comparison) -> ColumnElement[bool]:
        value_match = _numeric(latest_metrics.c.value, comparison.op, comparison.value)
        if comparison.op == "!=":
            # NaN differs from every number.
            value_match = sa.or_(value_match, latest_metrics.c.is_nan == sa.true())
        return (
            sa.select(_ONE_SQL)
            .where(
                latest_metrics.c.run_id == runs.c.run_id,
                self.dialect.str_equal(latest_metrics.c.key, comparison.key.name),
                value_match,
            )
            .exists()
        )

    def attribute(self, comparison: Comparison) -> ColumnElement[bool]:
        column = _RUN_ATTRIBUTE_COLUMNS[comparison.key.name]
        op, value = comparison.op, comparison.value
        if op in ("IN", "NOT IN"):
            assert isinstance(value, tuple)
            return column.in_(value) if op == "IN" else column.not_in(value)
        if isinstance(value, str):
            return _definite(column, self.dialect.string(column, op, value))
        return _definite(column, _numeric(column, op, value))

    def datasets_exist(self, comparisons: Sequence[Comparison]) -> ColumnElement[bool]:
        context = input_tags.c.value
        columns = {"name": datasets.c.name, "digest": datasets.c.digest, "context": context}
        matches: list[ColumnElement[bool]] = []
        for comparison in comparisons:
            column = columns[comparison.key.name]
            if comparison.op in ("IN", "NOT IN"):
                assert isinstance(comparison.value, tuple)
                values = comparison.value
                matches.append(
                    column.in_(values) if comparison.op == "IN" else column.not_in(values)
                )
            else:
                assert isinstance(comparison.value, str)
                matches.append(self.dialect.string(column, comparison.op, comparison.value))
        joined = inputs.join(datasets, datasets.c.dataset_id == inputs.c.dataset_id).outerjoin(
            input_tags,
            sa.and_(
                input_tags.c.run_id == inputs.c.run_id,
                input_tags.c.dataset_id == inputs.c.dataset_id,
                input_tags.c.key == DATASET_CONTEXT_TAG,
            ),
        )
        return (
            sa.select(_ONE_SQL)
            .select_from(joined)
            .where(inputs.c.run_id == runs.c.run_id, *matches)
            .exists()
        )


class _ExperimentFilterCompiler(_FilterCompiler):
    def comparison(self, comparison: Comparison) -> ColumnElement[bool]:
        if comparison.key.type is KeyType.TAG:
            return self.key_value_exists(
                experiment_tags,
                experiments.c.experiment_id,
                experiment_tags.c.experiment_id,
                comparison,
            )
        name, op, value = comparison.key.name, comparison.op, comparison.value
        column = _EXPERIMENT_ATTRIBUTE_COLUMNS[name]
        if name == "experiment_id":
            return self.experiment_id(op, value)
        if isinstance(value, str):
            return _definite(column, self.dialect.string(column, op, value))
        return _definite(column, _numeric(column, op, value))

    @staticmethod
    def experiment_id(op: str, value: object) -> ColumnElement[bool]:
        # Ids are strings in the API and integers in the table; a non-numeric id matches nothing.
        texts = value if isinstance(value, tuple) else (value,)
        ids = [i for i in (_as_int64(str(t)) for t in texts) if i is not None]
        column = experiments.c.experiment_id
        if op in ("=", "IN"):
            return column.in_(ids) if ids else sa.false()
        return column.not_in(ids) if ids else sa.true()


# -- statements ------------------------------------------------------------------------------------


def _check_paging(limit: int, offset: int) -> None:
    for name, number in (("limit", limit), ("offset", offset)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidParameter(f"Invalid {name} {number!r}: expected a non-negative integer.")


def _null_last(sort_key: Any, raw: Any, ascending: bool) -> list[Any]:
    # CASE WHEN x IS NULL THEN 1 ELSE 0 END first: NULLS LAST on backends without that syntax
    # (MySQL) and regardless of direction.
    return [
        sa.case((raw.is_(None), _ONE_SQL), else_=_ZERO_SQL).asc(),
        sort_key.asc() if ascending else sort_key.desc(),
    ]


@dataclass(frozen=True)
class RunQuery:
    """The parsed pieces of a runs search, shared by the one-statement and the split plans.

    ``scope`` (experiments and lifecycle stages) and ``filter`` refer to ``runs``; ``order`` is
    never empty (``start_time DESC`` by default) and leaves out the ``run_id`` tie-breaker.
    """

    scope: tuple[ColumnElement[bool], ...]
    filter: ColumnElement[bool] | None
    order: tuple[OrderBy, ...]
    dialect: _Dialect
    #: One experiment and one lifecycle stage: the runs index (experiment, stage, start_time)
    #: then lists the scope in start_time order.
    single_scope: bool
    #: The scope as plain values (experiment ids, lifecycle stages), for caches keyed on it.
    scope_key: tuple[tuple[int, ...], tuple[str, ...]]

    @property
    def conditions(self) -> tuple[ColumnElement[bool], ...]:
        """Every WHERE condition: the scope and the filter."""
        return self.scope if self.filter is None else (*self.scope, self.filter)


def run_query(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
    dialect_name: str,
) -> RunQuery:
    """Parse a runs search into a :class:`RunQuery`; arguments as for :func:`select_run_ids`."""
    dialect = _Dialect(dialect_name)
    expr = parse_run_filter(filter_string)
    order = parse_run_order_by(order_by)
    if not order:
        order = (OrderBy(_START_TIME_KEY, ascending=False),)

    ids = [i for i in (_as_int64(str(e)) for e in experiment_ids) if i is not None]
    stages = ViewType.stages(view_type)
    scope = (
        runs.c.experiment_id.in_(ids) if ids else sa.false(),
        runs.c.lifecycle_stage.in_(stages),
    )
    compiled = None if expr is None else _RunFilterCompiler(dialect).compile(expr)
    single = len(set(ids)) == 1 and len(stages) == 1
    return RunQuery(
        scope, compiled, tuple(order), dialect, single, (tuple(sorted(set(ids))), tuple(stages))
    )


def run_sort_keys(
    query: RunQuery, source: sa.FromClause, first: int = 0, owner: Any = None
) -> tuple[sa.FromClause, list[Any]]:
    """Join what ``query.order[first:]`` sorts on onto ``source``; return it and the ORDER BY keys.

    Metrics, params and tags are joined on ``owner`` (a run_id column, ``runs.run_id`` by
    default); attributes are read from ``runs``. The keys end before the ``run_id``
    tie-breaker, which the caller appends. Joined tables are named ``sort_<position in order>``.
    """
    dialect = query.dialect
    owner = runs.c.run_id if owner is None else owner
    sort_keys: list[Any] = []
    for index, item in enumerate(query.order[first:], start=first):
        key = item.key
        if key.type is KeyType.ATTRIBUTE:
            raw = _RUN_ATTRIBUTE_COLUMNS[key.name]
            is_string = key.name not in ("start_time", "end_time")
        else:
            table = {KeyType.METRIC: latest_metrics, KeyType.PARAM: params, KeyType.TAG: tags}[
                key.type
            ]
            # A LEFT JOIN per sort key; the (run_id, key) primary key means at most one row.
            alias = sort_alias(table, index)
            source = source.outerjoin(
                alias,
                sa.and_(
                    alias.c.run_id == owner,
                    dialect.str_equal(alias.c.key, key.name),
                ),
            )
            raw = alias.c.value  # a NaN metric is NULL here, so it sorts with the missing ones
            is_string = key.type is not KeyType.METRIC
        sort_keys += _null_last(dialect.sort_key(raw, is_string), raw, item.ascending)
    return source, sort_keys


@functools.cache
def sort_alias(table: sa.Table, index: int) -> NamedFromClause[Any]:
    """The alias ``sort_<index>`` of ``table``.

    Made once: an alias builds its column collection on first use, which cost more per search
    than the rest of the statement's construction. Aliases are immutable, so statements share
    them.
    """
    return table.alias(f"sort_{index}")


def select_run_ids(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
    dialect_name: str,
) -> sa.Select[Any]:
    """One SELECT of ``runs.run_id`` for a page of a runs search, in the requested order.

    ``experiment_ids`` are the integer ids to search in; ``view_type`` is a
    :class:`~runlab.entities.ViewType` (1 active, 2 deleted, 3 all); ``order_by`` items are
    ``<key> [ASC|DESC]`` (default ``start_time DESC``; ``run_id ASC`` always breaks ties);
    ``dialect_name`` is the engine's ``dialect.name``. Raises InvalidParameter for a malformed
    filter or order_by, or a negative limit/offset.

    This is the general plan: it sorts every matching run. ``search_plan`` uses faster,
    equivalent statements where the order allows.
    """
    _check_paging(limit, offset)
    query = run_query(experiment_ids, filter_string, view_type, order_by, dialect_name)
    return select_run_page(query, limit, offset)


def select_run_page(query: RunQuery, limit: int, offset: int) -> sa.Select[Any]:
    """The general plan's SELECT of ``runs.run_id`` for a parsed query (see select_run_ids)."""
    source, sort_keys = run_sort_keys(query, runs)
    # Run ids are lower-case hex, so every collation orders them alike.
    return (
        sa.select(runs.c.run_id)
        .select_from(source)
        .where(*query.conditions)
        .order_by(*sort_keys, runs.c.run_id.asc())
        .limit(limit)
        .offset(offset)
    )


def select_experiment_ids(
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
    dialect_name: str,
    readable: ReadableSet | None = None,
) -> sa.Select[Any]:
    """One SELECT of ``experiments.experiment_id`` for a page of an experiments search.

    Default order ``creation_time DESC``; ``experiment_id ASC`` always breaks ties. With
    ``readable``, only those experiments (a permission-checking server's caller). Raises
    InvalidParameter for a malformed filter or order_by, or a negative limit/offset.
    """
    _check_paging(limit, offset)
    dialect = _Dialect(dialect_name)
    expr = parse_experiment_filter(filter_string)
    order = parse_experiment_order_by(order_by)
    if not order:
        order = (OrderBy(_CREATION_TIME_KEY, ascending=False),)

    conditions: list[ColumnElement[bool]] = [
        experiments.c.lifecycle_stage.in_(ViewType.stages(view_type))
    ]
    if expr is not None:
        conditions.append(_ExperimentFilterCompiler(dialect).compile(expr))
    if readable is not None:
        allowed = experiment_ids_condition(experiments.c.experiment_id, readable)
        if allowed is not None:
            conditions.append(allowed)

    sort_keys: list[Any] = []
    for item in order:
        raw = _EXPERIMENT_ATTRIBUTE_COLUMNS[item.key.name]
        sort_keys += _null_last(dialect.sort_key(raw, item.key.name == "name"), raw, item.ascending)
    sort_keys.append(experiments.c.experiment_id.asc())

    return (
        sa.select(experiments.c.experiment_id)
        .where(*conditions)
        .order_by(*sort_keys)
        .limit(limit)
        .offset(offset)
    )
