"""Stop a project's command when the process that started it dies, even by SIGKILL.

``runlab run`` stops its command's whole process group on Ctrl-C, SIGTERM or ``cancel()``. A
SIGKILL (the OOM killer, ``kill -9``, a CI job timeout) gives it no chance to, and the command
would run on unsupervised, with its run left RUNNING. On Linux the kernel can deliver a signal
to a child when its parent dies (``prctl(PR_SET_PDEATHSIG)``): the command's first process gets
SIGTERM. That setting survives ``exec``, and ``bash -c 'python train.py ...'`` execs the
entry point's single command, so the entry point itself receives it. Processes the entry point
starts in turn must follow their own parent, as they would at the end of any program.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = ["stop_with_parent"]

_PR_SET_PDEATHSIG = 1


def stop_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies, or None where
    that is not available (not Linux, no libc) or would misfire.

    The kernel ties the setting to the *thread* that forked: a child started from a thread
    other than the main one would be stopped when that thread ends, so only the main thread
    asks for it.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        # The running program's own symbols include libc's; ctypes.util.find_library would
        # run ldconfig, which costs more than the rest of starting the command.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the setting took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
