"""SQLAlchemy statements compiled once per driver, for running on a connection's DBAPI cursor.

The hottest statements (a search page's loader, a log-batch's metric writes) are built with
SQLAlchemy once, but executing them through it costs per call what the statement itself costs:
cache-key generation, parameter processing, a Row per result row. Run on the connection's own
DBAPI cursor they stay in the caller's transaction; this module holds the one compiled form per
driver and turns a mapping of values into the driver's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DriverStatement", "driver_statement", "execute", "execute_together"]


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled to one driver's SQL, and how to bind its parameters."""

    sql: str
    #: The positional parameters' names, in order (SQLite's ``?``); None for a driver that binds
    #: by name (psycopg's ``%(name)s``).
    names: tuple[str, ...] | None
    #: Values the statement fixes itself (a LIMIT 1, say).
    fixed: dict[str, Any]

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for ``values`` (by name)."""
        fixed = self.fixed
        if self.names is None:
            return {**fixed, **values}
        return tuple(values[name] if name in values else fixed[name] for name in self.names)


#: Compiled statements by (backend, driver, statement): one set per driver, not per engine.
_COMPILED: dict[tuple[str, str, Any], DriverStatement] = {}


def driver_statement(
    dialect: sa.Dialect, statement: Any, column_keys: Sequence[str] | None = None
) -> DriverStatement:
    """``statement`` compiled for ``dialect``'s driver, once.

    ``column_keys`` names the columns an INSERT or UPDATE is given values for (SQLAlchemy
    compiles one form per set of columns); statements are cached by identity, so build them once.
    """
    cache_key = (dialect.name, dialect.driver, statement)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = statement.compile(
            dialect=dialect, column_keys=None if column_keys is None else list(column_keys)
        )
        # Parameters SQLAlchemy renders only at execution (psycopg's LIMIT, expanding IN lists)
        # have no driver form; such statements stay on conn.execute.
        assert "POSTCOMPILE" not in str(compiled), str(compiled)
        names = compiled.positiontup
        fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        found = DriverStatement(str(compiled), None if names is None else tuple(names), fixed)
        _COMPILED[cache_key] = found
    return found


def execute(
    conn: Connection, cursor: Any, sql: str, parameters: Any, *, many: bool = False
) -> list[Any]:
    """Run ``sql`` on ``cursor``, a DBAPI cursor of ``conn``; every row (none if ``many``).

    The driver's errors are raised as SQLAlchemy's, as ``conn.execute`` would raise them: a busy
    SQLite database is then retried like any other write, and a connection the database dropped
    is invalidated and reported with ``connection_invalidated`` (which the store turns into
    Unavailable), not handed back to the pool.
    """
    try:
        if many:
            cursor.executemany(sql, parameters)
            return []
        cursor.execute(sql, parameters)
        rows: list[Any] = cursor.fetchall()
        return rows
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursor, sql, parameters, exc) from exc


def execute_together(
    conn: Connection, statements: Sequence[tuple[str, Any]]
) -> list[list[Any]]:
    """Run several statements ``(sql, parameters)`` on ``conn``; each one's rows, in order.

    On psycopg they are sent in one pipeline, so the database answers all of them for one
    round trip instead of one each; on any other driver they run one after the other. A
    statement with parameters None is a command (BEGIN, COMMIT): it is never prepared, and
    gives no rows. Errors are raised as :func:`execute` raises them.
    """
    dbapi_connection: Any = conn.connection.dbapi_connection
    if not (conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"):
        cursor = dbapi_connection.cursor()
        try:
            return [execute(conn, cursor, sql, parameters) for sql, parameters in statements]
        finally:
            cursor.close()
    cursors = [dbapi_connection.cursor() for _ in statements]
    sql, parameters = "", None
    try:
        with dbapi_connection.pipeline():
            for cursor, (sql, parameters) in zip(cursors, statements, strict=True):
                if parameters is None:
                    cursor.execute(sql, prepare=False)
                else:
                    cursor.execute(sql, parameters)
        # Leaving the pipeline waited for every result; each cursor holds its own rows.
        return [
            [] if parameters is None else cursor.fetchall()
            for cursor, (_, parameters) in zip(cursors, statements, strict=True)
        ]
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursors[0], sql, parameters, exc) from exc
    finally:
        for cursor in cursors:
            cursor.close()


def _translated(conn: Connection, cursor: Any, sql: str, parameters: Any, exc: Any) -> Any:
    """The driver's error as SQLAlchemy's, with a dropped connection invalidated."""
    dbapi_connection = conn.connection.dbapi_connection
    dropped = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
    if dropped:
        conn.invalidate(exc)
    return sa.exc.DBAPIError.instance(
        sql,
        parameters,
        exc,
        conn.dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=conn.dialect,
    )
