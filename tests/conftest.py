"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB) for store tests.

Each test that asks for ``db_url`` gets a fresh, empty database on each backend. PostgreSQL and
MariaDB run on 127.0.0.1 (see the README); a backend is skipped only when its server cannot be
reached, and CI makes sure both are up.

A test whose database a store opens before the test body runs asks for ``opened_by_tracking_store``
or ``opened_by_auth_store`` (the shared store fixtures do it for their tests). Such a test gets a
migrated database with no rows instead, kept from test to test (see support/kept_databases.py).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from support.kept_databases import KINDS, KeptDatabases, with_database

POSTGRES_ADMIN_URL = os.environ.get(
    "RUNLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_ADMIN_URL = os.environ.get(
    "RUNLAB_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)

_reachable: dict[str, bool] = {}


def _server_reachable(admin_url: str) -> bool:
    if admin_url not in _reachable:
        try:
            engine = sa.create_engine(admin_url)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _reachable[admin_url] = True
        except Exception:
            _reachable[admin_url] = False
    return _reachable[admin_url]


@pytest.fixture
def opened_by_tracking_store() -> None:
    """Says that a tracking store (and registry) opens the test's ``db_url`` first.

    The test never sees the database unmigrated, so it may get a kept one, emptied of rows.
    """


@pytest.fixture
def opened_by_auth_store() -> None:
    """Says that an auth store opens the test's ``db_url`` first (as ``opened_by_tracking_store``)."""


@pytest.fixture(scope="session")
def kept_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptDatabases]:
    """This test process's kept databases, dropped when it ends."""
    kept = KeptDatabases(tmp_path_factory.mktemp("kept-databases"))
    yield kept
    kept.close({"postgresql": POSTGRES_ADMIN_URL, "mysql": MYSQL_ADMIN_URL})


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty database on each backend in turn.

    Or of a migrated one with no rows, when the test says a store opens it first.
    """
    backend = request.param
    kinds = [kind for kind in KINDS if kind in request.fixturenames]
    if len(kinds) > 1:
        raise pytest.UsageError(f"a test's database has one kind of schema, not {kinds}")
    kept: KeptDatabases | None = request.getfixturevalue("kept_databases") if kinds else None
    if backend == "sqlite":
        path = tmp_path / "runlab.db"
        if kept is not None:
            kept.sqlite_copy(kinds[0], path)
        yield f"sqlite:///{path}"
        return
    admin_url = POSTGRES_ADMIN_URL if backend == "postgresql" else MYSQL_ADMIN_URL
    if not _server_reachable(admin_url):
        pytest.skip(f"{backend} server not reachable at {admin_url}")
    if kept is not None:
        url = kept.checkout(backend, kinds[0], admin_url)
        yield url
        kept.checkin(backend, kinds[0], admin_url)
        return
    with fresh_database(backend, tmp_path) as url:
        yield url


@contextlib.contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A URL of a new, empty database on ``backend`` (an SQLite file in ``folder``), dropped
    afterwards; skips the test when the backend's server is unreachable. For fixtures of a
    wider scope than one test (see ``db_url`` for one test's database)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'runlab.db'}"
        return
    admin_url = POSTGRES_ADMIN_URL if backend == "postgresql" else MYSQL_ADMIN_URL
    if not _server_reachable(admin_url):
        pytest.skip(f"{backend} server not reachable at {admin_url}")
    name = f"runlab_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield with_database(admin_url, name)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a fresh SQLite file, for tests that need only the embedded default."""
    return f"sqlite:///{tmp_path / 'runlab.db'}"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession per test process: its JVM takes seconds to start.

    The Spark test modules are one xdist group, so one process runs them all on this session.
    """
    from runlab.models.pyfunc.spark_requirements import start_session

    session = start_session("local[2]", app_name="runlab-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
