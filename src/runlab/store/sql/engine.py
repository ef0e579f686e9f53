"""Database engines for the SQL store: URL normalisation, SQLite tuning, write transactions.

SQLite is the embedded default and the one most likely to see several processes at once, so it
gets WAL journaling, ``synchronous=NORMAL``, a long busy timeout, foreign keys, and write
transactions that start with ``BEGIN IMMEDIATE``: a writer takes the lock up front and others wait
for it, instead of failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from runlab.errors import InvalidParameter, Unavailable

T = TypeVar("T")

#: How long a SQLite connection waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 120.0

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def normalize_db_url(url: str) -> str:
    """Pick runlab's default driver when the URL names none (``postgresql://`` -> psycopg 3)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidParameter(
            f"{url!r} is not a database URL (expected e.g. sqlite:///runlab.db)."
        )
    if "+" not in scheme and scheme.lower() in _DRIVERS:
        return f"{_DRIVERS[scheme.lower()]}://{rest}"
    return url


def create_engine(url: str) -> Engine:
    """An engine tuned for the store's access pattern on each backend."""
    url = normalize_db_url(url)
    backend = sa.engine.make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        _tune_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_size": 5, "max_overflow": 10}
    if backend in ("mysql", "mariadb"):
        # Gap locks under REPEATABLE READ make concurrent log-batch inserts deadlock-prone.
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs["connect_args"] = {"charset": "utf8mb4"}
    elif sa.engine.make_url(url).get_driver_name() == "psycopg":
        # psycopg prepares a statement on a connection once it has run it this many times
        # before (its default is 5). The hot statements (a search page's loader, a log-batch's
        # lock, tails and writes) are the same on every call: prepared from their second run,
        # a new pooled connection stops parsing and planning them after one call, not five.
        kwargs["connect_args"] = {"prepare_threshold": 1}
    engine = sa.create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


def create_inspection_engine(url: str | sa.engine.URL) -> Engine:
    """An engine for looking at a database before runlab takes it over: it changes nothing.

    :func:`create_engine` tunes every SQLite connection, and switching a file to WAL journaling
    rewrites its header and adds files beside it. This engine only waits for locks like the
    store does, and keeps no connection once its work is done.
    """
    url = normalize_db_url(url) if isinstance(url, str) else url
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        return sa.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, poolclass=sa.pool.NullPool
        )
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


#: A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_AFTER_S = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before reuse only when it has sat idle.

    A ping on every checkout (SQLAlchemy's ``pool_pre_ping``) costs a round trip per
    transaction, a third of a small log-batch's time on PostgreSQL. A connection that was used
    moments ago is almost surely alive; one that sat idle may have been closed by a database
    restart or a proxy, and is replaced here before anyone sees an error. A connection that
    dies between uses anyway fails its statement, and ``Database.write`` runs the transaction
    again on a fresh one.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["runlab_last_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("runlab_last_used")
        if last_used is None or time.monotonic() - last_used < IDLE_PING_AFTER_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:
            alive = False
        if not alive:
            # The pool discards this connection and checks out (or opens) another.
            raise sa.exc.DisconnectionError("the pooled connection is gone")


#: How much of an SQLite database file a connection maps into memory, and its page cache size.
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024
_SQLITE_CACHE_KIB = 32 * 1024


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's implicit one.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Reads map the database file instead of copying each page in with a read() call, and
        # keep up to 32 MiB of pages per connection (the default is 2 MiB). SQLite drops a
        # connection's page cache whenever another connection has written, which on a busy
        # server is between almost every two searches; mapped pages stay cheap to reach after
        # that. Measured on a 1,000-run search: its statement 2.4 -> 1.7 ms.
        cursor.execute(f"PRAGMA mmap_size = {_SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("runlab_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


#: The tables a runs search joins; their statistics decide PostgreSQL's plan.
_SEARCH_TABLES = ("runs", "params", "tags", "latest_metrics")
_STATS_CHECK_INTERVAL_S = 30.0
# reltuples is -1 until a table's first ANALYZE (PostgreSQL 14+); the counters catch later growth.
_PG_STALENESS = sa.text(
    "SELECT coalesce(sum(s.n_mod_since_analyze), 0), coalesce(sum(s.n_live_tup), 0), "
    "coalesce(min(c.reltuples), 0) "
    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE c.relname IN :tables AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
).bindparams(sa.bindparam("tables", expanding=True))


class _SqliteWriterLock:
    """Writers of one SQLite file take turns on an OS file lock beside it.

    SQLite's own busy handler polls, sleeping in growing steps, so a process waiting for another
    one's write lock wakes late; a blocking ``flock`` wakes it the moment the lock is released.
    Threads of one process queue on a plain lock first. Where ``fcntl`` is missing (Windows), or
    the folder is read-only, only the in-process lock is used and SQLite's handler does the rest.
    """

    def __init__(self, db_path: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = f"{db_path}-writelock" if db_path else None
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            fd = self._file()
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        if self._fd is None and self._path is not None and fcntl is not None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                self._path = None
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Database:
    """An engine plus the transaction helpers the store uses."""

    def __init__(self, url: str) -> None:
        self.url = normalize_db_url(url)
        self.engine = create_engine(self.url)
        self.backend = self.engine.dialect.name
        self._stats_checked_at = -_STATS_CHECK_INTERVAL_S
        # One writer at a time per SQLite file, across threads and processes (see the class).
        self._write_lock = (
            _SqliteWriterLock(
                self.engine.url.database
                if self.engine.url.database not in (None, "", ":memory:")
                else None
            )
            if self.backend == "sqlite"
            else None
        )

    def refresh_search_statistics(self) -> None:
        """On PostgreSQL, ANALYZE the tables search reads once they have changed a lot.

        A freshly filled database has no planner statistics until autovacuum gets to it, and
        without them PostgreSQL picks poor plans for the search joins (measured: 345 ms before,
        18 ms after, for a 2,000-run search). Checked at most every 30 s per process; the check
        itself is one query on the statistics view.
        """
        if self.backend != "postgresql":
            return
        now = time.monotonic()
        if now - self._stats_checked_at < _STATS_CHECK_INTERVAL_S:
            return
        self._stats_checked_at = now
        with self.engine.connect() as conn:
            row = conn.execute(_PG_STALENESS, {"tables": list(_SEARCH_TABLES)}).one()
            # sum() over bigint is numeric in PostgreSQL: Decimal here, so convert.
            modified, live, fewest = int(row[0]), int(row[1]), float(row[2])
            if fewest < 0 or (modified > 1000 and modified > 0.1 * live):
                conn.exec_driver_sql(f"ANALYZE {', '.join(_SEARCH_TABLES)}")
                conn.commit()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction.

        A connection found dead mid-read (the database restarted moments after its last use)
        becomes :class:`Unavailable`, which clients retry; the pool has already replaced it.
        """
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            if exc.connection_invalidated:
                raise Unavailable(f"The database connection was lost; retry: {exc.orig}") from exc
            raise

    def write(self, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
        """Run ``work`` in a write transaction, retrying on lock timeouts and deadlocks.

        ``work`` must be safe to run again from the start: it is retried only after a rollback.
        """
        for attempt in range(attempts):
            try:
                if self._write_lock is not None:
                    with self._write_lock.held():
                        return self._run_write(work)
                return self._run_write(work)
            except sa.exc.OperationalError as exc:
                if not _is_transient(exc) or attempt == attempts - 1:
                    if _is_transient(exc):
                        raise Unavailable(
                            f"The database stayed busy after {attempts} attempts: {exc.orig}"
                        ) from exc
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _run_write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            conn.execution_options(runlab_write=True)
            with conn.begin():
                return work(conn)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()


def _is_transient(exc: sa.exc.OperationalError) -> bool:
    if exc.connection_invalidated:
        # The connection died (a database restart); the pool has dropped it, so run again.
        return True
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in ("database is locked", "deadlock", "lock wait timeout", "could not serialize")
    )
