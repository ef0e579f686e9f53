"""Fixtures for the model tests (flavors too): a clean tracking environment per test, and a
fresh SQLite tracking URI for tests that log models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import runlab
from support.tracking_state import clean_tracking_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No RUNLAB_/MLFLOW_ variables, the working directory in tmp_path, no leftover runs."""
    yield from clean_tracking_env(monkeypatch, tmp_path)


@pytest.fixture
def tracking_uri(sqlite_url: str) -> str:
    """A fresh SQLite tracking URI, set as the current one."""
    runlab.set_tracking_uri(sqlite_url)
    return sqlite_url


@pytest.fixture
def client(tracking_uri: str) -> runlab.Client:
    """A client of the fresh tracking database."""
    return runlab.MlflowClient(tracking_uri)
