"""Starting ``runlab models serve`` and ``mlflow models serve`` on the same model folder.

Both servers get the same model folder, the loopback interface, a free port and the same worker
count, and log to a file; neither gets tuning flags the other lacks. MLflow runs with
``--env-manager local`` from its virtualenv (its ``uvicorn`` is found on that venv's ``bin``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import harness
import server_harness
from server_harness import RunningServer


def serve_argv(tool: harness.Tool, model_dir: Path, port: int, workers: int) -> list[str]:
    """The command line that serves ``model_dir`` with ``tool``."""
    common = ["-m", str(model_dir), "-p", str(port), "--host", "127.0.0.1"]
    if tool.name == "runlab":
        argv = [tool.python, "-m", "runlab.cli", "models", "serve", *common]
        # The worker flag is passed only when it says something (1 is every server's default).
        return argv + (["--workers", str(workers)] if workers != 1 else [])
    mlflow = str(Path(tool.python).parent / "mlflow")
    return [mlflow, "models", "serve", *common, "--env-manager", "local", "--workers", str(workers)]


def serve_env(tool: harness.Tool) -> dict[str, str]:
    """The tool's environment; MLflow's server runs ``uvicorn`` from its venv's ``bin`` by name."""
    env = dict(tool.env)
    if tool.name == "mlflow":
        env["PATH"] = f"{Path(tool.python).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextlib.contextmanager
def running_model_server(
    tool: harness.Tool,
    model_dir: Path,
    workers: int,
    workdir: Path,
    startup_timeout: float = 300.0,
) -> Iterator[RunningServer]:
    """Serve ``model_dir`` with ``tool`` until the block ends, then stop it and its workers."""
    port = server_harness.free_port()
    log_path = workdir / f"{tool.name}-serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            serve_argv(tool, model_dir, port, workers),
            cwd=workdir,
            env=serve_env(tool),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it reaches uvicorn
        )
    server = RunningServer(tool.name, f"http://127.0.0.1:{port}", proc, log_path)
    try:
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        server_harness._stop(proc)


def _wait_ready(server: RunningServer, timeout: float) -> None:
    """Wait until ``GET /ping`` answers 200 (both servers have it, as the scoring protocol says)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(server.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.tool} model server exited with code {server.proc.returncode}: "
                f"{server.log_tail()}"
            )
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.tool} model server not ready within {timeout:.0f} s: {server.log_tail()}"
    )


def process_group_cpu_s(pgid: int) -> float | None:
    """CPU seconds (user + system) used so far by every live process of a process group.

    Read from ``/proc`` (Linux); None elsewhere. The difference over a measure is the server's
    CPU cost of it, all of its processes (MLflow's launcher and its uvicorn child) included.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command (which may hold spaces) start after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # field 5 (pgrp) of proc(5)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
