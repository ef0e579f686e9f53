"""The WHERE condition that keeps a search to what a caller may read (:class:`ReadableSet`).

A server that checks permissions must not filter a page after the database has cut it: a page
of ``max_results`` rows would come back short, and the offset in the next page token would no
longer count the rows the caller saw. The restriction is therefore one more condition of the
search's own SELECT, so the database pages over readable rows only. Ids and names travel as
bound parameters (SQLAlchemy's expanding ``IN``), never as SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runlab.store.base import ReadableSet

__all__ = ["experiment_ids_condition", "names_condition"]

_INT64_MAX = 2**63 - 1


def _experiment_ids(ids: Iterable[str]) -> list[int]:
    """The integer ids among ``ids``, sorted (so equal sets give equal statements).

    Experiment permissions are kept under the store's spelling of an id (decimal digits); a key
    that is not one names no experiment, so leaving it out changes nothing.
    """
    out = {int(i) for i in ids if i.isascii() and i.isdigit() and len(i) <= 19}
    return sorted(i for i in out if i <= _INT64_MAX)


def experiment_ids_condition(column: Any, readable: ReadableSet) -> ColumnElement[bool] | None:
    """``column`` (an experiment id) is readable; None when that holds for every row."""
    if readable.by_default:
        refused = _experiment_ids(readable.refused)
        return column.not_in(refused) if refused else None
    granted = _experiment_ids(readable.granted)
    return column.in_(granted) if granted else sa.false()


def names_condition(column: Any, readable: ReadableSet) -> ColumnElement[bool] | None:
    """``column`` (a registered model's name) is readable; None when that holds for every row.

    The name columns compare exactly on every backend (MySQL and MariaDB use a binary NO PAD
    collation), so ``IN`` matches a name only, never one that differs in case or trailing
    spaces.
    """
    if readable.by_default:
        refused = sorted(readable.refused)
        return column.not_in(refused) if refused else None
    return column.in_(sorted(readable.granted)) if readable.granted else sa.false()
