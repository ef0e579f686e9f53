"""Counting a PostgreSQL store's round trips with libpq's protocol trace."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass
class Trace:
    """What the traced transactions sent and received (filled when the block ends)."""

    messages: str = ""
    #: The connections traced, one per transaction begun in the block.
    connections: list[Any] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        """One ReadyForQuery per answer the client waited for."""
        return self.messages.count("\tReadyForQuery")


@contextlib.contextmanager
def traced(engine: sa.Engine) -> Iterator[Trace]:
    """Trace every transaction begun on ``engine`` inside the block (psycopg connections)."""
    result = Trace()
    with tempfile.TemporaryFile() as trace_file:

        def start(conn: sa.Connection) -> None:
            pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
            pgconn.trace(trace_file.fileno())
            result.connections.append(pgconn)

        sa.event.listen(engine, "begin", start)
        try:
            yield result
        finally:
            sa.event.remove(engine, "begin", start)
            for pgconn in result.connections:
                pgconn.untrace()
            trace_file.seek(0)
            result.messages = trace_file.read().decode()
