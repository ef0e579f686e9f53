"""runlab refuses a database that MLflow (or another program's migrations) set up or changed.

MLflow and runlab name their tables alike and both keep their schema revision in
``alembic_version``. MLflow pointed at a runlab database adds its tables and tries to run its
migrations; runlab pointed at an MLflow database would try to build its schema over MLflow's
tables. Either way runlab must stop with a message naming the problem, before writing anything.

Most tests construct the foreign state directly (see ``support.mlflow_database``): the tables and
the ``alembic_version`` row that MLflow leaves, cut down to the columns that tell them from
runlab's. The last tests produce the same states with MLflow's own SQL store, where it can be
imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runlab.errors import InvalidState
from runlab.store.sql import migrations
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.mlflow_database import (
    ALEMBIC_VERSION,
    MLFLOW_REVISION,
    MLFLOW_TABLES,
    add_mlflow_metrics_table,
    make_mlflow_database,
    snapshot,
)


def make_runlab_database(url: str, tmp_path: Path) -> None:
    store = SqlTrackingStore(url, tmp_path.as_uri())
    store.create_run("0", "alice", 1, [], "kept")
    store.close()


def opening_ways(url: str, tmp_path: Path) -> list[Callable[[], object]]:
    """Everything that opens a database: both stores, and the migrations `runlab db upgrade` runs."""
    return [
        lambda: SqlTrackingStore(url, tmp_path.as_uri()),
        lambda: SqlRegistryStore(url),
        lambda: migrations.upgrade(url),
    ]


@pytest.fixture
def folder_url(tmp_path: Path) -> str:
    """A SQLite file alone in a folder of its own, so that files appearing beside it show."""
    (tmp_path / "db").mkdir()
    return f"sqlite:///{tmp_path / 'db' / 'shared.db'}"


def test_an_mlflow_database_is_refused_and_left_as_it_was(db_url: str, tmp_path: Path) -> None:
    make_mlflow_database(db_url)
    before = snapshot(db_url)
    for open_it in opening_ways(db_url, tmp_path):
        with pytest.raises(InvalidState) as info:
            open_it()
        message = str(info.value)
        assert "is not a runlab database" in message
        assert f"schema revision {MLFLOW_REVISION!r} is not one of runlab's" in message
        assert "it is an MLflow database" in message and "runs" in message
        assert "cannot be shared with an MLflow server" in message
        assert "\n" not in message  # the server prints it as one line
    assert snapshot(db_url) == before


def test_a_runlab_database_that_mlflow_changed_is_refused(db_url: str, tmp_path: Path) -> None:
    make_runlab_database(db_url, tmp_path)
    add_mlflow_metrics_table(db_url)
    before = snapshot(db_url)
    for open_it in opening_ways(db_url, tmp_path):
        with pytest.raises(InvalidState, match="has been changed by MLflow") as info:
            open_it()
        assert "MLflow's table 'metrics'" in str(info.value)
        assert "Restore the database from a backup" in str(info.value)
    assert snapshot(db_url) == before


def test_a_refused_sqlite_file_stays_byte_for_byte(folder_url: str, tmp_path: Path) -> None:
    """runlab's own connections would switch the file to WAL and add -wal/-shm files beside it."""
    make_mlflow_database(folder_url)
    before = snapshot(folder_url)
    assert set(before["files"]) == {"shared.db"}
    for open_it in opening_ways(folder_url, tmp_path):
        with pytest.raises(InvalidState):
            open_it()
    assert snapshot(folder_url) == before


def test_a_runlab_database_whose_revision_mlflow_rewrote_is_refused(
    folder_url: str, tmp_path: Path
) -> None:
    make_runlab_database(folder_url, tmp_path)
    engine = sa.create_engine(folder_url)
    with engine.begin() as conn:
        conn.execute(ALEMBIC_VERSION.update().values(version_num=MLFLOW_REVISION))
    engine.dispose()
    before = snapshot(folder_url)
    for open_it in opening_ways(folder_url, tmp_path):
        with pytest.raises(InvalidState, match="is not a runlab database"):
            open_it()
    assert snapshot(folder_url) == before


def test_an_unknown_revision_is_not_taken_for_an_outdated_one(
    folder_url: str, tmp_path: Path
) -> None:
    make_runlab_database(folder_url, tmp_path)
    engine = sa.create_engine(folder_url)
    with engine.begin() as conn:
        conn.execute(ALEMBIC_VERSION.update().values(version_num="0099_from_the_future"))
    engine.dispose()
    with pytest.raises(InvalidState, match="another program's migrations manage it") as info:
        SqlTrackingStore(folder_url, tmp_path.as_uri())
    assert "runlab db upgrade" not in str(info.value)


def test_tables_named_like_runlabs_without_a_revision_are_not_built_over(
    db_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (id INTEGER PRIMARY KEY, note VARCHAR(20))"))
    engine.dispose()
    before = snapshot(db_url)
    for open_it in opening_ways(db_url, tmp_path):
        with pytest.raises(InvalidState, match=r"tables named like runlab's \(runs\)") as info:
            open_it()
        assert "no runlab schema revision" in str(info.value)
    assert snapshot(db_url) == before


def test_mlflow_tables_without_a_revision_are_named_as_mlflows(
    folder_url: str, tmp_path: Path
) -> None:
    """MLflow's tables from a set-up whose migrations failed before recording a revision."""
    engine = sa.create_engine(folder_url)
    with engine.begin() as conn:
        MLFLOW_TABLES.create_all(
            conn, tables=[t for t in MLFLOW_TABLES.sorted_tables if t.name != "alembic_version"]
        )
    engine.dispose()
    with pytest.raises(InvalidState, match="they are MLflow's"):
        SqlTrackingStore(folder_url, tmp_path.as_uri())


def test_unrelated_tables_do_not_stop_runlab(db_url: str, tmp_path: Path) -> None:
    """A database shared with another application's own tables is still usable."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("CREATE TABLE metrics (id INTEGER PRIMARY KEY, cpu FLOAT)"))
    engine.dispose()
    make_runlab_database(db_url, tmp_path)
    store = SqlTrackingStore(db_url, tmp_path.as_uri())
    try:
        assert [r.info.run_name for r in store.search_runs(["0"])] == ["kept"]
    finally:
        store.close()


# -- with MLflow's own SQL store --------------------------------------------------------------------


@pytest.fixture
def mlflow_sql_store() -> Any:
    """MLflow's SqlAlchemyStore class (mlflow-skinny ships it; skipped where it cannot load)."""
    module = pytest.importorskip("mlflow.store.tracking.sqlalchemy_store")
    return module.SqlAlchemyStore


@pytest.mark.slow
def test_a_database_that_mlflow_created_is_refused(
    mlflow_sql_store: Any, folder_url: str, tmp_path: Path
) -> None:
    mlflow_sql_store(folder_url, (tmp_path / "mlflow-artifacts").as_uri()).engine.dispose()
    before = snapshot(folder_url)
    for open_it in opening_ways(folder_url, tmp_path):
        with pytest.raises(InvalidState, match="it is an MLflow database"):
            open_it()
    assert snapshot(folder_url) == before


@pytest.mark.slow
def test_a_runlab_database_that_mlflow_opened_is_refused(
    mlflow_sql_store: Any, folder_url: str, tmp_path: Path
) -> None:
    make_runlab_database(folder_url, tmp_path)
    # MLflow creates the tables it misses, then fails to find runlab's revision among its own.
    with pytest.raises(Exception, match="Can't locate revision"):
        mlflow_sql_store(folder_url, (tmp_path / "mlflow-artifacts").as_uri())
    before = snapshot(folder_url)
    for open_it in opening_ways(folder_url, tmp_path):
        with pytest.raises(InvalidState, match="has been changed by MLflow"):
            open_it()
    assert snapshot(folder_url) == before
