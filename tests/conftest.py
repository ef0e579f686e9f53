"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB) for store tests.

Each test that asks for ``db_url`` gets a fresh, empty database on each backend. PostgreSQL and
MariaDB run on 127.0.0.1 (see the README); a backend is skipped only when its server cannot be
reached, and CI makes sure both are up.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

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


def _with_database(admin_url: str, name: str) -> str:
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty database on each backend in turn."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'runlab.db'}"
        return
    admin_url = POSTGRES_ADMIN_URL if backend == "postgresql" else MYSQL_ADMIN_URL
    if not _server_reachable(admin_url):
        pytest.skip(f"{backend} server not reachable at {admin_url}")
    name = f"runlab_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield _with_database(admin_url, name)
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
