"""MySQL/MariaDB: every string column in a binary NO PAD collation, so "lr" and "lr " are two keys.

Tables created by the earlier revisions use utf8mb4_bin, a PAD SPACE collation: there two keys
that differ only by trailing spaces collide in a primary key (a log-batch fails) or an upsert
(a set-tag overwrites the other key). schema.py explains the choice of collation. SQLite and
PostgreSQL already compare strings exactly, so this revision changes nothing there.

Converting rewrites each table, so it takes time in proportion to the data. No existing rows can
collide: strings that are equal under NO PAD are equal under PAD SPACE too.

Revision ID: 0004_exact_strings_on_mysql
Revises: 0003_model_registry
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0004_exact_strings_on_mysql"
down_revision = "0003_model_registry"
branch_labels = None
depends_on = None

# Frozen copies of what schema.py says at this revision.
MARIADB_COLLATION = "utf8mb4_nopad_bin"
MYSQL_COLLATION = "utf8mb4_0900_bin"
PREVIOUS_COLLATION = "utf8mb4_bin"
TABLES = (
    "experiments",
    "experiment_tags",
    "runs",
    "params",
    "tags",
    "latest_metrics",
    "metric_chunks",
    "datasets",
    "inputs",
    "input_tags",
    "logged_models",
    "logged_model_tags",
    "logged_model_params",
    "logged_model_metrics",
    "run_model_outputs",
    "run_model_inputs",
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
    "registry_events",
)


# The foreign keys between string columns, as the earlier revisions made them. MariaDB will not
# change the collation of a column in a foreign key, even with foreign_key_checks off, so they
# are dropped for the conversion and made again: (name, table, columns, referred table, referred
# columns, ON DELETE, ON UPDATE).
_RUN = (("run_id",), "runs", ("run_id",), "CASCADE", None)
_LOGGED_MODEL = (("model_id",), "logged_models", ("model_id",), "CASCADE", None)
_MODEL = (("name",), "registered_models", ("name",), "CASCADE", "CASCADE")
_VERSION = (("name", "version"), "model_versions", ("name", "version"), "CASCADE", "CASCADE")
FOREIGN_KEYS: tuple[tuple[Any, ...], ...] = (
    ("fk_params_run", "params", *_RUN),
    ("fk_tags_run", "tags", *_RUN),
    ("fk_latest_metrics_run", "latest_metrics", *_RUN),
    ("fk_metric_chunks_run", "metric_chunks", *_RUN),
    ("fk_inputs_run", "inputs", *_RUN),
    ("fk_inputs_dataset", "inputs", ("dataset_id",), "datasets", ("dataset_id",), None, None),
    (
        "fk_input_tags_input",
        "input_tags",
        ("run_id", "dataset_id"),
        "inputs",
        ("run_id", "dataset_id"),
        "CASCADE",
        None,
    ),
    ("fk_logged_model_tags_model", "logged_model_tags", *_LOGGED_MODEL),
    ("fk_logged_model_params_model", "logged_model_params", *_LOGGED_MODEL),
    ("fk_logged_model_metrics_model", "logged_model_metrics", *_LOGGED_MODEL),
    ("fk_run_model_outputs_run", "run_model_outputs", *_RUN),
    ("fk_run_model_outputs_model", "run_model_outputs", *_LOGGED_MODEL),
    ("fk_run_model_inputs_run", "run_model_inputs", *_RUN),
    ("fk_run_model_inputs_model", "run_model_inputs", *_LOGGED_MODEL),
    ("fk_registered_model_tags_model", "registered_model_tags", *_MODEL),
    ("fk_model_versions_model", "model_versions", *_MODEL),
    ("fk_model_version_tags_version", "model_version_tags", *_VERSION),
    ("fk_registered_model_aliases_version", "registered_model_aliases", *_VERSION),
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "mysql":
        return
    is_mariadb = getattr(conn.dialect, "is_mariadb", False)
    _convert(conn, MARIADB_COLLATION if is_mariadb else MYSQL_COLLATION)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "mysql":
        return
    # Going back to PAD SPACE would fold keys that differ only by trailing spaces into one, and
    # the conversion would stop with a duplicate key halfway through the tables. Refuse up front.
    for table in TABLES:
        clash = _trailing_space_clash(conn, table)
        if clash:
            raise RuntimeError(
                f"Cannot downgrade: table {table} holds keys that differ only by trailing spaces "
                f"({clash}), which the older schema cannot keep apart. Delete or rename one of "
                "each pair first."
            )
    _convert(conn, PREVIOUS_COLLATION)


def _convert(conn: Connection, collation: str) -> None:
    # Each ALTER TABLE commits on its own in MySQL. Should this stop halfway, running it again
    # drops the keys that are left, converts every table (again) and makes every key.
    inspector = sa.inspect(conn)
    existing = {
        (table, fk["name"])
        for table in {fk[1] for fk in FOREIGN_KEYS}
        for fk in inspector.get_foreign_keys(table)
    }
    for name, table, *_ in FOREIGN_KEYS:
        if (table, name) in existing:
            op.drop_constraint(name, table, type_="foreignkey")
    for table in TABLES:
        # CONVERT TO changes every string column and the table's default. The charset stays
        # utf8mb4, so no column changes its type or length.
        conn.exec_driver_sql(
            f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
        )
    for name, table, columns, referred, referred_columns, ondelete, onupdate in FOREIGN_KEYS:
        op.create_foreign_key(
            name,
            table,
            referred,
            list(columns),
            list(referred_columns),
            ondelete=ondelete,
            onupdate=onupdate,
        )


def _trailing_space_clash(conn: Connection, table: str) -> str | None:
    """A primary or unique key of ``table`` that two rows share once trailing spaces are ignored."""
    inspector = sa.inspect(conn)
    keys = [inspector.get_pk_constraint(table)["constrained_columns"]]
    keys += [u["column_names"] for u in inspector.get_unique_constraints(table)]
    string_columns = {
        c["name"] for c in inspector.get_columns(table) if isinstance(c["type"], sa.String)
    }
    for columns in keys:
        if not columns or not string_columns.intersection(columns):
            continue
        # Grouped in the old collation, "a" and "a " fall into one group.
        parts = [
            f"`{c}` COLLATE {PREVIOUS_COLLATION}" if c in string_columns else f"`{c}`"
            for c in columns
        ]
        row = conn.exec_driver_sql(
            f"SELECT {', '.join(parts)} FROM {table} GROUP BY {', '.join(parts)} "
            "HAVING COUNT(*) > 1 LIMIT 1"
        ).first()
        if row is not None:
            return ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=True))
    return None
