"""Insert-or-update of whole rows in one statement, on each backend's own syntax.

Deleting and re-inserting costs two round trips; ``INSERT ... ON CONFLICT DO UPDATE``
(SQLite, PostgreSQL) and ``INSERT ... ON DUPLICATE KEY UPDATE`` (MySQL/MariaDB) cost one, and
take the same row locks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``; a row whose primary key exists replaces its other columns."""
    if rows:
        conn.execute(_statement(table, conn.dialect.name), list(rows))


@functools.cache
def _statement(table: sa.Table, backend: str) -> Any:
    keys = [column.name for column in table.primary_key.columns]
    others = [column.name for column in table.columns if column.name not in keys]
    if backend in ("mysql", "mariadb"):
        mysql_insert = mysql.insert(table)
        return mysql_insert.on_duplicate_key_update(
            {name: mysql_insert.inserted[name] for name in others}
        )
    insert: postgresql.Insert | sqlite.Insert
    if backend == "postgresql":
        insert = postgresql.insert(table)
    elif backend == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise NotImplementedError(f"no upsert for the {backend} backend")
    return insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in others}
    )
