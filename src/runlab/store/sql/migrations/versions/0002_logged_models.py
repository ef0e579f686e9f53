"""Logged models (MLflow 3): models with tags, params and metrics, and run outputs/inputs.

Revision ID: 0002_logged_models
Revises: 0001_initial
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002_logged_models"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# A frozen copy of what schema.py said at this revision.
MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _model_fk(name: str, primary_key: bool = True) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.String(36),
        sa.ForeignKey("logged_models.model_id", name=name, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def _run_fk(name: str) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.run_id", name=name, ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(36), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.BigInteger,
            sa.ForeignKey("experiments.experiment_id", name="fk_logged_models_experiment"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(1000), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("model_type", sa.String(500), nullable=True),
        sa.Column("source_run_id", sa.String(32), nullable=True),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Index(
            "ix_logged_models_experiment_created",
            "experiment_id",
            "lifecycle_stage",
            "creation_timestamp",
        ),
        sa.Index("ix_logged_models_source_run", "source_run_id"),
        **MYSQL,
    )
    op.create_table(
        "logged_model_tags",
        _model_fk("fk_logged_model_tags_model"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=True),
        **MYSQL,
    )
    op.create_table(
        "logged_model_params",
        _model_fk("fk_logged_model_params_model"),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
        **MYSQL,
    )
    op.create_table(
        "logged_model_metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        _model_fk("fk_logged_model_metrics_model", primary_key=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("dataset_name", sa.String(500), nullable=False),
        sa.Column("dataset_digest", sa.String(36), nullable=False),
        sa.Index("ix_logged_model_metrics_newest", "model_id", "key", "step", "timestamp"),
        **MYSQL,
    )
    op.create_table(
        "run_model_outputs",
        _run_fk("fk_run_model_outputs_run"),
        _model_fk("fk_run_model_outputs_model"),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        **MYSQL,
    )
    op.create_table(
        "run_model_inputs",
        _run_fk("fk_run_model_inputs_run"),
        _model_fk("fk_run_model_inputs_model"),
        **MYSQL,
    )


def downgrade() -> None:
    for table in (
        "run_model_inputs",
        "run_model_outputs",
        "logged_model_metrics",
        "logged_model_params",
        "logged_model_tags",
        "logged_models",
    ):
        op.drop_table(table)
