"""Compile a logged-model search into one SQLAlchemy Core SELECT of model ids.

It reuses the runs compiler's building blocks (dialect differences, LIKE translation, NULL-last
sorting), so strings compare alike on SQLite, PostgreSQL and MySQL/MariaDB, and every value the
user typed reaches the database as a bound parameter.

Metric semantics: a model may have several points of one metric, measured on different datasets
(and at different steps). A metric comparison holds when, for some dataset (or no dataset), the
model's newest point of that metric on that dataset satisfies it; the newest point is the one
with the highest step, then timestamp, then insertion order. The search's ``datasets`` narrow
which datasets count; a filter without any metric comparison (or no filter) then keeps the
models that have a metric point on one of those datasets, as MLflow does. A NaN value satisfies
only ``!=``. Sorting on a metric uses the newest point
on the order item's dataset (on any dataset when it names none); NaN and missing values go last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runlab.entities import LifecycleStage, LoggedModelStatus
from runlab.errors import InvalidParameter
from runlab.search import And, Comparison, Expr, Key, KeyType, Not, Or
from runlab.search.logged_model_grammar import (
    DatasetFilter,
    LoggedModelOrderBy,
    parse_datasets,
    parse_logged_model_filter,
    parse_logged_model_order_by,
)
from runlab.store.sql.schema import (
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
)

# The runs compiler's helpers are shared on purpose: one definition of each backend quirk.
from runlab.store.sql.search_compiler import (
    _as_int64,
    _check_paging,
    _Dialect,
    _FilterCompiler,
    _null_last,
    _numeric,
)

__all__ = ["select_logged_model_ids"]

_ONE_SQL: ColumnElement[int] = sa.literal_column("1")

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "name": logged_models.c.name,
    "model_id": logged_models.c.model_id,
    "model_type": logged_models.c.model_type,
    "status": logged_models.c.status,
    "source_run_id": logged_models.c.source_run_id,
    "experiment_id": logged_models.c.experiment_id,
    "creation_timestamp": logged_models.c.creation_timestamp,
    "last_updated_timestamp": logged_models.c.last_updated_timestamp,
}
_NUMERIC_ATTRIBUTES = frozenset({"experiment_id", "creation_timestamp", "last_updated_timestamp"})
_DEFAULT_ORDER = LoggedModelOrderBy(Key(KeyType.ATTRIBUTE, "creation_timestamp"), ascending=False)


def _dataset_match(
    dialect: _Dialect, table: Any, datasets: Sequence[DatasetFilter]
) -> ColumnElement[bool] | None:
    """Points measured on one of ``datasets`` (None when there is no restriction)."""
    if not datasets:
        return None
    options = []
    for dataset in datasets:
        parts = [dialect.str_equal(table.c.dataset_name, dataset.name)]
        if dataset.digest is not None:
            parts.append(dialect.str_equal(table.c.dataset_digest, dataset.digest))
        options.append(sa.and_(*parts))
    return sa.or_(*options)


def _status_values(values: Sequence[str]) -> list[str]:
    # "READY" and "LOGGED_MODEL_READY" name the same status; an unknown name stays as typed and
    # simply matches nothing.
    out = []
    for value in values:
        try:
            out.append(LoggedModelStatus.normalize(value))
        except InvalidParameter:
            out.append(value)
    return out


def _compares_a_metric(expr: Expr | None) -> bool:
    """True if the filter compares a metric anywhere (under AND, OR or NOT)."""
    if isinstance(expr, Comparison):
        return expr.key.type is KeyType.METRIC
    if isinstance(expr, (And, Or)):
        return any(_compares_a_metric(item) for item in expr.items)
    if isinstance(expr, Not):
        return _compares_a_metric(expr.item)
    return False


def _measured_on(dialect: _Dialect, datasets: Sequence[DatasetFilter]) -> ColumnElement[bool]:
    """The model has a metric point on one of ``datasets``."""
    point = logged_model_metrics.alias("on_dataset")
    match = _dataset_match(dialect, point, datasets)
    assert match is not None
    return (
        sa.select(_ONE_SQL)
        .select_from(point)
        .where(point.c.model_id == logged_models.c.model_id, match)
        .exists()
    )


class _LoggedModelFilterCompiler(_FilterCompiler):
    def __init__(self, dialect: _Dialect, datasets: Sequence[DatasetFilter]) -> None:
        super().__init__(dialect)
        self.datasets = datasets

    def comparison(self, comparison: Comparison) -> ColumnElement[bool]:
        key_type = comparison.key.type
        if key_type is KeyType.METRIC:
            return self.metric(comparison)
        if key_type is KeyType.PARAM:
            return self.key_value(logged_model_params, comparison)
        if key_type is KeyType.TAG:
            return self.key_value(logged_model_tags, comparison)
        return self.attribute(comparison)

    def key_value(self, table: sa.Table, comparison: Comparison) -> ColumnElement[bool]:
        if comparison.op not in ("IN", "NOT IN"):
            return self.key_value_exists(
                table, logged_models.c.model_id, table.c.model_id, comparison
            )
        # As with "!=": NOT IN means the key exists with a value outside the list.
        assert isinstance(comparison.value, tuple)
        match = self.dialect.str_in(table.c.value, comparison.value)
        return (
            sa.select(_ONE_SQL)
            .where(
                table.c.model_id == logged_models.c.model_id,
                self.dialect.str_equal(table.c.key, comparison.key.name),
                match if comparison.op == "IN" else sa.not_(match),
            )
            .exists()
        )

    def metric(self, comparison: Comparison) -> ColumnElement[bool]:
        point = logged_model_metrics.alias("m")
        newer = logged_model_metrics.alias("n")
        # The newest point of the same metric on the same dataset as ``point``.
        newest_id = (
            sa.select(newer.c.id)
            .where(
                newer.c.model_id == point.c.model_id,
                self.dialect.str_equal(newer.c.key, comparison.key.name),
                newer.c.dataset_name == point.c.dataset_name,
                newer.c.dataset_digest == point.c.dataset_digest,
            )
            .order_by(newer.c.step.desc(), newer.c.timestamp.desc(), newer.c.id.desc())
            .limit(1)
            .correlate(point)
            .scalar_subquery()
        )
        value_match = _numeric(point.c.value, comparison.op, comparison.value)
        if comparison.op == "!=":
            value_match = sa.or_(value_match, point.c.is_nan == sa.true())  # NaN differs
        conditions = [
            point.c.model_id == logged_models.c.model_id,
            self.dialect.str_equal(point.c.key, comparison.key.name),
            value_match,
            point.c.id == newest_id,
        ]
        dataset_match = _dataset_match(self.dialect, point, self.datasets)
        if dataset_match is not None:
            conditions.append(dataset_match)
        return sa.select(_ONE_SQL).select_from(point).where(*conditions).exists()

    def attribute(self, comparison: Comparison) -> ColumnElement[bool]:
        name, op, value = comparison.key.name, comparison.op, comparison.value
        column = _ATTRIBUTE_COLUMNS[name]
        if name == "experiment_id":
            return self.experiment_id(op, value)
        if name == "status" and op in ("=", "!=", "IN", "NOT IN"):
            normalized = _status_values(value if isinstance(value, tuple) else (str(value),))
            value = tuple(normalized) if isinstance(value, tuple) else normalized[0]
        return self.column_comparison(column, op, value)

    @staticmethod
    def experiment_id(op: str, value: object) -> ColumnElement[bool]:
        # Ids are strings in the API and integers in the table; a non-numeric id matches nothing.
        texts = value if isinstance(value, tuple) else (value,)
        ids = [i for i in (_as_int64(str(text)) for text in texts) if i is not None]
        column = logged_models.c.experiment_id
        if op in ("=", "IN"):
            return column.in_(ids) if ids else sa.false()
        return column.not_in(ids) if ids else sa.true()


def _metric_sort_value(dialect: _Dialect, item: LoggedModelOrderBy) -> Any:
    """The value of the newest point of the item's metric (on its dataset, if it names one)."""
    point = logged_model_metrics.alias("sort_point")
    conditions = [
        point.c.model_id == logged_models.c.model_id,
        dialect.str_equal(point.c.key, item.key.name),
    ]
    if item.dataset_name is not None:
        dataset = DatasetFilter(item.dataset_name, item.dataset_digest)
        match = _dataset_match(dialect, point, [dataset])
        assert match is not None
        conditions.append(match)
    return (
        sa.select(point.c.value)  # NULL for NaN, so NaN sorts with the missing values
        .where(*conditions)
        .order_by(point.c.step.desc(), point.c.timestamp.desc(), point.c.id.desc())
        .limit(1)
        .correlate(logged_models)
        .scalar_subquery()
    )


def select_logged_model_ids(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    datasets: Sequence[Mapping[str, Any]] | None,
    order_by: Sequence[str | Mapping[str, Any]] | None,
    limit: int,
    offset: int,
    dialect_name: str,
) -> sa.Select[Any]:
    """One SELECT of ``logged_models.model_id`` for a page of a logged-model search.

    Deleted models are never returned. ``datasets`` (dicts with ``dataset_name`` and optional
    ``dataset_digest``) narrow the metric comparisons of the filter; without one, they keep
    the models measured on one of them. ``order_by`` items are
    strings (``"metrics.acc DESC"``) or dicts (``{"field_name", "ascending", "dataset_name",
    "dataset_digest"}``); the default is ``creation_timestamp DESC`` and ``model_id ASC`` always
    breaks ties, so offset paging is stable. Raises InvalidParameter for a malformed filter,
    order_by or dataset, or a negative limit/offset.
    """
    _check_paging(limit, offset)
    dialect = _Dialect(dialect_name)
    expr = parse_logged_model_filter(filter_string)
    dataset_filters = parse_datasets(datasets)
    order = parse_logged_model_order_by(order_by) or (_DEFAULT_ORDER,)

    ids = [i for i in (_as_int64(str(e)) for e in experiment_ids) if i is not None]
    conditions: list[ColumnElement[bool]] = [
        logged_models.c.experiment_id.in_(ids) if ids else sa.false(),
        logged_models.c.lifecycle_stage == LifecycleStage.ACTIVE,
    ]
    if expr is not None:
        conditions.append(_LoggedModelFilterCompiler(dialect, dataset_filters).compile(expr))
    if dataset_filters and not _compares_a_metric(expr):
        conditions.append(_measured_on(dialect, dataset_filters))

    source: sa.FromClause = logged_models
    sort_keys: list[Any] = []
    for index, item in enumerate(order):
        key = item.key
        if key.type is KeyType.ATTRIBUTE:
            raw = _ATTRIBUTE_COLUMNS[key.name]
            is_string = key.name not in _NUMERIC_ATTRIBUTES
        elif key.type is KeyType.METRIC:
            raw = _metric_sort_value(dialect, item)
            is_string = False
        else:
            table = logged_model_params if key.type is KeyType.PARAM else logged_model_tags
            # The (model_id, key) primary key means at most one joined row per model.
            alias = table.alias(f"sort_{index}")
            source = source.outerjoin(
                alias,
                sa.and_(
                    alias.c.model_id == logged_models.c.model_id,
                    dialect.str_equal(alias.c.key, key.name),
                ),
            )
            raw = alias.c.value
            is_string = True
        sort_keys += _null_last(dialect.sort_key(raw, is_string), raw, item.ascending)
    # Model ids are "m-" plus lower-case hex, so every collation orders them alike.
    sort_keys.append(logged_models.c.model_id.asc())

    return (
        sa.select(logged_models.c.model_id)
        .select_from(source)
        .where(*conditions)
        .order_by(*sort_keys)
        .limit(limit)
        .offset(offset)
    )
