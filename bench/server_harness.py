"""Starting ``runlab server`` and ``mlflow server`` side by side for the server benchmark.

Each measure gets a fresh server over a fresh database of the chosen backend kind: a new SQLite
file in a temporary folder, or a new PostgreSQL database on 127.0.0.1:5432 (user ``postgres``)
that is dropped afterwards. Both servers proxy artifacts into the same kind of folder and log to
a file; neither gets tuning flags the other lacks (the worker count is the same for both).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import harness

#: PostgreSQL server for ``--backend postgresql`` (a fresh database is created per measure).
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: MLflow 3.17.2's server opens ``postgresql://`` with psycopg 3 (it fails with "No module named
#: 'psycopg'" without it), the same driver runlab uses; it is installed into MLflow's venv.
MLFLOW_POSTGRES_DRIVER = "psycopg[binary]"


@dataclass
class RunningServer:
    """A server process the benchmark started, with its base URL and log file."""

    tool: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        """The end of what the server printed (for a failed cell's note)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path, tool: str) -> Iterator[str]:
    """A database URI for one measure: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'server.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    import psycopg  # runlab's own driver, in the benchmark's interpreter

    name = f"bench_{tool}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # The previous measure's writes (and its dropped database) leave dirty buffers that
        # PostgreSQL would write out during this measure, slowing whichever tool comes next
        # (by up to a third, seen for an ingest right after a 1,000-run fill): write them now.
        conn.execute("CHECKPOINT")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_mlflow_postgres_driver(tool: harness.Tool) -> None:
    """Install psycopg into MLflow's virtualenv when it is missing (``--backend postgresql``)."""
    probe = subprocess.run(
        [tool.python, "-c", "import psycopg"], capture_output=True, env=tool.env, check=False
    )
    if probe.returncode != 0:
        print(f"installing {MLFLOW_POSTGRES_DRIVER} for MLflow ...", file=sys.stderr)
        subprocess.run(
            [tool.python, "-m", "pip", "install", "--quiet", MLFLOW_POSTGRES_DRIVER], check=True
        )


def server_argv(
    tool: harness.Tool, db_uri: str, port: int, workers: int, workdir: Path
) -> list[str]:
    """The command line that starts ``tool``'s server over ``db_uri``."""
    destination = workdir / "artifacts"
    destination.mkdir(exist_ok=True)
    common = [
        "--backend-store-uri",
        db_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--serve-artifacts",
        "--artifacts-destination",
        str(destination),
    ]
    if tool.name == "runlab":
        return [tool.python, "-m", "runlab.cli", "server", *common]
    return [tool.python, "-m", "mlflow", "server", *common]


@contextlib.contextmanager
def running_server(
    tool: harness.Tool,
    backend: str,
    workers: int,
    workdir: Path,
    startup_timeout: float = 300.0,
) -> Iterator[RunningServer]:
    """Start ``tool``'s server over a fresh database; stop it (and its workers) afterwards."""
    with fresh_database(backend, workdir, tool.name) as db_uri:
        port = free_port()
        log_path = workdir / f"{tool.name}-server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                server_argv(tool, db_uri, port, workers, workdir),
                cwd=workdir,
                env=tool.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it reaches workers
            )
        server = RunningServer(tool.name, f"http://127.0.0.1:{port}", proc, log_path)
        try:
            _wait_ready(server, workers, startup_timeout)
            yield server
        finally:
            _stop(proc)


def _wait_ready(server: RunningServer, workers: int, timeout: float) -> None:
    """Wait for /health, then until every worker has started (each logs its start-up)."""
    import httpx

    deadline = time.monotonic() + timeout
    healthy = False
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"{server.tool} server exited with code {server.proc.returncode}: "
                    f"{server.log_tail()}"
                )
            if not healthy:
                with contextlib.suppress(httpx.TransportError):
                    healthy = client.get(f"{server.url}/health").status_code == 200
            # /health answers once the first worker is up; with more, wait for all of them so
            # that a concurrent measure does not run against half the workers.
            if healthy and (
                workers == 1
                or server.log_tail(1_000_000).count("Application startup complete") >= workers
            ):
                return
            time.sleep(0.2)
    raise RuntimeError(
        f"{server.tool} server not ready within {timeout:.0f} s: {server.log_tail()}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
    else:
        # The leader is gone; workers it forked may not be.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
