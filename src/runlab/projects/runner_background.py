"""The supervisor of a background project run: ``python -m runlab.projects.runner_background SPEC``.

:func:`runlab.projects.runner.run` with ``synchronous=False`` (``runlab run --no-wait``) starts
this in a session of its own, so the run outlives the process that started it and a Ctrl-C in
that terminal does not reach it. It starts the entry point's command in a process group of its
own, waits for it, records FINISHED or FAILED, removes the temporary checkout, and exits with
the command's status. SIGTERM (what ``SubmittedRun.cancel()`` sends) stops the command's whole
process group and records KILLED.

``SPEC`` is a JSON file the runner wrote into the run's private temporary directory: the argv,
the working directory, the child's environment, the run id, the tracking URI and the directory
to remove at the end. Runlab's tracking code is imported only after the command has started, so
the supervisor adds next to nothing to the time before the entry point's first line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from runlab.projects.parent_death import stop_with_parent

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the spec named by ``argv[0]``; return the exit status to leave with."""
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    stop_requested = threading.Event()
    process: subprocess.Popen[bytes] | None = None

    grace = float(spec["grace"])

    def on_term(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        if process is not None:
            _stop(process.pid, grace)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        if not stop_requested.is_set():
            # With captured output, the supervisor's own stdout is already that file.
            process = subprocess.Popen(
                spec["argv"],
                cwd=spec["cwd"],
                env=spec["env"],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=stop_with_parent(),  # a SIGKILLed supervisor takes it along
            )
        if process is not None and stop_requested.is_set():
            _stop(process.pid, grace)  # the SIGTERM came while the command was starting
        code = process.wait() if process is not None else -signal.SIGTERM
        if stop_requested.is_set() and process is not None:
            _signal_group(process.pid, signal.SIGKILL)  # what outlived the command goes too
        status = "KILLED" if stop_requested.is_set() else "FINISHED" if code == 0 else "FAILED"
        if spec.get("output"):
            _upload_output(spec)  # before the end, so a run that shows as ended has it
        _record(spec, status)
        return code if code >= 0 else 128 - code
    finally:
        shutil.rmtree(spec["cleanup"], ignore_errors=True)


def _stop(pgid: int, grace: float) -> None:
    """SIGTERM the command's process group now, SIGKILL it after ``grace`` seconds."""
    _signal_group(pgid, signal.SIGTERM)
    timer = threading.Timer(grace, _signal_group, (pgid, signal.SIGKILL))
    timer.daemon = True
    timer.start()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _record(spec: dict[str, Any], status: str) -> None:
    from runlab.errors import RunlabError
    from runlab.tracking.client import Client

    try:
        Client(spec["tracking_uri"]).set_terminated(spec["run_id"], status)
    except RunlabError as exc:
        print(f"runlab: could not mark run {spec['run_id']} {status}: {exc}", file=sys.stderr)


def _upload_output(spec: dict[str, Any]) -> None:
    from runlab.projects.submitted_run import upload_output
    from runlab.tracking.client import Client

    sys.stdout.flush()
    upload_output(Client(spec["tracking_uri"]), spec["run_id"], Path(spec["output"]))


if __name__ == "__main__":
    sys.exit(main())
