"""Authentication: users, access tokens, experiment and registered-model permissions, audit log.

Revision ID: auth_0001_initial
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "auth_0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy of what auth_schema.py says at this revision. On MySQL/MariaDB every string
# column compares exactly (case and trailing spaces count), as the tracking tables do: the
# table's default collation is the server's binary NO PAD one, which each column inherits.
MARIADB_COLLATION = "utf8mb4_nopad_bin"
MYSQL_COLLATION = "utf8mb4_0900_bin"
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _table_options() -> dict[str, Any]:
    dialect = op.get_bind().dialect
    collation = MARIADB_COLLATION if getattr(dialect, "is_mariadb", False) else MYSQL_COLLATION
    return {"mysql_charset": "utf8mb4", "mysql_collate": collation}


def _user_fk(name: str, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "user_id",
        ID,
        sa.ForeignKey("auth_users.id", name=name, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    options = _table_options()
    op.create_table(
        "auth_users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(512), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("username", name="uq_auth_users_username"),
        sqlite_autoincrement=True,
        **options,
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _user_fk("fk_auth_tokens_user"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("secret_hash", name="uq_auth_tokens_secret_hash"),
        sqlite_autoincrement=True,
        **options,
    )
    op.create_index("ix_auth_tokens_user", "auth_tokens", ["user_id"])
    op.create_table(
        "auth_experiment_permissions",
        sa.Column("experiment_id", sa.String(64), primary_key=True),
        _user_fk("fk_auth_experiment_permissions_user", primary_key=True),
        sa.Column("permission", sa.String(32), nullable=False),
        **options,
    )
    op.create_index(
        "ix_auth_experiment_permissions_user", "auth_experiment_permissions", ["user_id"]
    )
    op.create_table(
        "auth_registered_model_permissions",
        sa.Column("name", sa.String(256), primary_key=True),
        _user_fk("fk_auth_registered_model_permissions_user", primary_key=True),
        sa.Column("permission", sa.String(32), nullable=False),
        **options,
    )
    op.create_index(
        "ix_auth_registered_model_permissions_user",
        "auth_registered_model_permissions",
        ["user_id"],
    )
    op.create_table(
        "auth_audit_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1000), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sqlite_autoincrement=True,
        **options,
    )
    op.create_index("ix_auth_audit_events_actor", "auth_audit_events", ["actor", "id"])
    op.create_index("ix_auth_audit_events_action", "auth_audit_events", ["action", "id"])


def downgrade() -> None:
    op.drop_table("auth_audit_events")
    op.drop_table("auth_registered_model_permissions")
    op.drop_table("auth_experiment_permissions")
    op.drop_table("auth_tokens")
    op.drop_table("auth_users")
