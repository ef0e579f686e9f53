"""``runlab server`` started through its command line, as users start it, for end-to-end tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from support.servers import REPO_ROOT, ServerProcess, free_port


def runlab_cli_server(tmp_dir: Path) -> ServerProcess:
    """A (not yet started) ``runlab server`` over ``tmp_dir/server.db``, proxying artifacts.

    Unlike :func:`support.servers.runlab_server`, this goes through the CLI and the server
    factory, so it serves everything ``runlab server`` serves (the model registry included).
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "runlab.cli.main",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_dir / 'server.db'}",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    # The server must not pick up the test's tracking settings (or a developer's).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return ServerProcess(argv, port, tmp_dir / f"runlab-cli-server-{port}.log", env=env)
