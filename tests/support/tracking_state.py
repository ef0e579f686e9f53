"""A clean tracking environment per test: no RUNLAB_/MLFLOW_ variables, no leftover runs.

A conftest imports the fixtures (``clean_env``, ``tracking_uri``, ``client``) to use them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import runlab
from runlab.tracking import batch_writer, deferred, fluent, fluent_experiments
from runlab.tracking.store_factory import clear_store_cache

_ENV_PREFIXES = ("RUNLAB_", "MLFLOW_")


def reset_tracking_state() -> None:
    """End leftover runs, close writers and forget the tracking URI and active experiment."""
    # Background work a test queued (autologging's models, the end of its runs) finishes first.
    with contextlib.suppress(Exception):
        deferred.wait()
    for run in list(fluent._live.values()):
        # A test may leave a run active, or leave errors queued; neither may leak into the next.
        with contextlib.suppress(Exception):
            fluent._end(run, "FINISHED")
    fluent._by_id.clear()
    fluent._local.__dict__.pop("last", None)
    batch_writer.close_all()
    clear_store_cache()
    runlab.set_tracking_uri(None)
    runlab.set_registry_uri(None)
    fluent_experiments._active_experiment = None
    fluent_experiments._client = None


def clean_tracking_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Body of an autouse fixture: clean environment, working directory in ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_tracking_state()
    yield
    reset_tracking_state()
    # Code under test may set tracking variables itself (a CLI command run in-process hands its
    # --tracking-uri to child processes that way); none may leak into the next test.
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


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
