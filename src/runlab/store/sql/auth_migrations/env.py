"""Alembic environment of the auth tables: their own metadata and their own version table."""

from alembic import context

from runlab.store.sql.auth_schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
context.run_migrations()
