"""Model registry: registered models, versions, their tags and aliases, and the change history.

Revision ID: 0003_model_registry
Revises: 0002_logged_models
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_model_registry"
down_revision = "0002_logged_models"
branch_labels = None
depends_on = None

# A frozen copy of what schema.py said at this revision.
MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _name(primary_key: bool = True) -> sa.Column:
    return sa.Column("name", sa.String(256), primary_key=primary_key, nullable=False)


def _model_fk(name: str) -> sa.Column:
    return sa.Column(
        "name",
        sa.String(256),
        sa.ForeignKey("registered_models.name", name=name, onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )


def _version_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name=name,
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        _name(),
        sa.Column("model_uid", sa.String(32), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("description", LONG_TEXT, nullable=True),
        sa.Column("next_version", sa.Integer, nullable=False),
        **MYSQL,
    )
    op.create_table(
        "registered_model_tags",
        _model_fk("fk_registered_model_tags_model"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", LONG_TEXT, nullable=True),
        **MYSQL,
    )
    op.create_table(
        "model_versions",
        _model_fk("fk_model_versions_model"),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("description", LONG_TEXT, nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("run_id", sa.String(256), nullable=True),
        sa.Column("run_link", sa.Text, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("storage_location", sa.Text, nullable=True),
        sa.Column("model_id", sa.String(36), nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Index("ix_model_versions_run_id", "run_id"),
        **MYSQL,
    )
    op.create_table(
        "model_version_tags",
        _name(),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", LONG_TEXT, nullable=True),
        _version_fk("fk_model_version_tags_version"),
        **MYSQL,
    )
    op.create_table(
        "registered_model_aliases",
        _name(),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        _version_fk("fk_registered_model_aliases_version"),
        sa.Index("ix_registered_model_aliases_version", "name", "version"),
        **MYSQL,
    )
    op.create_table(
        "registry_events",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        _name(primary_key=False),
        sa.Column("model_uid", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("from_value", sa.String(255), nullable=True),
        sa.Column("to_value", sa.String(255), nullable=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Index("ix_registry_events_name_time", "name", "timestamp"),
        sa.Index("ix_registry_events_model", "model_uid"),
        **MYSQL,
    )


def downgrade() -> None:
    for table in (
        "registry_events",
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
