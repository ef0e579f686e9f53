"""The real MLflow client (``mlflow-skinny`` 3.17.2) against ``runlab server`` processes.

Each ``test_mlflow_client_*`` module gets one runlab server of its own (module scope), started as
a real process on a free loopback port, with SQLite behind it and artifacts proxied to a local
folder, so experiments get ``mlflow-artifacts:/<id>`` locations exactly as MLflow's own
``mlflow server --serve-artifacts`` hands out. The client runs in the pytest process.

MLflow's telemetry is switched off before ``mlflow`` is first imported (it decides at import time
whether to start its telemetry thread), and again per test.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

# Before any test module imports mlflow: no telemetry thread, no network calls of MLflow's own.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from support.servers import ProxiedRunlabServer, runlab_proxy_server

# Importing mlflow.pyfunc (at collection time, before any mark applies) makes MLflow infer schemas
# for its own agent types and warn about an ``Any`` hint in them. Import it once here with just
# that warning silenced, so the test modules' imports find it loaded.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning
    )
    import mlflow.pyfunc  # noqa: F401

#: The modules of this package that drive the real MLflow client (the other module here drives
#: runlab's client against a real MLflow server and is left alone).
_MLFLOW_CLIENT_MODULES = "test_mlflow_client_"


#: Warnings MLflow 3.17.2's own code triggers on the paths these tests take, as narrow as they can
#: be (message, category, module). Applied to the MLflow-client tests only, never globally.
_MLFLOW_WARNING_FILTERS: tuple[str, ...] = (
    # mlflow.data's pandas digest calls DataFrame.all(0) positionally, which pandas 3 deprecates.
    "ignore:Starting with pandas version 4.0 all arguments of all:DeprecationWarning:mlflow.data.*",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the MLflow-client tests slow (each module starts a server process) and add the
    filters for MLflow's own warnings to them."""
    for item in items:
        if (
            item.path.name.startswith(_MLFLOW_CLIENT_MODULES)
            and item.path.parent == Path(__file__).parent
        ):
            item.add_marker(pytest.mark.slow)
            for spec in _MLFLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


#: Environment variables MLflow's fluent API sets itself (set_experiment, start_run).
_FLUENT_STATE_VARIABLES = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
_TRACKING_PREFIXES = ("MLFLOW_", "RUNLAB_")


@pytest.fixture(autouse=True)
def restore_tracking_environment() -> Iterator[None]:
    """Put the MLFLOW_/RUNLAB_ variables back as they were before each test, and forget the
    experiment MLflow's fluent API chose.

    MLflow writes its settings into the environment itself (set_experiment sets
    MLFLOW_EXPERIMENT_ID; set_tracking_uri and set_registry_uri set their variables, and setting
    them to None does not remove them), where monkeypatch cannot see them. Left behind, they
    point a later test in this worker at a server that has stopped, or at an experiment its
    fresh database does not have.
    """
    before = {k: v for k, v in os.environ.items() if k.startswith(_TRACKING_PREFIXES)}
    yield
    for name in [k for k in os.environ if k.startswith(_TRACKING_PREFIXES)]:
        if name not in before:
            del os.environ[name]
    os.environ.update(before)
    from mlflow.tracking import fluent

    fluent._active_experiment_id = None


@pytest.fixture(scope="module")
def runlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedRunlabServer]:
    """A ``runlab server`` process for one test module, serving artifacts through its proxy."""
    server = runlab_proxy_server(tmp_path_factory.mktemp("runlab-server"))
    server.process.start()
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture(autouse=True)
def mlflow_tracking(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the MLflow client at this module's runlab server; no runs left over afterwards."""
    if not request.path.name.startswith(_MLFLOW_CLIENT_MODULES):
        yield
        return
    server: ProxiedRunlabServer = request.getfixturevalue("runlab_server")
    import mlflow
    from mlflow.telemetry.client import get_telemetry_client, set_telemetry_client
    from mlflow.tracking import fluent

    for name in list(os.environ):
        if name.startswith("MLFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    # Few retries with short waits: a failing request should fail the test, not stall it.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    set_telemetry_client()
    assert get_telemetry_client() is None
    mlflow.set_tracking_uri(server.url)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        # set_experiment() remembers its choice in the process and in the environment.
        fluent._active_experiment_id = None
        for name in _FLUENT_STATE_VARIABLES:
            os.environ.pop(name, None)
        mlflow.set_tracking_uri(cast(str, None))  # None unsets it (MLflow accepts that)
