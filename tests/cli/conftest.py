"""Fixtures for CLI tests: a real SQLite store in tmp_path and a CliRunner."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runlab.cli.main import cli
from runlab.tracking import config


@pytest.fixture(autouse=True)
def no_tracking_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no tracking URI in the environment or set in code.

    Commands run in-process may set tracking variables for their child processes (``runlab
    deployments --tracking-uri``); whatever a test leaves set is removed after it.
    """
    for name in ("RUNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    before = {k for k in os.environ if k.startswith(("RUNLAB_", "MLFLOW_"))}
    config.set_tracking_uri(None)
    config.set_registry_uri(None)
    yield
    config.set_tracking_uri(None)
    config.set_registry_uri(None)
    for name in [k for k in os.environ if k.startswith(("RUNLAB_", "MLFLOW_"))]:
        if name not in before:
            del os.environ[name]


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite tracking database."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


class Runner:
    """Invoke ``runlab`` against one tracking URI."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._runner = CliRunner()

    def __call__(self, *args: str, uri: bool = True) -> Result:
        argv = [*args, "--tracking-uri", self.uri] if uri else list(args)
        return self._runner.invoke(cli, argv, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; return its stdout."""
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        """Run a command with ``--json`` and decode its output."""
        return json.loads(self.ok(*args, "--json"))


@pytest.fixture
def runlab(tracking_uri: str) -> Runner:
    """A CLI runner bound to a fresh SQLite store."""
    return Runner(tracking_uri)
