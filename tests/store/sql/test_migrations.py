"""Schema migrations: a fresh database gets the head revision, and the tables match schema.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from runlab.entities import Param, RunTag
from runlab.errors import InvalidState
from runlab.store.sql import migrations
from runlab.store.sql.engine import create_engine
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.schema import metadata, mysql_collation
from runlab.store.sql.tracking import SqlTrackingStore
from support.mysql_schema import string_column_collations


def test_head_constant_matches_alembic() -> None:
    assert migrations.head_revision() == migrations.HEAD_REVISION


def test_migrated_schema_matches_metadata(db_url: str) -> None:
    """Every migration in turn, from the first, ends at the tables schema.py declares."""
    engine = create_engine(db_url)
    migrations.upgrade(engine, migrations.REVISIONS[0])
    migrations.upgrade(engine)
    migrations.upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # Alembic does not compare collations: on MySQL every string column must compare
        # exactly, as schema.py declares (see test_trailing_space_keys).
        if conn.dialect.name == "mysql":
            collations = set(string_column_collations(conn).values())
            assert collations == {mysql_collation(conn.dialect)}
    engine.dispose()
    assert diff == []


def test_a_fresh_database_gets_the_schema_at_the_newest_revision(db_url: str) -> None:
    engine = create_engine(db_url)
    migrations.upgrade(engine)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        if conn.dialect.name == "mysql":
            collations = set(string_column_collations(conn).values())
            assert collations == {mysql_collation(conn.dialect)}
    engine.dispose()


def test_outdated_database_is_refused_with_a_hint(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url)
    migrations.upgrade(engine, migrations.REVISIONS[-2])
    with pytest.raises(InvalidState, match="runlab db upgrade"):
        SqlTrackingStore(sqlite_url, tmp_path.as_uri())
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.REVISIONS[-2]
    engine.dispose()


def test_revisions_list_alembic_history() -> None:

    script = ScriptDirectory(str(Path(migrations.__file__).parent))
    oldest_first = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert oldest_first == list(migrations.REVISIONS)


# -- 0004: MySQL/MariaDB string columns become binary NO PAD --------------------------------------

_BEFORE_0004 = "0003_model_registry"


def _fill_0003_database(conn: sa.Connection) -> None:
    """Rows as runlab wrote them at revision 0003: a run with a param and a tag, a model."""
    conn.execute(
        sa.text(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES (0, 'Default', 'file:///a/0', 'active', 1, 1)"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO runs (run_id, experiment_id, name, status, artifact_uri, "
            "lifecycle_stage) VALUES (:r, 0, 'old', 'RUNNING', 'file:///a/0/r', 'active')"
        ),
        {"r": "a" * 32},
    )
    conn.execute(sa.text("INSERT INTO params VALUES (:r, 'lr', '0.1')"), {"r": "a" * 32})
    conn.execute(sa.text("INSERT INTO tags VALUES (:r, 'owner', 'a')"), {"r": "a" * 32})
    conn.execute(
        sa.text(
            "INSERT INTO registered_models (name, model_uid, creation_timestamp, "
            "last_updated_timestamp, next_version) VALUES ('fraud', :u, 1, 1, 1)"
        ),
        {"u": "b" * 32},
    )
    conn.execute(sa.text("INSERT INTO registered_model_tags VALUES ('fraud', 'team', 'risk')"))


@pytest.mark.parametrize("db_url", ["mysql"], indirect=True)
def test_mysql_database_from_0003_keeps_trailing_space_keys_apart_after_upgrade(
    db_url: str, tmp_path: Path
) -> None:

    engine = create_engine(db_url)
    migrations.upgrade(engine, _BEFORE_0004)
    with engine.begin() as conn:
        _fill_0003_database(conn)
        assert set(string_column_collations(conn).values()) == {"utf8mb4_bin"}

    migrations.upgrade(engine)

    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        assert set(string_column_collations(conn).values()) == {"utf8mb4_nopad_bin"}
        # The foreign keys dropped for the conversion are all back, as schema.py declares them.
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
    store = SqlTrackingStore(db_url, tmp_path.as_uri())
    registry = SqlRegistryStore(db_url)
    try:
        store.log_param("a" * 32, Param("lr ", "0.2"))
        store.set_tag("a" * 32, RunTag("owner ", "b"))
        registry.set_registered_model_tag("fraud", "team ", "ops")
        data = store.get_run("a" * 32).data
        assert data.params == {"lr": "0.1", "lr ": "0.2"}
        assert (data.tags["owner"], data.tags["owner "]) == ("a", "b")
        assert registry.get_registered_model("fraud").tags == {"team": "risk", "team ": "ops"}
    finally:
        registry.close()
        store.close()


@pytest.mark.parametrize("db_url", ["mysql"], indirect=True)
def test_downgrade_from_0004_refuses_keys_the_old_collation_would_merge(
    db_url: str, tmp_path: Path
) -> None:

    store = SqlTrackingStore(db_url, tmp_path.as_uri())
    run_id = store.create_run("0", "u", 1, [RunTag("owner", "a")], "r").info.run_id
    store.set_tag(run_id, RunTag("owner ", "b"))
    store.close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            with pytest.raises(RuntimeError, match=r"tags holds keys .*trailing spaces"):
                command.downgrade(migrations._alembic_config(conn), _BEFORE_0004)
            assert migrations.current_revision(conn) == migrations.HEAD_REVISION
            assert set(string_column_collations(conn).values()) == {"utf8mb4_nopad_bin"}
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tags WHERE `key` = 'owner '"))
        with engine.connect() as conn:
            command.downgrade(migrations._alembic_config(conn), _BEFORE_0004)
            conn.commit()
            assert migrations.current_revision(conn) == _BEFORE_0004
            assert set(string_column_collations(conn).values()) == {"utf8mb4_bin"}
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
