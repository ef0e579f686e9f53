"""Schema migrations: a fresh database gets the head revision, and the tables match schema.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from runlab.errors import InvalidState
from runlab.store.sql import migrations
from runlab.store.sql.engine import create_engine
from runlab.store.sql.schema import metadata
from runlab.store.sql.tracking import SqlTrackingStore


def test_head_constant_matches_alembic() -> None:
    assert migrations.head_revision() == migrations.HEAD_REVISION


def test_migrated_schema_matches_metadata(db_url: str) -> None:
    engine = create_engine(db_url)
    migrations.upgrade(engine)
    migrations.upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_outdated_database_is_refused_with_a_hint(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(InvalidState, match="runlab db upgrade"):
        SqlTrackingStore(sqlite_url, tmp_path.as_uri())
    engine.dispose()
