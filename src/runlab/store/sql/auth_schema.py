"""Table definitions of the authentication store (SQLAlchemy Core).

These tables have a metadata and a migration chain of their own (``auth_migrations``), recorded in
their own version table, so they can live in the tracking store's database or in a separate one.
Their names start with ``auth_`` so they never meet the tracking store's tables, nor the
``users``/``experiment_permissions`` tables of MLflow's basic-auth database.

A token's secret is never stored: only its SHA-256 (``secret_hash``) and its first characters
(``prefix``), which identify it in a list. A password is stored only as its Argon2id hash.
Permissions and tokens point at the user's id, so renaming a user would carry them along, and
deleting a user removes them (``ON DELETE CASCADE``, and the store deletes them explicitly too).
"""

from __future__ import annotations

import sqlalchemy as sa

from runlab.store.sql.schema import MYSQL_TABLE_ARGS, REGISTERED_MODEL_NAME_MAX, ExactString

metadata = sa.MetaData()

#: Alembic's version table for this chain; the tracking store's is ``alembic_version``.
VERSION_TABLE = "runlab_auth_alembic_version"

USERNAME_MAX = 255
TOKEN_NAME_MAX = 255
#: Argon2's encoded hashes are about 100 characters; room for stronger parameters later.
PASSWORD_HASH_MAX = 512
TOKEN_PREFIX_MAX = 16
EXPERIMENT_ID_MAX = 64
PERMISSION_MAX = 32
AUDIT_ACTION_MAX = 64
AUDIT_TARGET_MAX = 1000
AUDIT_ADDRESS_MAX = 64

# An integer key the database allocates. On SQLite, INTEGER PRIMARY KEY with AUTOINCREMENT: ids of
# deleted rows are never given out again, so an id in an old audit entry or log line always
# names the same user or token.
_ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user_fk(name: str, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        _ID_TYPE,
        sa.ForeignKey("auth_users.id", name=name, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("id", _ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("username", ExactString(USERNAME_MAX), nullable=False),
    sa.Column("password_hash", ExactString(PASSWORD_HASH_MAX), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("username", name="uq_auth_users_username"),
    sqlite_autoincrement=True,
    **MYSQL_TABLE_ARGS,
)

tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", _ID_TYPE, primary_key=True, autoincrement=True),
    _user_fk("fk_auth_tokens_user"),
    sa.Column("name", ExactString(TOKEN_NAME_MAX), nullable=False),
    sa.Column("prefix", ExactString(TOKEN_PREFIX_MAX), nullable=False),
    # Hex SHA-256 of the secret; looked up on every token-authenticated request.
    sa.Column("secret_hash", ExactString(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("secret_hash", name="uq_auth_tokens_secret_hash"),
    sa.Index("ix_auth_tokens_user", "user_id"),
    sqlite_autoincrement=True,
    **MYSQL_TABLE_ARGS,
)

experiment_permissions = sa.Table(
    "auth_experiment_permissions",
    metadata,
    sa.Column("experiment_id", ExactString(EXPERIMENT_ID_MAX), primary_key=True),
    _user_fk("fk_auth_experiment_permissions_user", primary_key=True),
    sa.Column("permission", ExactString(PERMISSION_MAX), nullable=False),
    # A user's permissions are read on every request they make.
    sa.Index("ix_auth_experiment_permissions_user", "user_id"),
    **MYSQL_TABLE_ARGS,
)

registered_model_permissions = sa.Table(
    "auth_registered_model_permissions",
    metadata,
    sa.Column("name", ExactString(REGISTERED_MODEL_NAME_MAX), primary_key=True),
    _user_fk("fk_auth_registered_model_permissions_user", primary_key=True),
    sa.Column("permission", ExactString(PERMISSION_MAX), nullable=False),
    sa.Index("ix_auth_registered_model_permissions_user", "user_id"),
    **MYSQL_TABLE_ARGS,
)

audit_events = sa.Table(
    "auth_audit_events",
    metadata,
    sa.Column("id", _ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    # Not a foreign key: the log outlives the users it names.
    sa.Column("actor", ExactString(USERNAME_MAX), nullable=True),
    sa.Column("action", ExactString(AUDIT_ACTION_MAX), nullable=False),
    sa.Column("target", ExactString(AUDIT_TARGET_MAX), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("address", ExactString(AUDIT_ADDRESS_MAX), nullable=True),
    sa.Index("ix_auth_audit_events_actor", "actor", "id"),
    sa.Index("ix_auth_audit_events_action", "action", "id"),
    sqlite_autoincrement=True,
    **MYSQL_TABLE_ARGS,
)
