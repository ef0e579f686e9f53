"""``runlab db``: database maintenance (schema migrations)."""

from __future__ import annotations

import click

from runlab.cli.options import TRACKING_URI_HELP


@click.group("db")
def db() -> None:
    """Maintain the tracking database."""


@db.command("upgrade")
@click.argument("uri", required=False, metavar="[URI]")
@click.option("--tracking-uri", "tracking_uri", default=None, metavar="URI", help=TRACKING_URI_HELP)
def upgrade(uri: str | None, tracking_uri: str | None) -> None:
    """Migrate a database to the newest runlab schema.

    URI is a database URI such as sqlite:///runlab.db or postgresql://user@host/db; without it,
    the tracking URI is used. Back the database up first. Running it again is harmless.
    """
    from runlab import uris
    from runlab.errors import InvalidParameter
    from runlab.store.sql.engine import create_engine
    from runlab.store.sql.migrations import current_revision, owned_revision
    from runlab.store.sql.migrations import upgrade as migrate
    from runlab.tracking import config

    if uri is not None and tracking_uri is not None and uri != tracking_uri:
        raise click.UsageError("Give the database either as URI or as --tracking-uri, not both.")
    target = uri or tracking_uri or config.get_tracking_uri()
    if not uris.is_sql_uri(target):
        raise InvalidParameter(
            f"{target!r} is not a database URI; `runlab db upgrade` takes sqlite:///file.db, "
            "postgresql://user@host/db or mysql://user@host/db."
        )
    engine = create_engine(target)
    try:
        shown = engine.url.render_as_string(hide_password=True)
        # Refuses a database that is not runlab's (an MLflow one) before touching it.
        before = owned_revision(engine)
        migrate(engine)
        with engine.connect() as conn:
            after = current_revision(conn)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"{shown} is already at schema revision {after}.")
    elif before is None:
        click.echo(f"Created the runlab schema in {shown} (revision {after}).")
    else:
        click.echo(f"Upgraded {shown} from schema revision {before} to {after}.")
