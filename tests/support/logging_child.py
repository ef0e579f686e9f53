"""A real process that logs to a run and can be SIGKILLed right after its logging calls returned.

The child talks to the test over its stdin and stdout, never through timing:

1. it starts a run and prints the run id, then waits for a line on stdin;
2. on that line it logs a param, ``steps`` points of two metrics and a tag, prints ``logged``
   once the last of those calls has returned, and waits again;
3. on ``exit`` it leaves normally (the interpreter-exit handler ends the run); the test may
   instead SIGKILL it while it waits.

``block_writes`` holds a database's write locks, so that the child's background writer cannot
store anything while the test decides how the child ends: what the store has afterwards is then
exactly what was recovered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from support.servers import REPO_ROOT

SCRIPT = """
import sys

import runlab

steps = int(sys.argv[1])
run = runlab.start_run()
print(run.info.run_id, flush=True)
sys.stdin.readline()
runlab.log_param("lr", 0.01)
for step in range(steps):
    runlab.log_metric("loss", 1.0 / (step + 1), step=step)
    runlab.log_metric("acc", step / steps, step=step)
runlab.set_tag("phase", "last")
print("logged", flush=True)
if sys.stdin.readline().strip() == "exit":
    sys.exit(0)
"""


class LoggingChild:
    """One child process logging to ``tracking_uri`` with its spool files in ``spool_dir``."""

    def __init__(
        self,
        tmp_path: Path,
        tracking_uri: str,
        spool_dir: Path,
        *,
        durable: str | None,
        steps: int = 300,
        script: str = SCRIPT,
        env: dict[str, str] | None = None,
    ) -> None:
        self.steps = steps
        path = tmp_path / f"child_{os.urandom(4).hex()}.py"
        path.write_text(textwrap.dedent(script))
        child_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))
        }
        child_env.update(
            RUNLAB_TRACKING_URI=tracking_uri,
            RUNLAB_SPOOL_DIR=str(spool_dir),
            PYTHONPATH=os.pathsep.join(
                p for p in (str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
            ),
        )
        if durable is not None:
            child_env["RUNLAB_DURABLE"] = durable
        child_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, str(path), str(steps)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
            cwd=tmp_path,
        )
        self.run_id = ""

    def read_line(self) -> str:
        """The child's next line on stdout (it must not have exited)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the child exited early: {self.stderr()}")
        return line.strip()

    def say(self, text: str) -> None:
        """Write a line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def start_run(self) -> str:
        """Wait until the child has started its run; its id."""
        self.run_id = self.read_line()
        return self.run_id

    def log(self) -> None:
        """Let the child log, and wait until every one of its logging calls has returned."""
        self.say("go")
        assert self.read_line() == "logged"

    def kill(self) -> None:
        """SIGKILL the child: no exit handler, no flush, no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL
        self._close_pipes()

    def exit(self) -> str:
        """Let the child exit normally (after :meth:`log`); its stderr."""
        self.say("exit")
        self.proc.wait(timeout=120)
        err = self.stderr()
        assert self.proc.returncode == 0, err
        return err

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None or self.proc.stderr.closed:
            return ""
        text = self.proc.stderr.read()
        self._close_pipes()
        return text

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()

    def cleanup(self) -> None:
        """Kill the child if it still runs (a failed test must not leave it behind)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        self._close_pipes()


@contextlib.contextmanager
def block_writes(db_url: str) -> Iterator[None]:
    """Hold the locks that a log-batch needs on ``db_url`` until the block ends.

    Reads still work (except on MySQL, whose table locks stop them too); writes wait.
    """
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split(":///", 1)[1], isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                transaction = conn.begin()
                try:
                    conn.exec_driver_sql(
                        "LOCK TABLE params, tags, latest_metrics, metric_chunks IN EXCLUSIVE MODE"
                    )
                    yield
                finally:
                    transaction.rollback()
            else:
                conn.exec_driver_sql(
                    "LOCK TABLES params WRITE, tags WRITE, latest_metrics WRITE, "
                    "metric_chunks WRITE"
                )
                try:
                    yield
                finally:
                    conn.exec_driver_sql("UNLOCK TABLES")
    finally:
        engine.dispose()
