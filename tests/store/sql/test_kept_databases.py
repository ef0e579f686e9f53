"""The kept test databases: emptied between tests, dropped when a test changed their schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, _server_reachable
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.kept_databases import KeptDatabases

ADMIN_URLS = {"postgresql": POSTGRES_ADMIN_URL, "mysql": MYSQL_ADMIN_URL}


@pytest.fixture(params=["postgresql", "mysql"])
def server_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, KeptDatabases]:
    if not _server_reachable(ADMIN_URLS[request.param]):
        pytest.skip(f"{request.param} server not reachable")
    kept = KeptDatabases(tmp_path)
    request.addfinalizer(lambda: kept.close(ADMIN_URLS))
    return request.param, kept


def _scalar(url: str, statement: str) -> object:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(statement).scalar()
    finally:
        engine.dispose()


def _alias_event(url: str, name: str) -> None:
    """A model with a version and an alias: one row in registry_events, an identity column."""
    registry = SqlRegistryStore(url)
    registry.create_registered_model(name)
    registry.create_model_version(name, "s3://bucket/model")
    registry.set_registered_model_alias(name, "champion", 1)
    registry.close()


def test_rows_are_deleted_and_counters_restart(
    server_backend: tuple[str, KeptDatabases], tmp_path: Path
) -> None:
    backend, kept = server_backend
    admin = ADMIN_URLS[backend]
    url = kept.checkout(backend, "opened_by_tracking_store", admin)
    store = SqlTrackingStore(url, tmp_path.as_uri())
    store.create_experiment("kept")
    store.close()
    _alias_event(url, "first")
    first_event = _scalar(url, "SELECT MAX(event_id) FROM registry_events")
    assert first_event is not None
    kept.checkin(backend, "opened_by_tracking_store", admin)

    assert kept.checkout(backend, "opened_by_tracking_store", admin) == url
    assert _scalar(url, "SELECT COUNT(*) FROM experiments") == 0
    store = SqlTrackingStore(url, tmp_path.as_uri())
    # The default experiment is back, with this store's artifact root.
    assert store.get_experiment("0").artifact_location == f"{tmp_path.as_uri()}/0"
    store.close()
    _alias_event(url, "second")
    assert _scalar(url, "SELECT MAX(event_id) FROM registry_events") == first_event
    kept.checkin(backend, "opened_by_tracking_store", admin)


def test_a_changed_schema_gets_a_new_database(
    server_backend: tuple[str, KeptDatabases], tmp_path: Path
) -> None:
    backend, kept = server_backend
    admin = ADMIN_URLS[backend]
    url = kept.checkout(backend, "opened_by_tracking_store", admin)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX extra_index ON runs (name)")
    engine.dispose()
    kept.checkin(backend, "opened_by_tracking_store", admin)

    fresh = kept.checkout(backend, "opened_by_tracking_store", admin)
    assert fresh != url
    name = sa.engine.make_url(url).database
    exists = (
        f"SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'"
        if backend == "postgresql"
        else f"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{name}'"
    )
    assert _scalar(admin, exists) == 0
    kept.checkin(backend, "opened_by_tracking_store", admin)
