"""``runlab server`` and ``mlflow server`` 3.17.2 side by side, for tests that send both the same
request and compare the answers.

Both are started from their command lines over SQLite in a folder of their own, serving
artifacts through their proxies. The MLflow server runs with ``MLFLOW_TRUNCATE_LONG_VALUES=false``
so that it refuses over-long values as runlab always does (by default it cuts them short). Without
a virtualenv with ``mlflow==3.17.2`` (see :func:`support.servers.mlflow_python`) the MLflow side
is skipped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from support.cli_server import runlab_cli_server
from support.servers import mlflow_server

#: The two kinds of server, as pytest parameters.
KINDS = ("runlab", "mlflow")


@dataclass(frozen=True)
class Server:
    """A running server: which one it is, its base URL, and the folder it keeps its files in."""

    kind: str
    url: str
    folder: Path


@contextlib.contextmanager
def started(kind: str, folder: Path) -> Iterator[Server]:
    """Start the ``kind`` server over ``folder`` and stop it afterwards, whatever happens."""
    process = runlab_cli_server(folder) if kind == "runlab" else mlflow_server(folder)
    process.env["MLFLOW_TRUNCATE_LONG_VALUES"] = "false"
    process.start()
    try:
        yield Server(kind, process.url, folder)
    finally:
        process.stop()


@contextlib.contextmanager
def mlflow_client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """MLflow's client of ``server``, with no settings from the environment and no retries."""
    for variable in [v for v in os.environ if v.startswith("MLFLOW_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    try:
        yield MlflowClient(server.url)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
