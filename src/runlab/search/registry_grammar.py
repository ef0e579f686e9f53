"""The search grammars of the model registry: registered models and model versions.

Filters use the shared tokenizer and parser with these vocabularies (see the protocol reference,
section 4):

* registered models: ``name`` (``= != LIKE ILIKE IN NOT IN``) and ``tags.<key>``
  (``= != LIKE ILIKE``); order by ``name``, ``timestamp`` or ``last_updated_timestamp`` (the
  last two are the same field);
* model versions: ``name`` and ``run_id`` (``= != LIKE ILIKE IN NOT IN``), ``source_path``
  (``= != LIKE ILIKE``), ``version_number`` (a number, ``= != < <= > >=``) and ``tags.<key>``
  (``= != LIKE ILIKE``); order by ``name``, ``version_number``, ``creation_timestamp`` or
  ``last_updated_timestamp``.

Tags take no ``IS NULL`` here, as in MLflow. ``OR``, ``NOT`` and parentheses are runlab
extensions, as for runs. An order_by that names one field twice is refused, since the second
mention could never take effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runlab.errors import InvalidParameter
from runlab.search.ast import Expr, Key, KeyType, OrderBy
from runlab.search.grammar import LIST_OPS, NUMERIC_OPS, STRING_OPS, Grammar, ValueKind
from runlab.search.order_by import parse_order_by
from runlab.search.parser import parse_filter

__all__ = [
    "MODEL_VERSION_GRAMMAR",
    "REGISTERED_MODEL_GRAMMAR",
    "parse_model_version_filter",
    "parse_model_version_order_by",
    "parse_registered_model_filter",
    "parse_registered_model_order_by",
]


@dataclass(frozen=True)
class _RegistryGrammar(Grammar):
    """Tags compare strings only: no ``IS NULL`` / ``IS NOT NULL`` in the registry."""

    def rule(self, key: Key) -> tuple[ValueKind, tuple[str, ...]]:
        """The value kind and the operators allowed for ``key``."""
        if key.type is KeyType.TAG:
            return ValueKind.STRING, STRING_OPS
        return super().rule(key)


_PREFIXES = {
    "attributes": KeyType.ATTRIBUTE,
    "attribute": KeyType.ATTRIBUTE,
    "tags": KeyType.TAG,
    "tag": KeyType.TAG,
}
_LISTED_STRING = (ValueKind.STRING, STRING_OPS + LIST_OPS)
# A time is a sort key only: no filter compares it (MLflow has none either).
_SORT_ONLY = (ValueKind.NUMBER, NUMERIC_OPS)


def _grammar(
    entity: str,
    attributes: dict[str, tuple[ValueKind, tuple[str, ...]]],
    aliases: dict[str, str] | None = None,
    orderable: bool = False,
) -> Grammar:
    """A filter grammar (tags and attributes) or an order_by one (attributes only)."""
    return _RegistryGrammar(
        entity=entity,
        prefixes=_PREFIXES,
        attribute_aliases={**{name: name for name in attributes}, **(aliases or {})},
        attributes=attributes,
        orderable_attributes=frozenset(attributes) if orderable else frozenset(),
        orderable_key_types=frozenset({KeyType.ATTRIBUTE}),
    )


REGISTERED_MODEL_GRAMMAR = _grammar("registered model", {"name": _LISTED_STRING})
_REGISTERED_MODEL_ORDER_GRAMMAR = _grammar(
    "registered model",
    {"name": _LISTED_STRING, "last_updated_timestamp": _SORT_ONLY},
    # MLflow sorts "timestamp" by the last-update time.
    aliases={"timestamp": "last_updated_timestamp"},
    orderable=True,
)

MODEL_VERSION_GRAMMAR = _grammar(
    "model version",
    {
        "name": _LISTED_STRING,
        "run_id": _LISTED_STRING,
        "source_path": (ValueKind.STRING, STRING_OPS),
        "version_number": (ValueKind.NUMBER, NUMERIC_OPS),
    },
)
_MODEL_VERSION_ORDER_GRAMMAR = _grammar(
    "model version",
    {
        "name": _LISTED_STRING,
        "version_number": _SORT_ONLY,
        "creation_timestamp": _SORT_ONLY,
        "last_updated_timestamp": _SORT_ONLY,
    },
    orderable=True,
)


def parse_registered_model_filter(filter_string: str | None) -> Expr | None:
    """Parse a registered-model filter (``name LIKE 'fraud%' AND tags.team = 'risk'``).

    Returns None for an empty filter. Raises InvalidParameter naming the offending token and its
    position when the filter is malformed or uses a key or operator the grammar does not allow.
    """
    return parse_filter(filter_string, REGISTERED_MODEL_GRAMMAR)


def parse_model_version_filter(filter_string: str | None) -> Expr | None:
    """Parse a model-version filter (``name = 'fraud' AND version_number > 3``).

    Returns None for an empty filter; raises InvalidParameter when it is malformed.
    """
    return parse_filter(filter_string, MODEL_VERSION_GRAMMAR)


def _no_repeats(items: tuple[OrderBy, ...]) -> tuple[OrderBy, ...]:
    seen: set[Key] = set()
    for item in items:
        if item.key in seen:
            raise InvalidParameter(
                f"Invalid order_by clause: {item.key.name!r} is listed more than once "
                "('timestamp' and 'last_updated_timestamp' are the same field); list it once."
            )
        seen.add(item.key)
    return items


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """Parse registered-model order_by items (``name``, ``timestamp``,
    ``last_updated_timestamp``, each optionally followed by ASC or DESC).

    Raises InvalidParameter for any other key, or one field listed twice.
    """
    return _no_repeats(parse_order_by(order_by, _REGISTERED_MODEL_ORDER_GRAMMAR))


def parse_model_version_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """Parse model-version order_by items (``name``, ``version_number``,
    ``creation_timestamp``, ``last_updated_timestamp``, with an optional direction).

    Raises InvalidParameter for any other key, or one field listed twice.
    """
    return _no_repeats(parse_order_by(order_by, _MODEL_VERSION_ORDER_GRAMMAR))
