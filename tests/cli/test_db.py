"""``runlab db upgrade`` on fresh and current databases."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from runlab.cli.main import cli


def tables(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_in_a_fresh_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = CliRunner().invoke(cli, ["db", "upgrade", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "Created the runlab schema" in result.stdout
    assert {"experiments", "runs", "alembic_version"} <= tables(db)


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'twice.db'}"
    CliRunner().invoke(cli, ["db", "upgrade", uri])
    again = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert again.exit_code == 0, again.output
    assert "already at schema revision" in again.stdout


def test_upgrade_uses_the_tracking_uri_when_no_uri_is_given(tmp_path: Path) -> None:
    db = tmp_path / "tracked.db"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--tracking-uri", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "alembic_version" in tables(db)


def test_upgrade_refuses_a_non_database_uri(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a database URI" in result.stderr


def test_upgrade_migrates_an_older_database_and_keeps_its_data(tmp_path: Path) -> None:
    from runlab.store.sql import migrations
    from runlab.store.sql.engine import create_engine
    from runlab.store.sql.tracking import SqlTrackingStore

    db = tmp_path / "old.db"
    uri = f"sqlite:///{db}"
    engine = create_engine(uri)
    migrations.upgrade(engine, "0001_initial")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) "
                "VALUES (7, 'kept', 'file:///x/7', 'active', 1, 1)"
            )
        )
    engine.dispose()
    assert "logged_models" not in tables(db)

    result = CliRunner().invoke(cli, ["db", "upgrade", uri])

    assert result.exit_code == 0, result.output
    assert "logged_models" in tables(db)
    store = SqlTrackingStore(uri, (tmp_path / "artifacts").as_uri())
    assert store.get_experiment("7").name == "kept"
    store.close()
