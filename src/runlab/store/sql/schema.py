"""Table definitions of the SQL store (SQLAlchemy Core).

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares the
two, so a change here needs a new migration.

Metric points are not stored one row each: ``metric_chunks`` holds packed runs of points (see
``metric_codec``), and ``latest_metrics`` keeps the newest value of each (run, key) together with its
min, max and point count, which is what search and sorting read.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles

metadata = sa.MetaData()

# -- strings on MySQL/MariaDB ------------------------------------------------------------------------
#
# MLflow compares keys and names exactly: "lr" and "LR" are two params, and so are "lr" and "lr "
# (keys may contain spaces). SQLite and PostgreSQL compare strings that way already. MySQL and
# MariaDB do not: their default collations ignore case, and even utf8mb4_bin is a PAD SPACE
# collation, for which "lr" = "lr ", so the two would be one primary key (the second insert fails,
# or an upsert overwrites the first). Every string column there therefore uses a binary NO PAD
# collation. The two servers name it differently and neither accepts the other's name: MariaDB
# (10.2 and later) calls it utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin. VARBINARY would be one
# name for both, but it holds bytes: lengths would count bytes rather than characters, LOWER()
# (which ILIKE uses) would not fold case, and every value read would need decoding.
MARIADB_COLLATION = "utf8mb4_nopad_bin"
MYSQL_COLLATION = "utf8mb4_0900_bin"


def mysql_collation(dialect: Dialect) -> str:
    """The binary NO PAD utf8mb4 collation of the MySQL or MariaDB server ``dialect`` talks to."""
    return MARIADB_COLLATION if getattr(dialect, "is_mariadb", False) else MYSQL_COLLATION


class ExactString(sa.String):
    """A VARCHAR compared exactly (case and trailing spaces count) on every backend."""

    inherit_cache = True


class ExactText(sa.Text):
    """A TEXT compared exactly on every backend."""

    inherit_cache = True


class ExactLongText(sa.Text):
    """A TEXT compared exactly; MEDIUMTEXT on MySQL/MariaDB, whose TEXT stops at 64 KiB."""

    inherit_cache = True


# The column collation is spelt out per column because a table's default collation is a fixed
# name in CREATE TABLE, and the name depends on the server (see above). Other backends compile
# these types as their base class.
@compiles(ExactString, "mysql", "mariadb")
def _exact_varchar(type_: ExactString, compiler: Any, **kw: Any) -> str:
    assert type_.length is not None, "MySQL needs a VARCHAR length"
    return str(
        compiler.process(
            mysql.VARCHAR(type_.length, collation=mysql_collation(compiler.dialect)), **kw
        )
    )


@compiles(ExactText, "mysql", "mariadb")
def _exact_text(type_: ExactText, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(mysql.TEXT(collation=mysql_collation(compiler.dialect)), **kw))


@compiles(ExactLongText, "mysql", "mariadb")
def _exact_long_text(type_: ExactLongText, compiler: Any, **kw: Any) -> str:
    return str(
        compiler.process(mysql.MEDIUMTEXT(collation=mysql_collation(compiler.dialect)), **kw)
    )


# Only the charset is a table option: every string column names its own collation.
MYSQL_TABLE_ARGS: dict[str, Any] = {"mysql_charset": "utf8mb4"}

# SQLite: the tables a runs search probes by (run_id, key), once per candidate run, keep their rows
# in the primary key's b-tree (WITHOUT ROWID), so a probe is one descent instead of two (the key's
# index, then the table by rowid), and ix_latest_metrics_key_value carries run_id. Other backends
# ignore the option.
KEYED_BY_RUN_TABLE_ARGS: dict[str, Any] = {**MYSQL_TABLE_ARGS, "sqlite_with_rowid": False}

# Lengths follow MLflow's limits (see the protocol reference, section 3).
EXPERIMENT_NAME_MAX = 500
KEY_MAX = 250
PARAM_VALUE_MAX = 6000
TAG_VALUE_MAX = 8000
EXPERIMENT_TAG_VALUE_MAX = 20000
RUN_NAME_MAX = 250
URI_MAX = 1000

experiments = sa.Table(
    "experiments",
    metadata,
    # Ids are allocated by the store (max + 1), not by the database: MySQL refuses an explicit 0
    # in an AUTO_INCREMENT column, and "0" must be the Default experiment.
    sa.Column("experiment_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", ExactString(EXPERIMENT_NAME_MAX), nullable=False),
    sa.Column("artifact_location", ExactString(URI_MAX), nullable=True),
    sa.Column("lifecycle_stage", ExactString(32), nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=True),
    sa.Column("last_update_time", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("name", name="uq_experiments_name"),
    **MYSQL_TABLE_ARGS,
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", name="fk_experiment_tags_experiment"),
        primary_key=True,
    ),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", ExactText(), nullable=True),
    **MYSQL_TABLE_ARGS,
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", ExactString(32), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", name="fk_runs_experiment"),
        nullable=False,
    ),
    sa.Column("name", ExactString(RUN_NAME_MAX), nullable=True),
    sa.Column("user_id", ExactString(256), nullable=True),
    sa.Column("status", ExactString(20), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=True),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("artifact_uri", ExactString(URI_MAX), nullable=True),
    sa.Column("lifecycle_stage", ExactString(32), nullable=False),
    sa.Column("deleted_time", sa.BigInteger, nullable=True),
    sa.Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
    **MYSQL_TABLE_ARGS,
)

params = sa.Table(
    "params",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_params_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", ExactString(8000), nullable=False),
    **KEYED_BY_RUN_TABLE_ARGS,
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_tags_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", ExactString(TAG_VALUE_MAX), nullable=True),
    **KEYED_BY_RUN_TABLE_ARGS,
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_latest_metrics_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    # NULL when the latest value is NaN (MySQL has no NaN); is_nan tells the two apart.
    # +-Inf are stored as +-DBL_MAX for the same reason and turned back on read.
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("min_value", sa.Double, nullable=True),
    sa.Column("max_value", sa.Double, nullable=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
    **KEYED_BY_RUN_TABLE_ARGS,
)

metric_chunks = sa.Table(
    "metric_chunks",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_metric_chunks_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("min_step", sa.BigInteger, nullable=False),
    sa.Column("max_step", sa.BigInteger, nullable=False),
    sa.Column("min_value", sa.Double, nullable=True),
    sa.Column("max_value", sa.Double, nullable=True),
    # BLOB on SQLite, BYTEA on PostgreSQL; MySQL's plain BLOB caps at 64 KiB, hence LONGBLOB.
    sa.Column(
        "data",
        sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
        nullable=False,
    ),
    **MYSQL_TABLE_ARGS,
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_id", ExactString(36), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", name="fk_datasets_experiment"),
        nullable=False,
    ),
    sa.Column("name", ExactString(500), nullable=False),
    sa.Column("digest", ExactString(36), nullable=False),
    sa.Column("source_type", ExactString(36), nullable=False),
    sa.Column("source", ExactText(), nullable=False),
    sa.Column("schema", ExactText(), nullable=True),
    sa.Column("profile", ExactText(), nullable=True),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_identity"),
    **MYSQL_TABLE_ARGS,
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_inputs_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "dataset_id",
        ExactString(36),
        sa.ForeignKey("datasets.dataset_id", name="fk_inputs_dataset"),
        primary_key=True,
    ),
    **MYSQL_TABLE_ARGS,
)

input_tags = sa.Table(
    "input_tags",
    metadata,
    sa.Column("run_id", ExactString(32), primary_key=True),
    sa.Column("dataset_id", ExactString(36), primary_key=True),
    sa.Column("key", ExactString(255), primary_key=True),
    sa.Column("value", ExactString(500), nullable=False),
    sa.ForeignKeyConstraint(
        ["run_id", "dataset_id"],
        ["inputs.run_id", "inputs.dataset_id"],
        name="fk_input_tags_input",
        ondelete="CASCADE",
    ),
    **MYSQL_TABLE_ARGS,
)

# -- logged models (MLflow 3) ------------------------------------------------------------------------

LOGGED_MODEL_ID_MAX = 36  # "m-" + 32 hex digits, with room to spare
LOGGED_MODEL_NAME_MAX = 500
DATASET_NAME_MAX = 500
DATASET_DIGEST_MAX = 36


def _logged_model_fk(name: str, primary_key: bool = True) -> sa.Column[Any]:
    return sa.Column(
        "model_id",
        ExactString(LOGGED_MODEL_ID_MAX),
        sa.ForeignKey("logged_models.model_id", name=name, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("model_id", ExactString(LOGGED_MODEL_ID_MAX), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", name="fk_logged_models_experiment"),
        nullable=False,
    ),
    sa.Column("name", ExactString(LOGGED_MODEL_NAME_MAX), nullable=False),
    sa.Column("artifact_location", ExactString(URI_MAX), nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("status", ExactString(32), nullable=False),
    sa.Column("status_message", ExactText(), nullable=True),
    sa.Column("model_type", ExactString(LOGGED_MODEL_NAME_MAX), nullable=True),
    # Not a foreign key: a model outlives the run it came from (runs may be purged).
    sa.Column("source_run_id", ExactString(32), nullable=True),
    sa.Column("lifecycle_stage", ExactString(32), nullable=False),
    sa.Index(
        "ix_logged_models_experiment_created",
        "experiment_id",
        "lifecycle_stage",
        "creation_timestamp",
    ),
    sa.Index("ix_logged_models_source_run", "source_run_id"),
    **MYSQL_TABLE_ARGS,
)

logged_model_tags = sa.Table(
    "logged_model_tags",
    metadata,
    _logged_model_fk("fk_logged_model_tags_model"),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", ExactString(TAG_VALUE_MAX), nullable=True),
    **MYSQL_TABLE_ARGS,
)

logged_model_params = sa.Table(
    "logged_model_params",
    metadata,
    _logged_model_fk("fk_logged_model_params_model"),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", ExactString(8000), nullable=False),
    **MYSQL_TABLE_ARGS,
)

logged_model_metrics = sa.Table(
    "logged_model_metrics",
    metadata,
    # A surrogate key: points are few per model, and the natural key (model, key, step, time,
    # run, dataset) is too wide for a MySQL index. It also breaks ties when picking the newest.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _logged_model_fk("fk_logged_model_metrics_model", primary_key=False),
    sa.Column("key", ExactString(KEY_MAX), nullable=False),
    # NaN/Inf as in latest_metrics: NULL plus is_nan, and +-DBL_MAX.
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("run_id", ExactString(32), nullable=True),
    # "" rather than NULL when the point has no dataset, so "same dataset" is a plain "=".
    sa.Column("dataset_name", ExactString(DATASET_NAME_MAX), nullable=False),
    sa.Column("dataset_digest", ExactString(DATASET_DIGEST_MAX), nullable=False),
    sa.Index("ix_logged_model_metrics_newest", "model_id", "key", "step", "timestamp"),
    **MYSQL_TABLE_ARGS,
)

run_model_outputs = sa.Table(
    "run_model_outputs",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_run_model_outputs_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    _logged_model_fk("fk_run_model_outputs_model"),
    sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
    **MYSQL_TABLE_ARGS,
)

run_model_inputs = sa.Table(
    "run_model_inputs",
    metadata,
    sa.Column(
        "run_id",
        ExactString(32),
        sa.ForeignKey("runs.run_id", name="fk_run_model_inputs_run", ondelete="CASCADE"),
        primary_key=True,
    ),
    _logged_model_fk("fk_run_model_inputs_model"),
    **MYSQL_TABLE_ARGS,
)

# -- model registry ----------------------------------------------------------------------------------

REGISTERED_MODEL_NAME_MAX = 256
ALIAS_MAX = 255
REGISTRY_USER_MAX = 256
# A run id as the registry stores it: hex uuids here, but imported runs may use other ids.
REGISTRY_RUN_ID_MAX = 256
STAGE_MAX = 20

# Tag values may hold 100,000 characters (MLflow's limit), descriptions are free-form markdown:
# MySQL's TEXT stops at 64 KiB, MEDIUMTEXT at 16 MiB.
_LONG_TEXT = ExactLongText()

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", ExactString(REGISTERED_MODEL_NAME_MAX), primary_key=True),
    # Tells a model apart from an older, deleted one of the same name: the history of a name
    # holds both, and a rename carries only this model's events along.
    sa.Column("model_uid", ExactString(32), nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("description", _LONG_TEXT, nullable=True),
    # The number the next version gets. Incremented by an UPDATE in the version's transaction,
    # which makes concurrent registrations of one model take turns on this row.
    sa.Column("next_version", sa.Integer, nullable=False),
    **MYSQL_TABLE_ARGS,
)


def _registered_model_fk(name: str) -> sa.Column[Any]:
    # ON UPDATE CASCADE: a rename carries the rows along in the same statement.
    return sa.Column(
        "name",
        ExactString(REGISTERED_MODEL_NAME_MAX),
        sa.ForeignKey("registered_models.name", name=name, onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )


def _model_version_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name=name,
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    _registered_model_fk("fk_registered_model_tags_model"),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", _LONG_TEXT, nullable=True),
    **MYSQL_TABLE_ARGS,
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    _registered_model_fk("fk_model_versions_model"),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("current_stage", ExactString(STAGE_MAX), nullable=False),
    sa.Column("description", _LONG_TEXT, nullable=True),
    sa.Column("user_id", ExactString(REGISTRY_USER_MAX), nullable=True),
    # source, run_id, run_link and the rest are set to NULL when a version is deleted; the row
    # stays so that its number is never given out again.
    sa.Column("source", ExactText(), nullable=True),
    sa.Column("run_id", ExactString(REGISTRY_RUN_ID_MAX), nullable=True),
    sa.Column("run_link", ExactText(), nullable=True),
    sa.Column("status", ExactString(32), nullable=False),
    sa.Column("status_message", ExactText(), nullable=True),
    sa.Column("storage_location", ExactText(), nullable=True),
    sa.Column("model_id", ExactString(LOGGED_MODEL_ID_MAX), nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Index("ix_model_versions_run_id", "run_id"),
    **MYSQL_TABLE_ARGS,
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("name", ExactString(REGISTERED_MODEL_NAME_MAX), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", ExactString(KEY_MAX), primary_key=True),
    sa.Column("value", _LONG_TEXT, nullable=True),
    _model_version_fk("fk_model_version_tags_version"),
    **MYSQL_TABLE_ARGS,
)

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    sa.Column("name", ExactString(REGISTERED_MODEL_NAME_MAX), primary_key=True),
    sa.Column("alias", ExactString(ALIAS_MAX), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    # Only through the version: a second key on the name alone would make a rename cascade
    # into this table by two paths.
    _model_version_fk("fk_registered_model_aliases_version"),
    sa.Index("ix_registered_model_aliases_version", "name", "version"),
    **MYSQL_TABLE_ARGS,
)

registry_events = sa.Table(
    "registry_events",
    metadata,
    sa.Column(
        "event_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    # Not foreign keys: the history outlives the model.
    sa.Column("name", ExactString(REGISTERED_MODEL_NAME_MAX), nullable=False),
    sa.Column("model_uid", ExactString(32), nullable=False),
    sa.Column("kind", ExactString(16), nullable=False),
    sa.Column("subject", ExactString(ALIAS_MAX), nullable=False),
    sa.Column("from_value", ExactString(ALIAS_MAX), nullable=True),
    sa.Column("to_value", ExactString(ALIAS_MAX), nullable=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("user_id", ExactString(REGISTRY_USER_MAX), nullable=True),
    sa.Index("ix_registry_events_name_time", "name", "timestamp"),
    sa.Index("ix_registry_events_model", "model_uid"),
    **MYSQL_TABLE_ARGS,
)
