"""Alembic environment: runs on the connection the caller put in ``config.attributes``."""

from alembic import context

from runlab.store.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
