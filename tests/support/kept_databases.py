"""Migrated test databases kept from one test to the next, emptied of rows in between.

Creating a PostgreSQL or MariaDB database, migrating it and dropping it again costs about half a
second, several times what most store tests spend on their own work; over a thousand such tests
that was a quarter of the suite's time. A test whose database is opened by a store before its
body runs (it asks for one of the ``opened_by_*`` fixtures) cannot tell a new database from one
that was migrated earlier and has had its rows deleted, so it gets the latter.

What makes that safe:

- Each kind of schema (tracking and registry; auth) keeps its own database, so a tracking test
  never sees auth tables and the other way round.
- A kept database is created and opened by the stores of its kind once, and its fingerprint
  (every table, column, index and schema revision) is recorded.
- After every test the fingerprint is read again. If anything differs (a test altered or
  downgraded the schema) or the rows cannot be deleted (say a test left a transaction open), the
  database is dropped and the next test gets a new one.
- Rows are deleted from every table but the revision tables, and identity counters restart, so
  ids start where a new database's would. Stores recreate what they create on open (the
  default experiment, with this test's artifact root).

SQLite needs none of this: a migrated, emptied file is copied into the test's folder.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: How long the reset waits for a lock before it gives the database up and drops it.
_LOCK_TIMEOUT_S = 5


def _open_tracking(url: str, artifact_root: str) -> None:
    from runlab.store.sql.registry import SqlRegistryStore
    from runlab.store.sql.tracking import SqlTrackingStore

    tracking = SqlTrackingStore(url, artifact_root)
    SqlRegistryStore(url).close()
    tracking.close()


def _open_auth(url: str, artifact_root: str) -> None:
    from runlab.store.sql.auth import SqlAuthStore

    SqlAuthStore(url).close()


#: The schema kinds, by the fixture a test asks for, and what builds each kind's schema.
KINDS: dict[str, Callable[[str, str], None]] = {
    "opened_by_tracking_store": _open_tracking,
    "opened_by_auth_store": _open_auth,
}


def with_database(admin_url: str, name: str) -> str:
    """``admin_url`` pointed at database ``name`` (password kept)."""
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _is_revision_table(name: str) -> bool:
    return name.endswith("alembic_version")


#: The catalog queries whose answers make a database's fingerprint (one round trip each, where
#: SQLAlchemy's inspector takes two per table).
_CATALOG = {
    "postgresql": (
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = current_schema()"
        " ORDER BY table_name, column_name",
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() ORDER BY tablename, indexname",
    ),
    "mysql": (
        "SELECT table_name, column_name, column_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = DATABASE()"
        " ORDER BY table_name, column_name",
        "SELECT table_name, index_name, seq_in_index, column_name, non_unique"
        " FROM information_schema.statistics WHERE table_schema = DATABASE()"
        " ORDER BY table_name, index_name, seq_in_index",
    ),
}


def _fingerprint(conn: sa.Connection, backend: str) -> tuple[Any, ...]:
    """Every table, column, index and revision row of the database, in a stable order."""
    parts: list[Any] = [tuple(conn.exec_driver_sql(query).all()) for query in _CATALOG[backend]]
    for table in sorted({row[0] for row in parts[0]}):
        if _is_revision_table(table):
            parts.append((table, tuple(sorted(conn.exec_driver_sql(f"SELECT * FROM {table}")))))
    return tuple(parts)


def _delete_rows(conn: sa.Connection, backend: str) -> None:
    """Delete every row but the schema revisions, and restart identity counters."""
    tables = [t for t in sa.inspect(conn).get_table_names() if not _is_revision_table(t)]
    if backend == "sqlite":
        for table in tables:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
        if conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
        ).first():
            conn.exec_driver_sql("DELETE FROM sqlite_sequence")
    elif backend == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT_S}s'")
        # Foreign keys are triggers on PostgreSQL; a replica session skips them, so the order
        # of the deletes does not matter.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in tables:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
        sequences = conn.exec_driver_sql(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
        ).scalars()
        for sequence in list(sequences):
            conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
    else:
        conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {_LOCK_TIMEOUT_S}")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for table in tables:
                conn.exec_driver_sql(f"DELETE FROM `{table}`")
            # Only counters that moved: each ALTER TABLE costs tens of milliseconds.
            counted = conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND auto_increment > 1"
            ).scalars()
            for table in list(counted):
                conn.exec_driver_sql(f"ALTER TABLE `{table}` AUTO_INCREMENT = 1")
        finally:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


@dataclass
class _Kept:
    url: str
    name: str
    fingerprint: tuple[Any, ...]


@dataclass
class KeptDatabases:
    """The kept databases of one test process, by backend and kind; drops them all at close."""

    workdir: Path
    _kept: dict[tuple[str, str], _Kept] = field(default_factory=dict)
    _sqlite_templates: dict[str, Path] = field(default_factory=dict)
    _admins: dict[str, sa.Engine] = field(default_factory=dict)

    def sqlite_copy(self, kind: str, target: Path) -> None:
        """Put a migrated, emptied SQLite database of this kind at ``target``."""
        template = self._sqlite_templates.get(kind)
        if template is None:
            template = self.workdir / f"{kind}.db"
            url = f"sqlite:///{template}"
            KINDS[kind](url, (self.workdir / "artifacts").as_uri())
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:
                    _delete_rows(conn, "sqlite")
            finally:
                engine.dispose()
            self._sqlite_templates[kind] = template
        shutil.copyfile(template, target)

    def checkout(self, backend: str, kind: str, admin_url: str) -> str:
        """The URL of this process's kept database of this backend and kind, empty of rows."""
        kept = self._kept.get((backend, kind))
        if kept is None:
            name = f"runlab_kept_{uuid.uuid4().hex[:12]}"
            self._execute_admin(admin_url, f"CREATE DATABASE {name}")
            if backend == "postgresql":
                # A test database need not survive a crash: commits skip the WAL flush.
                self._execute_admin(
                    admin_url, f"ALTER DATABASE {name} SET synchronous_commit = off"
                )
            url = with_database(admin_url, name)
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                KINDS[kind](url, (self.workdir / "artifacts").as_uri())
                with engine.begin() as conn:
                    _delete_rows(conn, backend)
                with engine.connect() as conn:
                    fingerprint = _fingerprint(conn, backend)
            except BaseException:
                engine.dispose()
                self._drop(backend, name, admin_url)  # not left behind when set-up fails
                raise
            engine.dispose()
            kept = _Kept(url, name, fingerprint)
            self._kept[(backend, kind)] = kept
        return kept.url

    def checkin(self, backend: str, kind: str, admin_url: str) -> None:
        """Empty the kept database after a test, or drop it if the test changed its schema."""
        kept = self._kept[(backend, kind)]
        engine = sa.create_engine(kept.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                same = _fingerprint(conn, backend) == kept.fingerprint
            if same:
                with engine.begin() as conn:
                    _delete_rows(conn, backend)
                return
        except sa.exc.DBAPIError:
            pass
        finally:
            engine.dispose()
        del self._kept[(backend, kind)]
        self._drop(backend, kept.name, admin_url)

    def close(self, admin_urls: dict[str, str]) -> None:
        for (backend, _), kept in list(self._kept.items()):
            self._drop(backend, kept.name, admin_urls[backend])
        self._kept.clear()
        for engine in self._admins.values():
            engine.dispose()

    def _drop(self, backend: str, name: str, admin_url: str) -> None:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        self._execute_admin(admin_url, f"DROP DATABASE IF EXISTS {name}{force}")

    def _execute_admin(self, admin_url: str, statement: str) -> None:
        admin = self._admins.get(admin_url)
        if admin is None:
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            self._admins[admin_url] = admin
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
