"""The syntax tree a filter string parses into: small frozen dataclasses, no behaviour.

A filter is an :data:`Expr`: a :class:`Comparison` of one key with a value, or the boolean
combinations :class:`And`, :class:`Or` and :class:`Not` of filters. Keys are already resolved:
prefixes and aliases are gone (``run.`Run Name``` and ``attributes.run_name`` give the same
:class:`Key`), so a compiler never looks at spelling.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "Key",
    "KeyType",
    "Not",
    "Or",
    "OrderBy",
    "Value",
]


class KeyType(enum.Enum):
    """Which family of values a key refers to."""

    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    DATASET = "dataset"


@dataclass(frozen=True)
class Key:
    """A resolved key: its family and its canonical name.

    For attributes the name is canonical (``run_name``, ``start_time``); for datasets it is one of
    ``name``, ``digest``, ``context``; for metrics, params and tags it is the user's key verbatim.
    """

    type: KeyType
    name: str


# A comparison's right-hand side: a number, a string, a tuple of strings (IN lists) or None
# (IS NULL / IS NOT NULL).
Value: TypeAlias = int | float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``key op value``; ``op`` is one of ``= != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL``."""

    key: Key
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    """All of ``items`` hold (at least two items; nested Ands are flattened)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds (at least two items; nested Ors are flattened)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold."""

    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderBy:
    """One order_by item: a key and its direction."""

    key: Key
    ascending: bool = True
