"""What keys exist and which operators and values each accepts, for runs and for experiments.

The parser is generic; a :class:`Grammar` tells it how to resolve a key spelling into a
:class:`~runlab.search.ast.Key` and what may follow it. The rules are MLflow's (see the protocol
reference, section 4), so a filter MLflow accepts is accepted here, and one MLflow rejects for a
per-key reason is rejected too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from runlab.search.ast import Key, KeyType

__all__ = [
    "EXPERIMENT_GRAMMAR",
    "RUN_GRAMMAR",
    "Grammar",
    "ValueKind",
]

NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
NULL_OPS = ("IS NULL", "IS NOT NULL")
LIST_OPS = ("IN", "NOT IN")


class ValueKind(enum.Enum):
    """What a key compares against."""

    NUMBER = "a number"
    STRING = "a quoted string"
    # experiment_id: ids are strings on the wire, but a bare integer is accepted too.
    ID = "a quoted id"


@dataclass(frozen=True)
class Grammar:
    """The key vocabulary and operator rules of one searchable entity."""

    entity: str  # "run" or "experiment", for messages
    prefixes: Mapping[str, KeyType]  # lower-case prefix -> key type
    # Every accepted attribute spelling -> canonical name.
    attribute_aliases: Mapping[str, str]
    # Canonical attribute name -> (value kind, operators).
    attributes: Mapping[str, tuple[ValueKind, tuple[str, ...]]]
    # Canonical attribute names an order_by may use.
    orderable_attributes: frozenset[str]
    # Key types an order_by may use (datasets never; experiments only attributes).
    orderable_key_types: frozenset[KeyType]
    dataset_keys: frozenset[str] = frozenset()

    def resolve(self, prefix: str | None, name: str) -> Key | str:
        """The Key for ``prefix.name`` (prefix None: no prefix), or an error message."""
        if prefix is None:
            key_type = KeyType.ATTRIBUTE
        else:
            found = self.prefixes.get(prefix.lower())
            if found is None:
                valid = ", ".join(f"'{p}.'" for p in self.prefixes)
                return f"unknown key prefix {prefix!r}; expected one of {valid} or no prefix"
            key_type = found
        if not name:
            return "empty key name"
        if key_type is KeyType.ATTRIBUTE:
            canonical = self.attribute_aliases.get(name)
            if canonical is None:
                valid = ", ".join(sorted(self.attributes))
                return f"unknown {self.entity} attribute {name!r}; expected one of {valid}"
            return Key(KeyType.ATTRIBUTE, canonical)
        if key_type is KeyType.DATASET and name not in self.dataset_keys:
            valid = ", ".join(sorted(self.dataset_keys))
            return f"unknown dataset key {name!r}; expected one of {valid}"
        return Key(key_type, name)

    def rule(self, key: Key) -> tuple[ValueKind, tuple[str, ...]]:
        """The value kind and the operators allowed for ``key``."""
        if key.type is KeyType.ATTRIBUTE:
            return self.attributes[key.name]
        if key.type is KeyType.METRIC:
            return ValueKind.NUMBER, NUMERIC_OPS
        if key.type is KeyType.DATASET:
            return ValueKind.STRING, STRING_OPS + LIST_OPS
        return ValueKind.STRING, STRING_OPS + NULL_OPS  # params and tags

    def is_multiword_alias(self, words: str) -> bool:
        """True for attribute aliases written with a space (``Run name``)."""
        return " " in words and words in self.attribute_aliases


def describe_key(key: Key) -> str:
    """A key as error messages name it: ``metric 'acc'``, ``attribute 'run_id'``."""
    return f"{key.type.value} {key.name!r}"


def _aliases(canonical: list[str], extra: Mapping[str, str]) -> dict[str, str]:
    out = {name: name for name in canonical}
    out.update(extra)
    return out


_RUN_ATTRIBUTES: dict[str, tuple[ValueKind, tuple[str, ...]]] = {
    "run_id": (ValueKind.STRING, STRING_OPS + LIST_OPS),
    "run_name": (ValueKind.STRING, STRING_OPS),
    "user_id": (ValueKind.STRING, STRING_OPS),
    "status": (ValueKind.STRING, STRING_OPS),
    "artifact_uri": (ValueKind.STRING, STRING_OPS),
    "start_time": (ValueKind.NUMBER, NUMERIC_OPS),
    "end_time": (ValueKind.NUMBER, NUMERIC_OPS),
}

RUN_GRAMMAR = Grammar(
    entity="run",
    prefixes={
        "metrics": KeyType.METRIC,
        "metric": KeyType.METRIC,
        "params": KeyType.PARAM,
        "param": KeyType.PARAM,
        "parameters": KeyType.PARAM,
        "parameter": KeyType.PARAM,
        "tags": KeyType.TAG,
        "tag": KeyType.TAG,
        "attributes": KeyType.ATTRIBUTE,
        "attribute": KeyType.ATTRIBUTE,
        "attr": KeyType.ATTRIBUTE,
        "run": KeyType.ATTRIBUTE,
        "datasets": KeyType.DATASET,
        "dataset": KeyType.DATASET,
    },
    attribute_aliases=_aliases(
        list(_RUN_ATTRIBUTES),
        {
            "run name": "run_name",
            "Run name": "run_name",
            "Run Name": "run_name",
            # MLflow's UI calls the start time "Created".
            "created": "start_time",
            "Created": "start_time",
        },
    ),
    attributes=_RUN_ATTRIBUTES,
    orderable_attributes=frozenset(_RUN_ATTRIBUTES),
    orderable_key_types=frozenset({KeyType.METRIC, KeyType.PARAM, KeyType.TAG, KeyType.ATTRIBUTE}),
    dataset_keys=frozenset({"name", "digest", "context"}),
)

_EXPERIMENT_ATTRIBUTES: dict[str, tuple[ValueKind, tuple[str, ...]]] = {
    "name": (ValueKind.STRING, STRING_OPS),
    "experiment_id": (ValueKind.ID, ("=", "!=", *LIST_OPS)),
    "creation_time": (ValueKind.NUMBER, NUMERIC_OPS),
    "last_update_time": (ValueKind.NUMBER, NUMERIC_OPS),
}

EXPERIMENT_GRAMMAR = Grammar(
    entity="experiment",
    prefixes={
        "attributes": KeyType.ATTRIBUTE,
        "attribute": KeyType.ATTRIBUTE,
        "tags": KeyType.TAG,
        "tag": KeyType.TAG,
    },
    attribute_aliases=_aliases(list(_EXPERIMENT_ATTRIBUTES), {}),
    attributes=_EXPERIMENT_ATTRIBUTES,
    orderable_attributes=frozenset(_EXPERIMENT_ATTRIBUTES),
    orderable_key_types=frozenset({KeyType.ATTRIBUTE}),
)
