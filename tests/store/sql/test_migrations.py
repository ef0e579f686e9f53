"""Schema migrations: a fresh database gets the head revision, and the tables match schema.py."""

from __future__ import annotations

import sqlite3
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
            # Later revisions (0005 is SQLite's alone) step down; 0004 refuses.
            assert migrations.current_revision(conn) == "0004_exact_strings_on_mysql"
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


# -- 0005: SQLite's params, tags and latest_metrics become WITHOUT ROWID tables -------------------

_BEFORE_0005 = "0004_exact_strings_on_mysql"
_KEYED_BY_RUN = ("params", "tags", "latest_metrics")


def _without_rowid(conn: sa.Connection) -> dict[str, bool]:
    rows = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": list(_KEYED_BY_RUN)},
    ).all()
    return {name: sql.rstrip().upper().endswith("WITHOUT ROWID") for name, sql in rows}


def _keyed_rows(conn: sa.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: [
            tuple(row)
            for row in conn.execute(sa.text(f'SELECT * FROM {table} ORDER BY run_id, "key"'))
        ]
        for table in _KEYED_BY_RUN
    }


def _fill_0004_database(conn: sa.Connection) -> list[str]:
    """Runs with params, tags and latest metrics, as runlab wrote them at revision 0004."""
    conn.execute(
        sa.text(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES (0, 'Default', 'file:///a/0', 'active', 1, 1)"
        )
    )
    run_ids = [f"{i:032x}" for i in range(30, 0, -1)]  # inserted out of key order
    for n, run_id in enumerate(run_ids):
        conn.execute(
            sa.text(
                "INSERT INTO runs (run_id, experiment_id, name, status, artifact_uri, "
                "lifecycle_stage, start_time) "
                "VALUES (:r, 0, :name, 'FINISHED', 'file:///a/0/r', 'active', :n)"
            ),
            {"r": run_id, "name": f"run {n}", "n": n},
        )
        for key, value in (("lr", str(n / 10)), ("optimizer", "adam"), ("lr ", "x"), ("ü", "é")):
            conn.execute(
                sa.text("INSERT INTO params VALUES (:r, :k, :v)"),
                {"r": run_id, "k": key, "v": value},
            )
        # A long value spills to overflow pages, which a WITHOUT ROWID table does sooner.
        for key, tag in (("owner", "a"), ("note", "n" * 5000), ("empty", None)):
            conn.execute(
                sa.text("INSERT INTO tags VALUES (:r, :k, :v)"), {"r": run_id, "k": key, "v": tag}
            )
        for key, value, is_nan in (("loss", 1.0 / (n + 1), False), ("nan", None, True)):
            conn.execute(
                sa.text(
                    'INSERT INTO latest_metrics (run_id, "key", value, is_nan, timestamp, step, '
                    "min_value, max_value, count) VALUES (:r, :k, :v, :nan, :n, :n, :v, :v, 3)"
                ),
                {"r": run_id, "k": key, "v": value, "nan": is_nan, "n": n},
            )
    return run_ids


def test_sqlite_database_from_0004_upgrades_to_without_rowid_tables_with_every_row(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    migrations.upgrade(engine, _BEFORE_0005)
    with engine.begin() as conn:
        run_ids = _fill_0004_database(conn)
        conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        assert _without_rowid(conn) == dict.fromkeys(_KEYED_BY_RUN, False)
        before = _keyed_rows(conn)
    assert [len(before[t]) for t in _KEYED_BY_RUN] == [120, 90, 60]

    migrations.upgrade(engine)

    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        assert _without_rowid(conn) == dict.fromkeys(_KEYED_BY_RUN, True)
        assert _keyed_rows(conn) == before
        assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        # Same columns, keys, foreign keys (with ON DELETE CASCADE) and indexes as schema.py.
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        for table in _KEYED_BY_RUN:
            (fk,) = conn.execute(sa.text(f"PRAGMA foreign_key_list({table})")).mappings().all()
            assert (fk["table"], fk["from"], fk["to"], fk["on_delete"]) == (
                "runs",
                "run_id",
                "run_id",
                "CASCADE",
            )
        # ANALYZE's statistics of the rebuilt tables and their indexes are gathered again.
        # (A WITHOUT ROWID table's primary key has its statistics under the table's name.)
        analyzed = {
            (tbl, idx): stat
            for tbl, idx, stat in conn.execute(sa.text("SELECT tbl, idx, stat FROM sqlite_stat1"))
        }
        assert analyzed[("params", "params")] == "120 4 1"
        assert analyzed[("tags", "tags")] == "90 3 1"
        assert analyzed[("latest_metrics", "latest_metrics")] == "60 2 1"
        assert analyzed[("latest_metrics", "ix_latest_metrics_key_value")].startswith("60 30 ")
    # The foreign keys are enforced: no param for a missing run, deleting a run cascades.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO params VALUES (:r, 'lr', '1')"), {"r": "f" * 32})
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM runs WHERE run_id = :r"), {"r": run_ids[0]})
    with engine.connect() as conn:
        left = _keyed_rows(conn)
    engine.dispose()
    assert all(left[t] == [row for row in before[t] if row[0] != run_ids[0]] for t in _KEYED_BY_RUN)

    # The store reads the migrated rows and writes new ones.
    store = SqlTrackingStore(sqlite_url, tmp_path.as_uri())
    try:
        run_id = run_ids[1]
        store.log_param(run_id, Param("batch", "32"))
        store.set_tag(run_id, RunTag("owner", "b"))
        data = store.get_run(run_id).data
        assert data.params == {
            "lr": "0.1",
            "optimizer": "adam",
            "lr ": "x",
            "ü": "é",
            "batch": "32",
        }
        assert (data.tags["owner"], data.tags["note"]) == ("b", "n" * 5000)
        assert data.metrics["loss"] == 0.5
        found = store.search_runs(["0"], "params.lr = '0.1' and metrics.loss > 0.4")
        assert [run.info.run_id for run in found] == [run_id]
    finally:
        store.close()


def test_sqlite_downgrade_from_0005_gives_rowid_tables_with_every_row(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    migrations.upgrade(engine, _BEFORE_0005)
    with engine.begin() as conn:
        _fill_0004_database(conn)
    migrations.upgrade(engine)
    try:
        with engine.connect() as conn:
            before = _keyed_rows(conn)
            command.downgrade(migrations._alembic_config(conn), _BEFORE_0005)
            conn.commit()
            assert migrations.current_revision(conn) == _BEFORE_0005
            assert _without_rowid(conn) == dict.fromkeys(_KEYED_BY_RUN, False)
            assert _keyed_rows(conn) == before
            assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
            indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("latest_metrics")}
            assert indexes == {"ix_latest_metrics_key_value"}
    finally:
        engine.dispose()


def test_sqlite_upgrade_to_0005_refuses_rows_without_a_run_and_changes_nothing(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url)
    migrations.upgrade(engine, _BEFORE_0005)
    with engine.begin() as conn:
        _fill_0004_database(conn)
    # Written with foreign keys off, as the sqlite3 shell does by default.
    raw = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    raw.execute("INSERT INTO tags VALUES (?, 'orphan', 'x')", ("e" * 32,))
    raw.commit()
    raw.close()
    with engine.connect() as conn:
        before = _keyed_rows(conn)
    try:
        with pytest.raises(
            RuntimeError, match=r"rebuild table tags: it holds 1 row\(s\) whose run"
        ):
            migrations.upgrade(engine)
        with engine.connect() as conn:
            assert migrations.current_revision(conn) == _BEFORE_0005
            assert _without_rowid(conn) == dict.fromkeys(_KEYED_BY_RUN, False)
            assert _keyed_rows(conn) == before
    finally:
        engine.dispose()


def test_a_fresh_sqlite_database_gets_without_rowid_tables(sqlite_url: str, tmp_path: Path) -> None:
    SqlTrackingStore(sqlite_url, tmp_path.as_uri()).close()
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert _without_rowid(conn) == dict.fromkeys(_KEYED_BY_RUN, True)
            # The metric index's entries end with run_id (the rest of the primary key), not a
            # rowid, so a walk by key and value finds the runs without visiting the table.
            columns = conn.execute(sa.text("PRAGMA index_xinfo(ix_latest_metrics_key_value)"))
            assert [row.name for row in columns] == ["key", "value", "run_id"]
    finally:
        engine.dispose()
