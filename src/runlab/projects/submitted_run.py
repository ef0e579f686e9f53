"""A project run in progress: wait for it, ask its status, cancel it.

:func:`runlab.projects.run` returns a :class:`SubmittedRun`. Locally there are two kinds:

- in the foreground (``synchronous=True``) the entry point's command is this process's child, in
  a process group of its own; when it exits this process records FINISHED or FAILED;
- in the background (``synchronous=False``) a small supervisor process
  (:mod:`runlab.projects.runner_background`) owns the command and records its end, so the run is
  ended properly even when the process that started it has exited (``runlab run --no-wait``).

Cancelling stops the whole process tree of the command (its process group: SIGTERM, then
SIGKILL after a grace period) and marks the run KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runlab.errors import RunlabError

if TYPE_CHECKING:
    from runlab.tracking.client import Client

__all__ = [
    "CANCEL_GRACE_SECONDS",
    "OUTPUT_FILE",
    "LocalSubmittedRun",
    "ProjectRunFailed",
    "SubmittedRun",
    "stop_process_group",
    "upload_output",
]

_logger = logging.getLogger("runlab.projects")

#: Seconds a cancelled command gets between SIGTERM and SIGKILL.
CANCEL_GRACE_SECONDS = 10.0
#: The file a captured command's output goes to, and its artifact path in the run.
OUTPUT_FILE = "output.log"
OUTPUT_ARTIFACT_DIR = "project"

_TERMINAL = ("FINISHED", "FAILED", "KILLED")


class ProjectRunFailed(RunlabError):
    """A project run ended without success (FAILED or KILLED).

    ``run_id`` is the run, ``status`` how it ended and ``exit_code`` the command's exit status
    (negative: killed by that signal; None when unknown).
    """

    def __init__(
        self, message: str, run_id: str = "", status: str = "FAILED", exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.run_id, self.status, self.exit_code))


class SubmittedRun(ABC):
    """A project run that was started: MLflow's ``SubmittedRun`` interface.

    Not thread-safe for concurrent ``wait``/``cancel`` from several threads, like MLflow's.
    """

    @property
    @abstractmethod
    def run_id(self) -> str:
        """The id of the tracking run the project logs to."""

    @abstractmethod
    def wait(self) -> bool:
        """Wait until the run ends; True when it FINISHED, False when it FAILED or was KILLED."""

    @abstractmethod
    def get_status(self) -> str:
        """``"RUNNING"`` while the command runs, then ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the command and everything it started, and mark the run KILLED."""


def stop_process_group(
    process: subprocess.Popen[bytes], grace: float = CANCEL_GRACE_SECONDS
) -> None:
    """SIGTERM the process group led by ``process``, SIGKILL it after ``grace`` seconds.

    The group is killed with SIGKILL in the end in any case, so that processes the command
    started and that outlived it (or ignored SIGTERM) do not linger.
    """
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    process.wait()


class LocalSubmittedRun(SubmittedRun):
    """A run whose command (or its supervisor) is a child process of this one.

    ``records_end``: True when this process records the run's end (foreground runs); False
    when the supervisor does (background runs), in which case this object reads the status
    from the tracking store and only records it itself if the supervisor died without doing so.
    ``cleanup`` is called once the command has ended (it removes the temporary checkout).
    """

    def __init__(
        self,
        run_id: str,
        process: subprocess.Popen[bytes],
        client: Client,
        *,
        records_end: bool,
        cleanup: Callable[[], None] | None = None,
        output_path: Path | None = None,
    ) -> None:
        self._run_id = run_id
        #: Where the command's output goes when it was captured (else None); the file is removed
        #: with the temporary folder once the run has ended and the file is logged to the run.
        self.output_path = output_path
        self._process = process
        self._client = client
        self._records_end = records_end
        self._cleanup = cleanup
        self._lock = threading.Lock()
        self._status: str | None = None
        self._cancelled = False

    @property
    def run_id(self) -> str:
        """The id of the tracking run the project logs to."""
        return self._run_id

    @property
    def pid(self) -> int:
        """The process id of the command (foreground) or of its supervisor (background)."""
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The command's exit status once it ended (negative: killed by that signal)."""
        return self._process.returncode

    def wait(self) -> bool:
        """Wait until the run ends; True when it FINISHED.

        A KeyboardInterrupt while waiting cancels the run (the whole process tree, status
        KILLED) and is raised again.
        """
        try:
            self._process.wait()
        except KeyboardInterrupt:
            self.cancel()
            _logger.error(
                "=== Run %s interrupted: its command was stopped and the run marked %s ===",
                self._run_id,
                self.get_status(),
            )
            raise
        return self._finish() == "FINISHED"

    def get_status(self) -> str:
        """``RUNNING`` while the command runs, then how the run ended."""
        if self._process.poll() is None:
            return "RUNNING"
        return self._finish()

    def cancel(self) -> None:
        """Stop the command's whole process tree and mark the run KILLED.

        Waits until the processes are gone. Cancelling a run that already ended changes
        nothing.
        """
        if self._process.poll() is not None:
            self._finish()
            return
        self._cancelled = True
        if self._records_end:
            stop_process_group(self._process)
        else:
            # The supervisor stops the command's process group and records KILLED itself.
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=CANCEL_GRACE_SECONDS + 20)
            except subprocess.TimeoutExpired:
                stop_process_group(self._process, grace=0)
        self._finish()

    def _finish(self) -> str:
        """Record (once) how the run ended, clean up, and return the status."""
        with self._lock:
            if self._status is not None:
                return self._status
            code = self._process.returncode
            if self._cleanup is not None:
                # First: it logs captured output, which is there when the run shows as ended.
                self._cleanup()
            if self._records_end:
                status = "KILLED" if self._cancelled else ("FINISHED" if code == 0 else "FAILED")
                self._record(status)
            else:
                status = self._recorded_status()
                if status not in _TERMINAL:
                    # The supervisor died before it could record the end (e.g. SIGKILL).
                    status = "KILLED" if self._cancelled or (code or 0) < 0 else "FAILED"
                    self._record(status)
            self._status = status
            return status

    def _record(self, status: str) -> None:
        try:
            self._client.set_terminated(self._run_id, status)
        except RunlabError as exc:
            # The command ended all the same; say that the store did not take its status.
            _logger.error("Could not mark run %s %s: %s", self._run_id, status, exc)

    def _recorded_status(self) -> str:
        try:
            return str(self._client.get_run(self._run_id).info.status)
        except RunlabError as exc:
            _logger.error("Could not read the status of run %s: %s", self._run_id, exc)
            return "RUNNING"


def upload_output(client: Client, run_id: str, output: Path) -> None:
    """Log a captured output file as the run's ``project/output.log`` artifact (best effort:
    the run has ended either way)."""
    if not output.is_file():
        return
    try:
        client.log_artifact(run_id, str(output), OUTPUT_ARTIFACT_DIR)
    except (RunlabError, OSError) as exc:
        _logger.error("Could not log the output of run %s: %s", run_id, exc)


def remove_tree(path: Path) -> Callable[[], None]:
    """A cleanup callable that removes ``path`` (ignoring what is already gone)."""

    def cleanup() -> None:
        shutil.rmtree(path, ignore_errors=True)

    return cleanup
