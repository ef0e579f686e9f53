"""Alembic migrations of the SQL store, run programmatically (no alembic.ini needed).

``upgrade(url)`` brings any runlab database to the newest schema; the store calls
``ensure_schema`` when it opens a database, which creates a fresh one and refuses an outdated one
with a message that names ``runlab db upgrade``. An empty database gets the tables of
``schema.py`` directly, stamped with the newest revision; the migrations take older databases
there step by step.

Both first make sure the database is runlab's (``owned_revision``). A database that another
program's migrations manage, MLflow's above all (its tables share names with runlab's, and both
keep their revision in ``alembic_version``), is refused before anything is written, so runlab
never runs its migrations over someone else's tables and leaves a half-migrated database behind.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from runlab.errors import InvalidState
from runlab.store.sql import schema

#: Every revision runlab has had, oldest first; a test checks it against Alembic's history.
REVISIONS = (
    "0001_initial",
    "0002_logged_models",
    "0003_model_registry",
    "0004_exact_strings_on_mysql",
    "0005_sqlite_without_rowid",
)

#: The newest revision; a test checks it equals Alembic's head, so opening a store needs no
#: Alembic import when the database is current.
HEAD_REVISION = REVISIONS[-1]

#: MLflow names the run id column ``run_uuid`` in its run tables, runlab calls it ``run_id``.
_MLFLOW_RUN_COLUMN = "run_uuid"
_MLFLOW_RUN_TABLES = ("runs", "metrics", "params", "tags", "latest_metrics")
#: A table MLflow always has and runlab never creates. MLflow's server, pointed at a database
#: that lacks its tables, creates them before it runs its own migrations, so this one stays
#: behind in a runlab database that MLflow has touched, even when those migrations then fail.
_MLFLOW_MARK_TABLE = "metrics"

_LOCK_NAME = "runlab_schema_migration"


def _alembic_config(connection: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The database's schema revision, or None for a database without runlab tables."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def head_revision() -> str:
    """Alembic's view of the newest revision (imports Alembic)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(__file__).parent))
    head = script.get_current_head()
    assert head is not None
    return head


def upgrade(target: sa.engine.Engine | str, revision: str = "head") -> None:
    """Migrate a database (an engine or a URL) to ``revision``.

    A lock is held meanwhile, so processes that open a new database at the same time take turns.
    A database that is not runlab's is refused first (see :func:`owned_revision`).
    """
    from alembic import command

    if isinstance(target, str):
        from runlab.store.sql.engine import create_engine

        engine = create_engine(target)
        try:
            upgrade(engine, revision)
        finally:
            engine.dispose()
        return
    owned_revision(target)
    with target.connect() as conn:
        conn.execution_options(runlab_write=True)
        with conn.begin():
            _lock(conn)
            current = current_revision(conn)
            if current is None and revision in ("head", HEAD_REVISION):
                _create_schema(conn)
            elif current != HEAD_REVISION or revision != "head":
                command.upgrade(_alembic_config(conn), revision)
            _unlock(conn)


def _create_schema(conn: Connection) -> None:
    """Create schema.py's tables in an empty database and record the newest revision.

    Running every migration would end at the same tables (a test compares the two) but takes
    longer, most of all on MySQL, where a later revision rewrites every table the first ones
    made.
    """
    from alembic import command

    schema.metadata.create_all(conn)
    command.stamp(_alembic_config(conn), HEAD_REVISION)


def ensure_schema(engine: sa.engine.Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision."""
    revision = owned_revision(engine)
    if revision == HEAD_REVISION:
        return
    if revision is None:
        upgrade(engine)
        return
    raise InvalidState(
        f"The database {_shown(engine)!r} has schema revision "
        f"{revision!r} but this runlab needs {HEAD_REVISION!r}. Back it up, then run "
        f"`runlab db upgrade <uri>` to migrate it."
    )


def owned_revision(engine: Engine) -> str | None:
    """The database's runlab schema revision, or None when it has no runlab tables yet.

    Raises :class:`InvalidState` when the database belongs to another program: its
    ``alembic_version`` holds a revision that is not runlab's, MLflow has added its tables to it,
    or it has tables named like runlab's but no revision. The check only reads, through a
    connection of its own that is closed afterwards: ``engine``'s SQLite connections switch a
    file to WAL journaling, which would rewrite the header of a file that is then refused.
    """
    from runlab.store.sql.engine import create_inspection_engine

    reader = create_inspection_engine(engine.url)
    try:
        with reader.connect() as conn:
            try:
                return _owned_revision(conn, _shown(engine))
            except _TablesWithoutRevision:
                # MySQL commits each CREATE TABLE at once, so another process creating the
                # schema right now shows tables and no revision yet: look again once its
                # migration (which holds the lock) is done. SQLite and PostgreSQL create the
                # whole schema in one transaction, so there the first look was final.
                if conn.dialect.name not in ("mysql", "mariadb"):
                    raise
            conn.rollback()  # end the first look's transaction, so the second sees new commits
            with conn.begin():
                _lock(conn)
                try:
                    return _owned_revision(conn, _shown(engine))
                finally:
                    _unlock(conn)
    finally:
        reader.dispose()


def _owned_revision(conn: Connection, shown: str) -> str | None:
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    revision = current_revision(conn) if "alembic_version" in tables else None

    def is_mlflows(table: str) -> bool:
        return table in tables and any(
            column["name"] == _MLFLOW_RUN_COLUMN for column in inspector.get_columns(table)
        )

    def mlflow_tables() -> list[str]:
        return [table for table in _MLFLOW_RUN_TABLES if is_mlflows(table)]

    not_shared = (
        "runlab's database belongs to runlab alone and cannot be shared with an MLflow server; "
        "runlab has changed nothing in it."
    )
    if revision is not None and revision not in REVISIONS:
        found = mlflow_tables()
        whose = (
            f"it is an MLflow database (MLflow's tables: {', '.join(found)})"
            if found
            else "another program's migrations manage it"
        )
        raise InvalidState(
            f"The database {shown!r} is not a runlab database: its schema revision {revision!r} "
            f"is not one of runlab's, so {whose}. Point runlab at a database of its own (a new "
            f"SQLite file or an empty database). {not_shared}"
        )
    if revision is not None:
        if is_mlflows(_MLFLOW_MARK_TABLE):
            raise InvalidState(
                f"The runlab database {shown!r} has been changed by MLflow: it holds MLflow's "
                f"table {_MLFLOW_MARK_TABLE!r}, which an MLflow server adds to a database it is "
                "pointed at. Restore the database from a backup (or drop that table if MLflow "
                f"changed nothing else) and give MLflow a database of its own. {not_shared}"
            )
        return revision
    existing = sorted(tables.intersection(schema.metadata.tables))
    if existing:
        whose = (
            "MLflow's"
            if mlflow_tables()
            else "another program's, or left behind by an interrupted set-up"
        )
        raise _TablesWithoutRevision(
            f"The database {shown!r} has tables named like runlab's ({', '.join(existing)}) but "
            f"no runlab schema revision: they are {whose}, and runlab will not build its schema "
            f"over them. Point runlab at a new SQLite file or an empty database. {not_shared}"
        )
    return None


class _TablesWithoutRevision(InvalidState):
    """Tables named like runlab's, but no runlab revision."""


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _lock(conn: Connection) -> None:
    # SQLite: the BEGIN IMMEDIATE of a write connection already serialises migrations.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": _LOCK_NAME})
    elif conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(sa.text("SELECT GET_LOCK(:name, 600)"), {"name": _LOCK_NAME})


def _unlock(conn: Connection) -> None:
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
