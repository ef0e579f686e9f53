"""What a MySQL/MariaDB database says about its own tables (tests only)."""

from __future__ import annotations

import sqlalchemy as sa


def string_column_collations(conn: sa.Connection) -> dict[str, str]:
    """``table.column`` -> collation of every string column of runlab's tables in the database."""
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND collation_name IS NOT NULL "
            "AND table_name <> 'alembic_version'"
        )
    )
    return {f"{table}.{column}": collation for table, column, collation in rows}
