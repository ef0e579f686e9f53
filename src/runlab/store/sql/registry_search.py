"""Compile registered-model and model-version searches into one SQLAlchemy Core SELECT each.

The runs compiler's building blocks are reused (dialect differences, LIKE translation, exact
string equality on MySQL's PAD SPACE collation, code-point string order), so strings compare
alike on SQLite, PostgreSQL and MySQL/MariaDB, and every value the user typed reaches the
database as a bound parameter.

Semantics (protocol reference, section 4): a tag comparison holds when the model (version) has
the tag with a matching value; ``!=`` needs the tag to exist, except for
``mlflow.prompt.is_prompt``, whose ``!= 'true'`` also matches models without it (that is how
MLflow tells models from prompts). Registered models sort by name (always the last key, so
paging is stable); model versions by ``name ASC, version DESC`` unless asked otherwise, with the
same pair as the final tie-breaker. Deleted versions are never returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runlab.search import Comparison, Key, KeyType, OrderBy
from runlab.search.registry_grammar import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from runlab.store.base import ReadableSet
from runlab.store.sql.readable_filter import names_condition
from runlab.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)

# The runs compiler's helpers are shared on purpose: one definition of each backend quirk.
from runlab.store.sql.search_compiler import (
    _ONE_SQL,
    _check_paging,
    _Dialect,
    _FilterCompiler,
)

__all__ = ["PROMPT_TAG", "select_model_versions", "select_registered_model_names"]

#: MLflow marks prompts (stored as registered models) with this tag.
PROMPT_TAG = "mlflow.prompt.is_prompt"

_NAME = Key(KeyType.ATTRIBUTE, "name")
_VERSION = Key(KeyType.ATTRIBUTE, "version_number")

_MODEL_COLUMNS: dict[str, Any] = {
    "name": registered_models.c.name,
    "last_updated_timestamp": registered_models.c.last_updated_timestamp,
}
_VERSION_COLUMNS: dict[str, Any] = {
    "name": model_versions.c.name,
    "run_id": model_versions.c.run_id,
    "source_path": model_versions.c.source,
    "version_number": model_versions.c.version,
    "creation_timestamp": model_versions.c.creation_timestamp,
    "last_updated_timestamp": model_versions.c.last_updated_timestamp,
}
_STRING_KEYS = frozenset({"name", "run_id", "source_path"})


class _RegistryFilterCompiler(_FilterCompiler):
    """Attribute and tag comparisons over one table; subclasses name the table and the tags."""

    columns: dict[str, Any]

    def comparison(self, comparison: Comparison) -> ColumnElement[bool]:
        if comparison.key.type is KeyType.TAG:
            return self.tag(comparison)
        column = self.columns[comparison.key.name]
        return self.column_comparison(column, comparison.op, comparison.value)

    def tag(self, comparison: Comparison) -> ColumnElement[bool]:
        raise NotImplementedError

    def tag_exists(
        self, table: sa.Table, owner: Sequence[ColumnElement[bool]], comparison: Comparison
    ) -> ColumnElement[bool]:
        """The owner has the tag with a value matching ``comparison``."""
        assert isinstance(comparison.value, str)
        return (
            sa.select(_ONE_SQL)
            .where(
                *owner,
                self.dialect.str_equal(table.c.key, comparison.key.name),
                self.dialect.string(table.c.value, comparison.op, comparison.value),
            )
            .exists()
        )


class _RegisteredModelFilter(_RegistryFilterCompiler):
    columns = _MODEL_COLUMNS

    def tag(self, comparison: Comparison) -> ColumnElement[bool]:
        owner = [registered_model_tags.c.name == registered_models.c.name]
        if comparison.key.name == PROMPT_TAG and comparison.op == "!=":
            # Models that lack the tag are "not prompts" too.
            equal = Comparison(comparison.key, "=", comparison.value)
            return sa.not_(self.tag_exists(registered_model_tags, owner, equal))
        return self.tag_exists(registered_model_tags, owner, comparison)


class _ModelVersionFilter(_RegistryFilterCompiler):
    columns = _VERSION_COLUMNS

    def tag(self, comparison: Comparison) -> ColumnElement[bool]:
        owner = [
            model_version_tags.c.name == model_versions.c.name,
            model_version_tags.c.version == model_versions.c.version,
        ]
        return self.tag_exists(model_version_tags, owner, comparison)


def _sort(dialect: _Dialect, column: Any, is_string: bool, ascending: bool) -> Any:
    # Every sort column is NOT NULL, so no NULLS LAST key is needed.
    key = dialect.sort_key(column, is_string)
    return key.asc() if ascending else key.desc()


def select_registered_model_names(
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
    dialect_name: str,
    readable: ReadableSet | None = None,
) -> sa.Select[Any]:
    """One SELECT of ``registered_models.name`` for a page of a registered-model search.

    ``order_by`` items are ``name``, ``timestamp`` or ``last_updated_timestamp`` with an
    optional ASC/DESC; ``name ASC`` always breaks ties. With ``readable``, only those models
    (a permission-checking server's caller). Raises InvalidParameter for a malformed filter or
    order_by, or a negative limit/offset.
    """
    _check_paging(limit, offset)
    dialect = _Dialect(dialect_name)
    expr = parse_registered_model_filter(filter_string)
    order = parse_registered_model_order_by(order_by)
    if _NAME not in {item.key for item in order}:
        order = (*order, OrderBy(_NAME, ascending=True))
    query = sa.select(registered_models.c.name)
    if expr is not None:
        query = query.where(_RegisteredModelFilter(dialect).compile(expr))
    allowed = names_condition(registered_models.c.name, readable) if readable else None
    if allowed is not None:
        query = query.where(allowed)
    keys = [
        _sort(dialect, _MODEL_COLUMNS[item.key.name], item.key.name == "name", item.ascending)
        for item in order
    ]
    return query.order_by(*keys).limit(limit).offset(offset)


def select_model_versions(
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
    dialect_name: str,
    readable: ReadableSet | None = None,
) -> sa.Select[Any]:
    """One SELECT of whole ``model_versions`` rows for a page of a model-version search.

    Deleted versions are left out. ``order_by`` items are ``name``, ``version_number``,
    ``creation_timestamp`` or ``last_updated_timestamp`` with an optional ASC/DESC; the default
    is ``name ASC, version_number DESC``, which also breaks ties. With ``readable``, only the
    versions of those models. Raises InvalidParameter for a malformed filter or order_by, or a
    negative limit/offset.
    """
    _check_paging(limit, offset)
    dialect = _Dialect(dialect_name)
    expr = parse_model_version_filter(filter_string)
    order = parse_model_version_order_by(order_by)
    named = {item.key for item in order}
    order = (
        *order,
        *(item for item in (OrderBy(_NAME), OrderBy(_VERSION, False)) if item.key not in named),
    )
    query = sa.select(model_versions).where(model_versions.c.deleted == sa.false())
    if expr is not None:
        query = query.where(_ModelVersionFilter(dialect).compile(expr))
    allowed = names_condition(model_versions.c.name, readable) if readable else None
    if allowed is not None:
        query = query.where(allowed)
    keys = [
        _sort(
            dialect,
            _VERSION_COLUMNS[item.key.name],
            item.key.name in _STRING_KEYS,
            item.ascending,
        )
        for item in order
    ]
    return query.order_by(*keys).limit(limit).offset(offset)
