"""The search grammar of logged models, and their order_by items (strings or dicts).

Filters use the shared tokenizer and parser with this vocabulary (see the protocol reference,
section 2.3): ``attributes.``/``metrics.``/``params.``/``tags.`` prefixes, attributes by default;
metrics compare numbers with ``< <= > >= = !=``; attributes, params and tags compare strings with
``= != LIKE ILIKE IN NOT IN`` (params and tags also ``IS NULL``/``IS NOT NULL``); the two
timestamps compare numbers. ``OR``, ``NOT`` and parentheses are runlab extensions, as for runs.

An order_by item is either ``"<key> [ASC|DESC]"`` or MLflow's dict
``{"field_name", "ascending", "dataset_name", "dataset_digest"}``; the dataset fields pick which
dataset's value of a metric the models sort by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runlab.errors import InvalidParameter
from runlab.search.ast import Expr, Key, KeyType
from runlab.search.grammar import LIST_OPS, NULL_OPS, NUMERIC_OPS, STRING_OPS, Grammar, ValueKind
from runlab.search.order_by import parse_order_by
from runlab.search.parser import parse_filter

__all__ = [
    "LOGGED_MODEL_GRAMMAR",
    "DatasetFilter",
    "LoggedModelOrderBy",
    "parse_datasets",
    "parse_logged_model_filter",
    "parse_logged_model_order_by",
]


@dataclass(frozen=True)
class _LoggedModelGrammar(Grammar):
    """Params and tags also take ``IN``/``NOT IN`` lists here (they do not for runs)."""

    def rule(self, key: Key) -> tuple[ValueKind, tuple[str, ...]]:
        """The value kind and the operators allowed for ``key``."""
        if key.type in (KeyType.PARAM, KeyType.TAG):
            return ValueKind.STRING, STRING_OPS + LIST_OPS + NULL_OPS
        return super().rule(key)


_STRING_ATTRIBUTE = (ValueKind.STRING, STRING_OPS + LIST_OPS)
_NUMBER_ATTRIBUTE = (ValueKind.NUMBER, NUMERIC_OPS)

_ATTRIBUTES: dict[str, tuple[ValueKind, tuple[str, ...]]] = {
    "name": _STRING_ATTRIBUTE,
    "model_id": _STRING_ATTRIBUTE,
    "model_type": _STRING_ATTRIBUTE,
    "status": _STRING_ATTRIBUTE,
    "source_run_id": _STRING_ATTRIBUTE,
    # A runlab extension: useful when one search covers several experiments.
    "experiment_id": (ValueKind.ID, ("=", "!=", *LIST_OPS)),
    "creation_timestamp": _NUMBER_ATTRIBUTE,
    "last_updated_timestamp": _NUMBER_ATTRIBUTE,
}

LOGGED_MODEL_GRAMMAR: Grammar = _LoggedModelGrammar(
    entity="logged model",
    prefixes={
        "attributes": KeyType.ATTRIBUTE,
        "attribute": KeyType.ATTRIBUTE,
        "attr": KeyType.ATTRIBUTE,
        "metrics": KeyType.METRIC,
        "metric": KeyType.METRIC,
        "params": KeyType.PARAM,
        "param": KeyType.PARAM,
        "parameters": KeyType.PARAM,
        "parameter": KeyType.PARAM,
        "tags": KeyType.TAG,
        "tag": KeyType.TAG,
    },
    attribute_aliases={
        **{name: name for name in _ATTRIBUTES},
        # The spellings of the wire protocol and of other entities.
        "creation_time": "creation_timestamp",
        "creation_timestamp_ms": "creation_timestamp",
        "last_updated_timestamp_ms": "last_updated_timestamp",
        "last_update_time": "last_updated_timestamp",
        "last_updated_time": "last_updated_timestamp",
        "run_id": "source_run_id",
    },
    attributes=_ATTRIBUTES,
    orderable_attributes=frozenset(_ATTRIBUTES),
    orderable_key_types=frozenset({KeyType.ATTRIBUTE, KeyType.METRIC, KeyType.PARAM, KeyType.TAG}),
)


@dataclass(frozen=True)
class DatasetFilter:
    """A dataset a metric must have been measured on; no digest means any digest of that name."""

    name: str
    digest: str | None = None


@dataclass(frozen=True)
class LoggedModelOrderBy:
    """One sort key of a logged-model search; the dataset fields apply to metric keys only."""

    key: Key
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


def parse_logged_model_filter(filter_string: str | None) -> Expr | None:
    """Parse a logged-model filter (``metrics.acc > 0.9 AND name LIKE 'clf%'``) into an AST.

    Returns None for an empty filter. Raises InvalidParameter naming the offending token and its
    position when the filter is malformed or uses a key or operator the grammar does not allow.
    """
    return parse_filter(filter_string, LOGGED_MODEL_GRAMMAR)


def _optional_text(item: Mapping[str, Any], field: str) -> str | None:
    value = item.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidParameter(
            f"order_by {field} must be a string, got {type(value).__name__} {value!r}."
        )
    return value


def _parse_dict_item(item: Mapping[str, Any]) -> LoggedModelOrderBy:
    unknown = set(item) - {"field_name", "ascending", "dataset_name", "dataset_digest"}
    if unknown:
        raise InvalidParameter(
            f"Invalid order_by item {dict(item)!r}: unknown field(s) {', '.join(sorted(unknown))}; "
            "expected field_name, ascending, dataset_name, dataset_digest."
        )
    field_name = item.get("field_name")
    if not isinstance(field_name, str) or not field_name.strip():
        raise InvalidParameter(
            f"Invalid order_by item {dict(item)!r}: field_name must be a non-empty string, "
            "e.g. 'creation_timestamp' or 'metrics.accuracy'."
        )
    (parsed,) = parse_order_by([field_name], LOGGED_MODEL_GRAMMAR)
    ascending = item.get("ascending")
    if ascending is None:
        ascending = parsed.ascending
    elif not isinstance(ascending, bool):
        raise InvalidParameter(
            f"order_by ascending must be true or false, got {ascending!r} for {field_name!r}."
        )
    dataset_name = _optional_text(item, "dataset_name")
    dataset_digest = _optional_text(item, "dataset_digest")
    if dataset_digest is not None and dataset_name is None:
        raise InvalidParameter(
            f"order_by item {field_name!r} gives dataset_digest without dataset_name; "
            "give the dataset's name too."
        )
    if dataset_name is not None and parsed.key.type is not KeyType.METRIC:
        raise InvalidParameter(
            f"order_by item {field_name!r} gives a dataset, but only metrics.<key> sorts are "
            "measured on datasets."
        )
    return LoggedModelOrderBy(parsed.key, ascending, dataset_name, dataset_digest)


def parse_logged_model_order_by(
    order_by: Sequence[str | Mapping[str, Any]] | None,
) -> tuple[LoggedModelOrderBy, ...]:
    """Parse order_by items given as strings (``"metrics.acc DESC"``) or MLflow's dicts.

    Keys: a logged-model attribute (name, model_id, model_type, status, source_run_id,
    experiment_id, creation_timestamp, last_updated_timestamp), ``metrics.<key>``, and (a runlab
    extension) ``params.<key>`` or ``tags.<key>``.
    None or an empty list gives (). Raises InvalidParameter for anything else.
    """
    if order_by is None:
        return ()
    if isinstance(order_by, (str, Mapping)):
        order_by = [order_by]
    items: list[LoggedModelOrderBy] = []
    for item in order_by:
        if isinstance(item, str):
            (parsed,) = parse_order_by([item], LOGGED_MODEL_GRAMMAR)
            items.append(LoggedModelOrderBy(parsed.key, parsed.ascending))
        elif isinstance(item, Mapping):
            items.append(_parse_dict_item(item))
        else:
            raise InvalidParameter(
                f"Invalid order_by item {item!r}: expected a string like 'name ASC' or a dict "
                "with field_name and ascending."
            )
    return tuple(items)


def parse_datasets(datasets: Sequence[Mapping[str, Any]] | None) -> tuple[DatasetFilter, ...]:
    """Parse the ``datasets`` of a logged-model search: dicts with dataset_name (required) and
    dataset_digest (optional). None or an empty list gives ()."""
    if not datasets:
        return ()
    if isinstance(datasets, Mapping):
        datasets = [datasets]
    out: list[DatasetFilter] = []
    for item in datasets:
        if not isinstance(item, Mapping):
            raise InvalidParameter(
                f"Invalid dataset {item!r}: expected a dict with dataset_name and, optionally, "
                "dataset_digest."
            )
        name = item.get("dataset_name")
        if not isinstance(name, str) or not name:
            raise InvalidParameter(
                f"Invalid dataset {dict(item)!r}: dataset_name is required and must be a "
                "non-empty string."
            )
        digest = item.get("dataset_digest")
        if digest is not None and not isinstance(digest, str):
            raise InvalidParameter(
                f"Invalid dataset {dict(item)!r}: dataset_digest must be a string."
            )
        out.append(DatasetFilter(name, digest or None))
    return tuple(out)
