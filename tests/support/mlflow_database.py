"""Databases in the state MLflow leaves them (tests only).

MLflow and runlab name their tables alike; MLflow's run tables call the run id ``run_uuid``
where runlab's say ``run_id``, and MLflow keeps its own revision in ``alembic_version``. These
helpers build that state directly, cut down to the columns that tell the two apart, so the tests
need no MLflow server.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: The head revision of MLflow 3.17.2's migrations.
MLFLOW_REVISION = "dc11669786a5"

#: MLflow's first tables, as its server creates them in a database that lacks them.
MLFLOW_TABLES = sa.MetaData()
sa.Table(
    "experiments",
    MLFLOW_TABLES,
    sa.Column("experiment_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("artifact_location", sa.String(256)),
    sa.Column("lifecycle_stage", sa.String(32)),
)
sa.Table(
    "runs",
    MLFLOW_TABLES,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(250)),
    sa.Column("status", sa.String(20)),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id")),
)
MLFLOW_METRICS = sa.Table(
    "metrics",
    MLFLOW_TABLES,
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True),
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
)
for _name in ("params", "tags"):
    sa.Table(
        _name,
        MLFLOW_TABLES,
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(500)),
        sa.Column("run_uuid", sa.String(32), primary_key=True),
    )
ALEMBIC_VERSION = sa.Table(
    "alembic_version", MLFLOW_TABLES, sa.Column("version_num", sa.String(32), primary_key=True)
)


def make_mlflow_database(url: str) -> None:
    """The tables and revision MLflow's server leaves in a database it created."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        MLFLOW_TABLES.create_all(conn)
        conn.execute(ALEMBIC_VERSION.insert().values(version_num=MLFLOW_REVISION))
        conn.execute(
            sa.text(
                "INSERT INTO experiments (experiment_id, name, lifecycle_stage) "
                "VALUES (0, 'Default', 'active')"
            )
        )
    engine.dispose()


def add_mlflow_metrics_table(url: str) -> None:
    """What MLflow's server does first to a runlab database: create the table it misses."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        MLFLOW_METRICS.create(conn)
    engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """Every table with its columns and rows; for SQLite also the folder's files and bytes."""
    engine = sa.create_engine(url)
    state: dict[str, Any] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in sorted(inspector.get_table_names()):
            columns = [c["name"] for c in inspector.get_columns(table)]
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            state[table] = (columns, sorted(map(repr, rows)))
    engine.dispose()
    path = sa.engine.make_url(url).database
    if url.startswith("sqlite") and path:
        folder = Path(path).parent
        state["files"] = {
            f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())
        }
    return state
