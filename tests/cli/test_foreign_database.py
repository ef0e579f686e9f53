"""`runlab db upgrade` and `runlab server` refuse a database that belongs to MLflow.

The MLflow database is constructed directly (see ``support.mlflow_database``): the tables and
the ``alembic_version`` row that MLflow leaves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.test_server_command import runlab_cli
from runlab.cli.main import cli
from support.mlflow_database import make_mlflow_database, snapshot
from support.servers import free_port


@pytest.fixture
def mlflow_db(tmp_path: Path) -> str:
    (tmp_path / "db").mkdir()
    url = f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}"
    make_mlflow_database(url)
    return url


def test_db_upgrade_refuses_an_mlflow_database(mlflow_db: str) -> None:
    before = snapshot(mlflow_db)
    result = CliRunner().invoke(cli, ["db", "upgrade", mlflow_db])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: The database ")
    assert "is not a runlab database" in result.stderr
    assert "cannot be shared with an MLflow server" in result.stderr
    assert snapshot(mlflow_db) == before


@pytest.mark.slow
def test_server_exits_with_the_message_instead_of_starting(mlflow_db: str, tmp_path: Path) -> None:
    before = snapshot(mlflow_db)
    done = runlab_cli(
        "server", "--port", str(free_port()), "--backend-store-uri", mlflow_db, cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot open the backend store"), lines
    assert "is not a runlab database" in lines[0] and "MLflow" in lines[0]
    assert "runlab server" not in done.stdout  # no banner: nothing was started
    assert snapshot(mlflow_db) == before
