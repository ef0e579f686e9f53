"""Waiting for SageMaker: polling a resource's status until it settles, with progress.

SageMaker's operations return at once and go on in the background: an endpoint is
``Creating``/``Updating`` for minutes before it is ``InService`` (or ``Failed``), a transform job
``InProgress`` until ``Completed``. :func:`wait_for_status` polls, reports each status through a
``progress`` callback (the CLI shows it as a live line, the Python API logs it), and raises a
clear error when the resource fails or the timeout passes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from runlab.deployments.sagemaker_aws import logger
from runlab.errors import InvalidState, Unavailable

__all__ = ["POLL_SECONDS", "Progress", "Status", "log_progress", "wait_for_status"]

#: Seconds between two looks at a resource (SageMaker changes status every few minutes).
POLL_SECONDS = 10.0

#: Told the current status as one line of text, at every look.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Status:
    """One look at a resource: its status, and AWS's reason when it failed."""

    status: str
    reason: str = ""


def log_progress(text: str) -> None:
    """The Python API's progress: one log record per look."""
    logger.info("%s", text)


def wait_for_status(
    look: Callable[[], Status],
    *,
    what: str,
    done: Collection[str],
    failed: Collection[str],
    timeout_seconds: float,
    progress: Progress | None = None,
    poll_seconds: float | None = None,
    after_timeout: str = "",
    after_failure: str = "",
) -> Status:
    """Call ``look`` until its status is in ``done`` (returned) or ``failed`` (raised).

    ``what`` names the resource in messages ("endpoint churn"). A failure raises
    :class:`~runlab.errors.InvalidState` with AWS's reason; running out of ``timeout_seconds``
    raises :class:`~runlab.errors.Unavailable` naming the last status, followed by
    ``after_timeout`` (how to check on it later); a failure's message ends with
    ``after_failure``.
    """
    interval = POLL_SECONDS if poll_seconds is None else poll_seconds
    report = progress or log_progress
    started = time.monotonic()
    while True:
        current = look()
        elapsed = time.monotonic() - started
        report(f"{what}: {current.status} ({int(elapsed)}s)")
        if current.status in done:
            return current
        if current.status in failed:
            reason = f": {current.reason.rstrip('.')}" if current.reason else ""
            message = f"The {what} is {current.status}{reason}."
            raise InvalidState(f"{message} {after_failure}".strip())
        remaining = timeout_seconds - elapsed
        if remaining <= 0:
            message = (
                f"Gave up waiting for the {what} after {timeout_seconds:g}s; it is still "
                f"{current.status}."
            )
            raise Unavailable(f"{message} {after_timeout}".strip())
        time.sleep(min(interval, remaining))
