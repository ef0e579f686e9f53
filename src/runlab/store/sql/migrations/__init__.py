"""Alembic migrations of the SQL store, run programmatically (no alembic.ini needed).

``upgrade(url)`` brings any runlab database to the newest schema; the store calls
``ensure_schema`` when it opens a database, which creates a fresh one and refuses an outdated one
with a message that names ``runlab db upgrade``. An empty database gets the tables of
``schema.py`` directly, stamped with the newest revision; the migrations take older databases
there step by step.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.errors import InvalidState
from runlab.store.sql import schema

#: Every revision runlab has had, oldest first; a test checks it against Alembic's history.
REVISIONS = (
    "0001_initial",
    "0002_logged_models",
    "0003_model_registry",
    "0004_exact_strings_on_mysql",
)

#: The newest revision; a test checks it equals Alembic's head, so opening a store needs no
#: Alembic import when the database is current.
HEAD_REVISION = REVISIONS[-1]

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
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision == HEAD_REVISION:
        return
    if revision is None:
        upgrade(engine)
        return
    raise InvalidState(
        f"The database {engine.url.render_as_string(hide_password=True)!r} has schema revision "
        f"{revision!r} but this runlab needs {HEAD_REVISION!r}. Back it up, then run "
        f"`runlab db upgrade <uri>` to migrate it."
    )


def _lock(conn: Connection) -> None:
    # SQLite: the BEGIN IMMEDIATE of a write connection already serialises migrations.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": _LOCK_NAME})
    elif conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(sa.text("SELECT GET_LOCK(:name, 600)"), {"name": _LOCK_NAME})


def _unlock(conn: Connection) -> None:
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
