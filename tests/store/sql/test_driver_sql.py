"""Statements run on a connection's DBAPI cursor: compiled once, errors as SQLAlchemy's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from runlab.store.sql.driver_sql import driver_statement, execute
from runlab.store.sql.engine import _is_transient


def test_sqlite_driver_errors_are_sqlalchemy_errors(tmp_path: Path) -> None:
    """A busy database met on the driver's cursor is the error the write retry recognises."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with pytest.raises(sa.exc.OperationalError) as caught:
                execute(conn, cursor, "INSERT INTO t VALUES (?)", [(1,), (2,)], many=True)
            assert _is_transient(caught.value)
            holder.execute("ROLLBACK")
            with pytest.raises(sa.exc.DatabaseError):
                execute(conn, cursor, "SELECT * FROM missing", ())
    finally:
        engine.dispose()
        holder.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dropped_connection_is_invalidated_and_reported_so(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with admin.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with pytest.raises(sa.exc.OperationalError) as caught:
                execute(conn, cursor, "SELECT 1", None)
            assert caught.value.connection_invalidated
            assert conn.invalidated
        # The pool hands out a working connection afterwards.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()
        admin.dispose()


def test_statements_compile_once_per_driver_and_bind_by_name_or_position() -> None:
    table = sa.table("t", sa.column("a"), sa.column("b"))
    statement = sa.select(table.c.a).where(table.c.b == sa.bindparam("b")).limit(1)
    sqlite_dialect = sa.create_engine("sqlite://").dialect
    positional = driver_statement(sqlite_dialect, statement)
    assert driver_statement(sqlite_dialect, statement) is positional
    assert positional.bind({"b": 7}) == (7, 1, 0)  # LIMIT 1 OFFSET 0: fixed by the statement
    by_name = sa.select(table.c.a).where(table.c.b == sa.bindparam("b"))
    named = driver_statement(sa.create_engine("postgresql+psycopg://").dialect, by_name)
    assert named.names is None
    assert named.bind({"b": 7}) == {"b": 7}
