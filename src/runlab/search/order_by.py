"""Parsing of order_by items: ``<key> [ASC|DESC]`` with the same key spellings as filters."""

from __future__ import annotations

from collections.abc import Sequence

from runlab.search.ast import KeyType, OrderBy
from runlab.search.grammar import EXPERIMENT_GRAMMAR, RUN_GRAMMAR, Grammar
from runlab.search.parser import Cursor
from runlab.search.tokens import TokenKind

__all__ = ["parse_experiment_order_by", "parse_order_by", "parse_run_order_by"]

_LABEL = "order_by clause"


def _sortable(grammar: Grammar) -> str:
    names = sorted(grammar.orderable_attributes)
    if KeyType.METRIC in grammar.orderable_key_types:
        names = ["metrics.<key>", "params.<key>", "tags.<key>", *names]
    return ", ".join(names)


def _parse_item(item: str, grammar: Grammar) -> OrderBy:
    cursor = Cursor(item, grammar, _LABEL)
    if cursor.current.kind is TokenKind.END:
        raise cursor.error("empty clause; expected '<key> [ASC|DESC]'")
    key_token = cursor.current
    key = cursor.parse_key()
    if key.type not in grammar.orderable_key_types:
        raise cursor.error(
            f"key {key_token.text!r} at position {key_token.pos} cannot be sorted on; "
            f"{grammar.entity}s sort by {_sortable(grammar)}"
        )
    if key.type is KeyType.ATTRIBUTE and key.name not in grammar.orderable_attributes:
        raise cursor.error(
            f"attribute {key.name!r} at position {key_token.pos} cannot be sorted on; "
            f"{grammar.entity}s sort by {_sortable(grammar)}"
        )
    ascending = True
    if cursor.current.is_keyword("ASC", "DESC"):
        ascending = cursor.advance().text.upper() == "ASC"
    if cursor.current.kind is not TokenKind.END:
        raise cursor.unexpected("ASC, DESC or the end of the clause")
    return OrderBy(key, ascending)


def parse_order_by(order_by: Sequence[str] | None, grammar: Grammar) -> tuple[OrderBy, ...]:
    """Parse each order_by item with ``grammar``; None or an empty list gives ()."""
    if order_by is None:
        return ()
    if isinstance(order_by, str):
        # A bare string would otherwise be iterated character by character.
        order_by = [order_by]
    return tuple(_parse_item(item, grammar) for item in order_by)


def parse_run_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """Parse runs order_by items, e.g. ``["metrics.acc DESC", "start_time"]``.

    Keys: ``metrics.<k>``, ``params.<k>``, ``tags.<k>`` or a run attribute (run_id, run_name,
    user_id, status, artifact_uri, start_time, end_time and the aliases ``created``,
    ``Run name``). Raises InvalidParameter naming the offending token and position.
    """
    return parse_order_by(order_by, RUN_GRAMMAR)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> tuple[OrderBy, ...]:
    """Parse experiments order_by items (name, experiment_id, creation_time, last_update_time).

    Raises InvalidParameter for an unknown key, a tag key, or anything after the direction.
    """
    return parse_order_by(order_by, EXPERIMENT_GRAMMAR)
