"""Database connections: a pooled connection the database dropped is replaced, not reported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from runlab.entities import RunTag
from runlab.errors import Unavailable
from runlab.store.sql import engine as engine_module
from runlab.store.sql.engine import Database
from runlab.store.sql.tracking import SqlTrackingStore

# An embedded SQLite file has no server connections to drop.
server_backends = pytest.mark.parametrize("db_url", ["postgresql", "mysql"], indirect=True)


@pytest.fixture
def server_db(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(20))")
    yield db
    db.dispose()


def _drop_connections(db: Database) -> None:
    """Have the database server end every session of this database, as a restart would."""
    admin = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if db.backend == "postgresql":
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        else:
            ids = conn.exec_driver_sql(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            ).scalars()
            for session_id in list(ids):
                conn.exec_driver_sql(f"KILL {int(session_id)}")
    admin.dispose()


def _insert(db: Database, note_id: int) -> None:
    db.write(lambda conn: conn.exec_driver_sql(f"INSERT INTO notes VALUES ({note_id}, 'x')"))


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM notes").scalar_one())


@server_backends
def test_idle_connection_is_pinged_and_replaced(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _insert(server_db, 1)
    _drop_connections(server_db)
    monkeypatch.setattr(engine_module, "IDLE_PING_AFTER_S", 0.0)  # every reuse counts as idle
    assert _count(server_db) == 1
    _insert(server_db, 2)
    assert _count(server_db) == 2


@server_backends
def test_write_on_a_dropped_connection_runs_again(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_AFTER_S", 3600.0)  # never ping
    _insert(server_db, 1)
    _drop_connections(server_db)
    _insert(server_db, 2)  # the first attempt fails on the dead connection; the retry lands
    assert _count(server_db) == 2


@server_backends
def test_read_on_a_dropped_connection_is_unavailable_then_recovers(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_AFTER_S", 3600.0)
    _insert(server_db, 1)
    _drop_connections(server_db)
    with pytest.raises(Unavailable, match="retry"):
        _count(server_db)
    assert _count(server_db) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_search_statistics_refresh_after_many_writes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the search tables changed a lot since their last ANALYZE, search refreshes them."""
    store = SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri())
    try:
        monkeypatch.setattr(engine_module, "_STATS_CHECK_INTERVAL_S", 0.0)
        store.search_runs(["0"])  # the first check finds no statistics and analyzes
        analyzed = _last_analyze(store)
        run_id = store.create_run("0", "u", 0, [], "many").info.run_id
        for start in range(0, 1500, 100):
            store.log_batch(run_id, tags=[RunTag(f"t{i}", "v") for i in range(start, start + 100)])
        deadline = time.monotonic() + 10
        while _last_analyze(store) == analyzed and time.monotonic() < deadline:
            time.sleep(0.5)  # the server publishes its counters about once a second
            assert len(store.search_runs(["0"])) == 1
        assert _last_analyze(store) != analyzed
    finally:
        store.close()


def _last_analyze(store: SqlTrackingStore) -> object:
    with store._db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'tags'"
        ).scalar_one()


def test_sqlite_connections_map_the_file_and_keep_a_larger_page_cache(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'runlab.db'}")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar_one() == 256 * 1024 * 1024
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -32 * 1024
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        db.dispose()


def test_psycopg_connections_prepare_a_statement_from_its_second_run(db_url: str) -> None:
    """The hot statements (a search page's loader, a log-batch's lock, tails and writes) are
    the same on every call: a new pooled connection stops parsing and planning them after one
    call, not after psycopg's default of five."""
    if not db_url.startswith("postgresql"):
        pytest.skip("psycopg's setting")
    engine = engine_module.create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold == 1  # type: ignore[union-attr]
            for _ in range(2):
                conn.exec_driver_sql("SELECT %(x)s::int", {"x": 1})
            prepared = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%%'"
            ).scalar_one()
        assert prepared == 1
    finally:
        engine.dispose()
