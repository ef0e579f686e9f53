"""The first schema: experiments, runs, params, tags, chunked metrics, datasets.

Revision ID: 0001_initial
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy of what schema.py said at this revision; later revisions change it by steps.
MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _run_fk(name: str) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.run_id", name=name, ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(1000), nullable=True),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=True),
        sa.Column("last_update_time", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
        **MYSQL,
    )
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            sa.BigInteger,
            sa.ForeignKey("experiments.experiment_id", name="fk_experiment_tags_experiment"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        **MYSQL,
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.BigInteger,
            sa.ForeignKey("experiments.experiment_id", name="fk_runs_experiment"),
            nullable=False,
        ),
        sa.Column("name", sa.String(250), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=True),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("artifact_uri", sa.String(1000), nullable=True),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("deleted_time", sa.BigInteger, nullable=True),
        sa.Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
        **MYSQL,
    )
    op.create_table(
        "params",
        _run_fk("fk_params_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
        **MYSQL,
    )
    op.create_table(
        "tags",
        _run_fk("fk_tags_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=True),
        **MYSQL,
    )
    op.create_table(
        "latest_metrics",
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
        **MYSQL,
    )
    op.create_table(
        "metric_chunks",
        _run_fk("fk_metric_chunks_run"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("min_step", sa.BigInteger, nullable=False),
        sa.Column("max_step", sa.BigInteger, nullable=False),
        sa.Column("min_value", sa.Double, nullable=True),
        sa.Column("max_value", sa.Double, nullable=True),
        sa.Column(
            "data",
            sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        **MYSQL,
    )
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(36), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.BigInteger,
            sa.ForeignKey("experiments.experiment_id", name="fk_datasets_experiment"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("schema", sa.Text, nullable=True),
        sa.Column("profile", sa.Text, nullable=True),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_identity"),
        **MYSQL,
    )
    op.create_table(
        "inputs",
        _run_fk("fk_inputs_run"),
        sa.Column(
            "dataset_id",
            sa.String(36),
            sa.ForeignKey("datasets.dataset_id", name="fk_inputs_dataset"),
            primary_key=True,
        ),
        **MYSQL,
    )
    op.create_table(
        "input_tags",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id", "dataset_id"],
            ["inputs.run_id", "inputs.dataset_id"],
            name="fk_input_tags_input",
            ondelete="CASCADE",
        ),
        **MYSQL,
    )


def downgrade() -> None:
    for table in (
        "input_tags",
        "inputs",
        "datasets",
        "metric_chunks",
        "latest_metrics",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(table)
