"""Statements run on a connection's DBAPI cursor: compiled once, errors as SQLAlchemy's."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runlab.store.sql.driver_sql import Pipeline, driver_statement, execute, execute_together
from runlab.store.sql.engine import _is_transient
from support.pg_trace import Trace


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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_pipeline_collects_mid_block_and_gives_the_rest_after(db_url: str) -> None:
    """What was sent before a collect comes back then (commands give no rows); what was sent
    after comes back once the block is left. Two answers waited for, however many statements."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            raw.autocommit = True
            with traced_connection(raw) as trace:
                with Pipeline(conn) as pipeline:
                    pipeline.send([("BEGIN", None), ("SELECT %(x)s::int", {"x": 1})])
                    assert pipeline.collect() == [[], [(1,)]]
                    pipeline.send([("SELECT g FROM generate_series(1, %(n)s) g", {"n": 3})])
                    pipeline.send([("COMMIT", None)])
                assert pipeline.rows() == [[(1,), (2,), (3,)], []]
            assert trace.messages.count("\tReadyForQuery") == 2
            assert raw.info.transaction_status.name == "IDLE"
            raw.autocommit = False
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_statement_failing_in_a_pipeline_is_sqlalchemys_error(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.ProgrammingError, match="missing"):  # noqa: SIM117
                with Pipeline(conn) as pipeline:
                    pipeline.send([("SELECT 1", ()), ("SELECT * FROM missing", ())])
                    pipeline.collect()
            assert not conn.invalidated
            conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
            assert execute_together(conn, [("SELECT %(x)s::int", {"x": 2})]) == [[(2,)]]
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            conn.rollback()
            with admin.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            with pytest.raises(sa.exc.OperationalError) as caught:
                execute_together(conn, [("SELECT 1", ())])
            assert caught.value.connection_invalidated and conn.invalidated
    finally:
        engine.dispose()
        admin.dispose()


@contextlib.contextmanager
def traced_connection(raw: Any) -> Iterator[Trace]:
    """libpq's protocol trace of one psycopg connection (its messages, once the block ends)."""
    trace = Trace()
    with tempfile.TemporaryFile("w+") as trace_file:
        raw.pgconn.trace(trace_file.fileno())
        try:
            yield trace
        finally:
            raw.pgconn.untrace()
            trace_file.seek(0)
            trace.messages = trace_file.read()
