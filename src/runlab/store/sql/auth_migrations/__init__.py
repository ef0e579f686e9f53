"""Alembic migrations of the authentication tables, run programmatically.

The auth tables keep their revision in a version table of their own
(:data:`~runlab.store.sql.auth_schema.VERSION_TABLE`), not in the tracking store's
``alembic_version``. So they can share the tracking store's database (both chains then live
side by side, each ignoring the other's tables) or have an empty database to themselves.

Unlike the tracking store, the auth store migrates its tables when it opens a database: they
are few and small, so an upgrade takes moments, and a server must not start with an auth schema
it cannot read. A database whose auth revision this runlab does not know (a newer runlab made
it) is refused, and so is a database that belongs to another program (MLflow's above all), before
anything is written to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from runlab.errors import InvalidState
from runlab.store.sql import auth_schema, migrations

#: Every revision of the auth tables, oldest first; a test checks it against Alembic's history.
REVISIONS = ("auth_0001_initial",)

#: The newest revision; a test checks it equals Alembic's head, so opening the store needs no
#: Alembic import when the database is current.
HEAD_REVISION = REVISIONS[-1]

_LOCK_NAME = "runlab_auth_schema_migration"


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The auth tables' revision, or None for a database without them."""
    if not sa.inspect(connection).has_table(auth_schema.VERSION_TABLE):
        return None
    row: Any = connection.execute(
        sa.select(sa.column("version_num")).select_from(sa.table(auth_schema.VERSION_TABLE))
    ).first()
    return row[0] if row else None


def head_revision() -> str:
    """Alembic's view of the newest auth revision (imports Alembic)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(Path(__file__).parent)).get_current_head()
    assert head is not None
    return head


def ensure_schema(engine: Engine) -> None:
    """Bring the auth tables of ``engine``'s database to the newest revision, creating them.

    The check for a current database only reads, through a connection of its own.
    """
    from runlab.store.sql.engine import create_inspection_engine

    reader = create_inspection_engine(engine.url)
    try:
        with reader.connect() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
    finally:
        reader.dispose()
    upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the auth tables of ``engine``'s database to ``revision``.

    A lock is held meanwhile, so processes that open a new database at the same time take
    turns; the revision is read again under it, so only the first one migrates.
    """
    from alembic import command

    # Refuses a database another program's migrations manage (MLflow's tracking or basic-auth
    # database), reading only. The tracking store's own tables are welcome here.
    migrations.owned_revision(engine)
    with engine.connect() as conn:
        conn.execution_options(runlab_write=True)
        with conn.begin():
            _lock(conn)
            try:
                current = _known_revision(conn, _shown(engine))
                if current != HEAD_REVISION or revision != "head":
                    command.upgrade(_alembic_config(conn), revision)
            finally:
                _unlock(conn)


def _known_revision(conn: Connection, shown: str) -> str | None:
    revision = current_revision(conn)
    if revision is not None and revision not in REVISIONS:
        raise InvalidState(
            f"The authentication tables in {shown!r} are at revision {revision!r}, which this "
            "runlab does not know: a newer runlab made them. Upgrade runlab to use this "
            "database; nothing was changed in it."
        )
    if revision is None:
        existing = sorted(
            set(sa.inspect(conn).get_table_names()).intersection(auth_schema.metadata.tables)
        )
        if existing:
            raise InvalidState(
                f"The database {shown!r} has tables named like runlab's authentication tables "
                f"({', '.join(existing)}) but no record of their revision (table "
                f"{auth_schema.VERSION_TABLE!r}), so runlab will not build its tables over "
                "them. Drop them if they are left over from an interrupted set-up, or point "
                "the auth store at an empty database; nothing was changed in it."
            )
    return revision


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
