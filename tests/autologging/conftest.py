"""Fixtures for the autologging tests.

Every test starts with a clean tracking environment and autologging off, and ends with it off
again (every patch taken out). Autologging's own errors raise here (``RUNLAB_AUTOLOG_STRICT``),
so a bug in a framework module fails its test instead of being warned about; the tests of the
safe paths unset it.

``tracking`` runs a test twice: against a fresh SQLite file, and against a real ``runlab
server`` process (one per test module, a fresh experiment per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import runlab
from runlab.autologging import FRAMEWORKS
from runlab.autologging.options import STRICT_ENV
from support.servers import ServerProcess, runlab_server
from support.tracking_state import clean_env, client, tracking_uri

__all__ = ["autolog_off", "clean_env", "client", "server", "tracking", "tracking_uri"]


def _disable_everything() -> None:
    import importlib

    for module_name in FRAMEWORKS.values():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        module.autolog(disable=True)


@pytest.fixture(autouse=True)
def autolog_off(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Autologging off before and after the test; its own errors raise during it."""
    _disable_everything()
    monkeypatch.setenv(STRICT_ENV, "1")
    yield
    runlab.flush()
    _disable_everything()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One runlab server process for the test module."""
    tmp: Path = tmp_path_factory.mktemp("autolog-server")
    process = runlab_server(tmp)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(params=["local", "server"])
def tracking(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The tracking URI in use: a fresh SQLite file, or a runlab server (fresh experiment)."""
    if request.param == "local":
        runlab.set_tracking_uri(sqlite_url)
        return sqlite_url
    process: ServerProcess = request.getfixturevalue("server")
    runlab.set_tracking_uri(process.url)
    runlab.set_experiment(f"autolog-{uuid.uuid4().hex[:12]}")
    return process.url
