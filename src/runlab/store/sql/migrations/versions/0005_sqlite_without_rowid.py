"""SQLite: params, tags and latest_metrics become WITHOUT ROWID tables.

A runs search probes these tables by their primary key (run_id, key) once per candidate run, and
then reads a page's params, tags and latest metrics by run_id. In a rowid table each probe is two
b-tree descents: the primary key's index, then the table by rowid. A WITHOUT ROWID table keeps its
rows in the primary key's b-tree, so a probe is one, and ix_latest_metrics_key_value, whose entries
then end with the primary key, gives run_id to a walk in metric order without a visit to the table.
PostgreSQL and MySQL/MariaDB have no rowid (InnoDB already clusters rows by the primary key), so
this revision changes nothing there.

SQLite cannot change a table in place: each of the three is renamed, made again with the same
columns, constraints, foreign key and indexes, filled from the old one in primary key order, and
the old one dropped, all in the migration's one transaction. The copy takes time and temporary disk
space (the WAL file grows) in proportion to those three tables: seconds per million rows. The
metric points (metric_chunks), most of a large database, are not copied. Rows whose run no longer
exists (only possible where something wrote with foreign keys off) cannot be copied while foreign
keys are enforced; the upgrade then stops before changing anything and says how to find them.

Revision ID: 0005_sqlite_without_rowid
Revises: 0004_exact_strings_on_mysql
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection
from sqlalchemy.schema import SchemaItem

revision = "0005_sqlite_without_rowid"
down_revision = "0004_exact_strings_on_mysql"
branch_labels = None
depends_on = None


# Frozen copies of what schema.py says about the three tables at this revision.
def _run_fk(name: str) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.run_id", name=name, ondelete="CASCADE"),
        primary_key=True,
    )


def _params() -> list[SchemaItem]:
    return [
        _run_fk("fk_params_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
    ]


def _tags() -> list[SchemaItem]:
    return [
        _run_fk("fk_tags_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=True),
    ]


def _latest_metrics() -> list[SchemaItem]:
    return [
        _run_fk("fk_latest_metrics_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("min_value", sa.Double, nullable=True),
        sa.Column("max_value", sa.Double, nullable=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Index("ix_latest_metrics_key_value", "key", "value"),
    ]


TABLES: tuple[tuple[str, Callable[[], list[SchemaItem]]], ...] = (
    ("params", _params),
    ("tags", _tags),
    ("latest_metrics", _latest_metrics),
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _rebuild(conn, with_rowid=False)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _rebuild(conn, with_rowid=True)


def _rebuild(conn: Connection, with_rowid: bool) -> None:
    # Foreign keys stay on (they cannot be switched inside a transaction): every copied row is
    # checked against runs, and nothing refers to these three tables, so dropping the old ones
    # cascades nowhere. Rows without a run are looked for first, so that the upgrade refuses
    # with a clear message instead of failing halfway through a copy (and rolling back).
    for name, _ in TABLES:
        orphans = conn.exec_driver_sql(f"PRAGMA foreign_key_check({name})").fetchall()
        if orphans:
            raise RuntimeError(
                f"Cannot rebuild table {name}: it holds {len(orphans)} row(s) whose run does "
                "not exist, which the new table's foreign key would refuse. List them with "
                f"`SELECT * FROM {name} WHERE run_id NOT IN (SELECT run_id FROM runs)`, delete "
                "them (or restore their runs) and try again. Nothing has been changed."
            )
    analyzed = sa.inspect(conn).has_table("sqlite_stat1")
    for name, definition in TABLES:
        old = f"_{name}_rebuilt"
        items = definition()
        # Index names are global in SQLite: the old table's indexes go before the new ones are
        # made (with the table, by create_table).
        for item in items:
            if isinstance(item, sa.Index):
                op.drop_index(str(item.name), table_name=name)
        op.rename_table(name, old)
        table = op.create_table(name, *items, sqlite_with_rowid=with_rowid)
        names = ", ".join(f'"{column.name}"' for column in table.columns)
        # In primary key order, so the new b-tree is filled from left to right, its pages full.
        conn.exec_driver_sql(
            f'INSERT INTO {name} ({names}) SELECT {names} FROM {old} ORDER BY run_id, "key"'
        )
        op.drop_table(old)
        # Where ANALYZE has been run, the old table's statistics are gone or stale (the
        # dropped index's went with it): gather the new table's, so plans stay as informed.
        if analyzed:
            conn.exec_driver_sql(f"ANALYZE {name}")
