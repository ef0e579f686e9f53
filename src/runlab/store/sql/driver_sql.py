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

__all__ = ["DriverStatement", "Pipeline", "driver_statement", "execute", "execute_together"]


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


def execute_together(conn: Connection, statements: Sequence[tuple[str, Any]]) -> list[list[Any]]:
    """Run several statements ``(sql, parameters)`` on ``conn``; each one's rows, in order.

    On psycopg they are sent in one pipeline, so the database answers all of them for one
    round trip instead of one each; on any other driver they run one after the other. A
    statement with parameters None is a command (BEGIN, COMMIT): it is never prepared, and
    gives no rows. Errors are raised as :func:`execute` raises them.
    """
    if not (conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"):
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            return [execute(conn, cursor, sql, parameters) for sql, parameters in statements]
        finally:
            cursor.close()
    with Pipeline(conn) as pipeline:
        pipeline.send(statements)
    return pipeline.rows()


class Pipeline:
    """A psycopg pipeline on ``conn`` whose statements go out when sent and whose rows are
    read later, so the caller can work while the database does.

    :meth:`send` hands statements to the database at once (it starts on them as they
    arrive). :meth:`collect`, inside the block, waits for the answers of everything sent
    since the last collect: one round trip. Leaving the block waits for the rest (one more)
    and :meth:`rows` then gives theirs. Statements with parameters None are commands, as for
    :func:`execute_together`. The driver's errors are raised as :func:`execute` raises them.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._raw: Any = conn.connection.dbapi_connection
        self._block: Any = None
        self._pipeline: Any = None
        self._sent: list[tuple[Any, str, Any]] = []
        self._cursors: list[Any] = []
        self._rows: list[list[Any]] = []

    def __enter__(self) -> Pipeline:
        self._block = self._raw.pipeline()
        self._pipeline = self._guarded(self._block.__enter__)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self._guarded(self._block.__exit__, exc_type, exc, tb)
            if exc is None:
                self._rows = self._fetched()
        finally:
            for cursor in self._cursors:
                cursor.close()

    def send(self, statements: Sequence[tuple[str, Any]]) -> None:
        """Send ``statements`` now; their rows come from the next :meth:`collect` (or
        :meth:`rows`, after the block)."""
        for sql, parameters in statements:
            cursor = self._raw.cursor()
            self._cursors.append(cursor)
            self._sent.append((cursor, sql, parameters))
            if parameters is None:
                self._guarded(cursor.execute, sql, prepare=False)
            else:
                self._guarded(cursor.execute, sql, parameters)

    def collect(self) -> list[list[Any]]:
        """The rows of each statement sent since the last collect, in order."""
        self._guarded(self._pipeline.sync)
        return self._fetched()

    def rows(self) -> list[list[Any]]:
        """After the block: the rows of each statement sent after the last collect."""
        return self._rows

    def _fetched(self) -> list[list[Any]]:
        sent, self._sent = self._sent, []
        return [[] if parameters is None else cursor.fetchall() for cursor, _, parameters in sent]

    def _guarded(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except self._conn.dialect.loaded_dbapi.Error as exc:
            cursor, sql, parameters = self._sent[-1] if self._sent else (None, "", None)
            raise _translated(self._conn, cursor, sql, parameters, exc) from exc


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
