"""Real tracking-server processes for tests: runlab's app under uvicorn, and a real ``mlflow server``.

Both run as subprocesses on a free loopback port, so tests exercise the network path (and can
SIGKILL a server mid-run). Nothing here replaces runlab code with a stand-in.

The MLflow server comes from a virtualenv with ``mlflow==3.17.2``: the benchmark's
``bench/.venv-mlflow`` when it is there, else one created on first use under the user's cache
folder (``RUNLAB_TEST_CACHE``, default ``~/.cache/runlab-tests``). Tests that need it skip, with the
reason, only when pip cannot install it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

MLFLOW_VERSION = "3.17.2"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The runlab server process: the app factory over a SQLite store, served by uvicorn. It is what
# `runlab server` does, without depending on the CLI (owned and tested elsewhere).
_RUNLAB_SERVER = """
import sys

import uvicorn

from runlab.server.app import build_app
from runlab.store.sql.tracking import SqlTrackingStore

db_path, artifact_root, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SqlTrackingStore("sqlite:///" + db_path, artifact_root)
uvicorn.run(build_app(store), host="127.0.0.1", port=port, log_level="warning")
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    # A server must not pick up the test's tracking settings (or a developer's).
    return {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}


class ServerProcess:
    """One server subprocess on a fixed port: start, wait until healthy, kill, restart."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        log_path: Path,
        *,
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.env = env if env is not None else _child_env()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL (a tracking URI)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Start the process and wait until ``/health`` answers."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the server is already running")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                # Its own process group, so kill() also reaches workers it forks.
                start_new_session=True,
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with code {self.proc.returncode}:\n{self.log()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the server did not answer /health within {self.startup_timeout} s:\n{self.log()}"
        )

    def log(self) -> str:
        """What the server printed so far (the tail)."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (and its process group): no shutdown, no goodbye."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        self.resume()  # a paused process would not act on SIGTERM
        self._signal(signal.SIGTERM, grace=10.0)

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing answers (a hung server)."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self.running:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)

    def _signal(self, sig: int, grace: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
        else:
            # The leader is gone; workers it forked may not be.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None

    def restart(self) -> ServerProcess:
        """Start again on the same port with the same arguments (after kill() or stop())."""
        self.stop()
        return self.start()


def runlab_server(
    tmp_dir: Path, db_path: Path | None = None, port: int | None = None
) -> ServerProcess:
    """A (not yet started) runlab server over ``db_path`` (default ``tmp_dir/server.db``)."""
    db = db_path or tmp_dir / "server.db"
    artifacts = tmp_dir / "server-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [sys.executable, "-c", _RUNLAB_SERVER, str(db), artifacts.as_uri(), str(port)]
    env = _child_env()
    # The subprocess imports runlab the way the test process does (installed or from src/).
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return ServerProcess(argv, port, tmp_dir / f"runlab-server-{port}.log", env=env)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """Start ``server`` and stop it afterwards, whatever happens."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- MLflow ---------------------------------------------------------------------------------------
def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _mlflow_version(python: Path) -> str | None:
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=False,
        env=_child_env(),
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _cache_dir() -> Path:
    configured = os.environ.get("RUNLAB_TEST_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runlab-tests"


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # Several xdist workers may want the virtualenv at once; only one creates it.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no cross-process lock; creation is rare enough
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_or_skip(argv: list[str], venv: Path) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=_child_env())
    if proc.returncode != 0:
        pytest.skip(
            f"cannot install mlflow=={MLFLOW_VERSION} into {venv}: "
            f"{' '.join(argv[-3:])} failed: {proc.stderr.strip()[-500:]}"
        )


def mlflow_python() -> Path:
    """The interpreter of a virtualenv with ``mlflow==3.17.2``; skips the test if none can be made."""
    bench = _venv_python(REPO_ROOT / "bench" / ".venv-mlflow")
    if _mlflow_version(bench) == MLFLOW_VERSION:
        return bench
    venv = _cache_dir() / f"mlflow-{MLFLOW_VERSION}"
    python = _venv_python(venv)
    with _exclusive(_cache_dir() / f"mlflow-{MLFLOW_VERSION}.lock"):
        if _mlflow_version(python) == MLFLOW_VERSION:
            return python
        if not python.exists():
            _run_or_skip([sys.executable, "-m", "venv", str(venv)], venv)
        _run_or_skip(
            [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"], venv
        )
    if _mlflow_version(python) != MLFLOW_VERSION:
        pytest.skip(f"mlflow=={MLFLOW_VERSION} is not importable from {venv}")
    return python


# Creates MLflow's tables in an empty SQLite file (argv[1]), then removes the Default experiment
# so that the server that opens a copy makes its own, with that server's artifact root.
_MLFLOW_EMPTY_DATABASE = """
import sqlite3, sys, tempfile
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
SqlAlchemyStore("sqlite:///" + sys.argv[1], tempfile.mkdtemp()).engine.dispose()
with sqlite3.connect(sys.argv[1]) as db:
    db.execute("DELETE FROM experiment_tags WHERE experiment_id = 0")
    db.execute("DELETE FROM experiments WHERE experiment_id = 0")
"""


def _mlflow_empty_database(python: Path) -> Path:
    """A SQLite file with MLflow 3.17.2's tables and no rows, made once per machine.

    A new ``mlflow server`` runs its whole chain of migrations on an empty file, which costs
    several seconds of CPU; every test server starts from a copy of this file instead.
    """
    template = _cache_dir() / f"mlflow-{MLFLOW_VERSION}-empty.db"
    with _exclusive(_cache_dir() / f"mlflow-{MLFLOW_VERSION}.lock"):
        if not template.exists():
            partial = template.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            subprocess.run(
                [str(python), "-c", _MLFLOW_EMPTY_DATABASE, str(partial)],
                capture_output=True,
                check=True,
                env=_child_env(),
            )
            partial.replace(template)
    return template


def mlflow_server(tmp_dir: Path, port: int | None = None) -> ServerProcess:
    """A (not yet started) ``mlflow server`` 3.17.2 over SQLite, serving artifacts from tmp_dir."""
    python = mlflow_python()
    artifacts = tmp_dir / "mlflow-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    database = tmp_dir / "mlflow.db"
    if not database.exists():
        shutil.copyfile(_mlflow_empty_database(python), database)
    port = port or free_port()
    argv = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{database}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
    ]
    env = _child_env()
    # MLflow's server otherwise starts seven background job consumers (huey) that no test uses
    # and that take seconds of CPU each at every start.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return ServerProcess(
        argv, port, tmp_dir / f"mlflow-server-{port}.log", startup_timeout=120.0, env=env
    )


# -- small ASGI apps of a test, served for real ---------------------------------------------------
@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port from a thread; yields its base URL.

    For the tiny apps tests define themselves (a server that fails twice, one that echoes
    headers), so the client under test goes through real sockets.
    """
    import threading

    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- runlab serving artifacts through its proxy ----------------------------------------------------
import dataclasses  # noqa: E402  (this section is appended; the module's imports stay as they were)

# Like _RUNLAB_SERVER, but as `runlab server --artifacts-destination DEST` runs: experiments get
# mlflow-artifacts:/ locations and the proxy stores files under DEST.
_RUNLAB_PROXY_SERVER = """
import sys

import uvicorn

from runlab.server.app import build_app
from runlab.server.artifact_roots import proxy_artifact_repository, server_default_artifact_root
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore

db_path, destination, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = ServerSettings(serve_artifacts=True, artifacts_destination=destination)
root = server_default_artifact_root(None, serve_artifacts=True, fallback=destination)
store = SqlTrackingStore("sqlite:///" + db_path, root)
repo = proxy_artifact_repository(destination, serve_artifacts=True)
app = build_app(store, artifact_repo=repo, settings=settings)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@dataclasses.dataclass(frozen=True)
class ProxiedRunlabServer:
    """A runlab server that proxies artifacts, and the folder its proxy writes to."""

    process: ServerProcess
    artifacts_destination: Path

    @property
    def url(self) -> str:
        """The server's base URL (a tracking URI)."""
        return self.process.url


def runlab_proxy_server(tmp_dir: Path, port: int | None = None) -> ProxiedRunlabServer:
    """A (not yet started) runlab server that proxies artifacts, with its artifact destination.

    The server keeps its SQLite file in ``tmp_dir`` and stores proxied artifacts in
    ``tmp_dir/proxied-artifacts``, so tests can check what landed there.
    """
    destination = tmp_dir / "proxied-artifacts"
    destination.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    db = tmp_dir / "server.db"
    argv = [sys.executable, "-c", _RUNLAB_PROXY_SERVER, str(db), destination.as_uri(), str(port)]
    env = _child_env()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    log = tmp_dir / f"runlab-proxy-server-{port}.log"
    return ProxiedRunlabServer(ServerProcess(argv, port, log, env=env), destination)
