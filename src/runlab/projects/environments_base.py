"""What every project environment offers the runner, and the error it raises when it cannot be made.

An :class:`Environment` is where an entry point's command runs: the current interpreter, a
virtual environment (uv or virtualenv), a conda environment or a Docker container. The runner
asks it for the argv that runs a shell command inside it, the variables to add to the child's
environment, and the fully resolved package list it holds (its *lock*), which the run records.
"""

from __future__ import annotations

import os
import re
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from runlab.errors import RunlabError

__all__ = [
    "Environment",
    "ProjectEnvironmentError",
    "bin_dir_first",
    "lock_header",
    "lock_python_version",
    "run_tool",
]

# How many lines of a failed tool's output an error message quotes: enough to show the cause
# (a resolver conflict, a missing interpreter) without burying it.
_OUTPUT_TAIL_LINES = 25
_LOCK_HEADER = re.compile(r"^# runlab environment lock: \S+, python (?P<version>[\d.]+)\s*$")


class ProjectEnvironmentError(RunlabError):
    """A project's environment cannot be made here: a tool is missing, an interpreter is not
    installed, or installing the packages failed. The message says what to install or change."""


class Environment(ABC):
    """A prepared environment that commands run in.

    ``kind`` is ``"local"``, ``"uv"``, ``"virtualenv"``, ``"conda"`` or ``"docker"``. ``path``
    is the environment's folder (``None`` for local and docker), ``python`` its interpreter
    (``None`` for docker), and ``reused`` says whether a cached environment was found ready.
    """

    kind: str
    path: Path | None = None
    python: Path | None = None
    reused: bool = False

    @abstractmethod
    def command_argv(self, command: str) -> list[str]:
        """The argv that runs the shell command ``command`` inside this environment."""

    def env_vars(self) -> dict[str, str]:
        """Variables to add to the child process's environment (e.g. ``PATH`` with the
        environment's ``bin`` first)."""
        return {}

    @abstractmethod
    def lock_text(self) -> str:
        """The fully resolved package list of this environment, one requirement a line."""

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path is not None else ""
        return f"<{type(self).__name__} {self.kind}{where}>"


def bin_dir_first(bin_dir: Path) -> str:
    """``PATH`` with ``bin_dir`` in front, so ``python`` and the environment's scripts win."""
    current = os.environ.get("PATH", "")
    return str(bin_dir) if not current else f"{bin_dir}{os.pathsep}{current}"


def lock_header(manager: str, python_version: str) -> str:
    """The comment line a lock starts with: which manager made it, with which Python.

    A comment, so the lock stays a valid requirements file (``pip install -r``).
    """
    return f"# runlab environment lock: {manager}, python {python_version}\n"


def lock_python_version(lock_text: str) -> str | None:
    """The Python version (``X.Y.Z``) a lock's header names; None without a runlab header."""
    match = _LOCK_HEADER.match(lock_text.split("\n", 1)[0])
    return match.group("version") if match else None


def run_tool(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin_text: str | None = None,
) -> str:
    """Run an external tool (uv, pip, conda, docker) and return its standard output.

    On failure, raise :class:`ProjectEnvironmentError` saying ``what`` was being done, with the
    command and the end of its output, so the cause is in the message.
    """
    try:
        done = subprocess.run(
            list(argv),
            input=stdin_text,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
        )
    except OSError as exc:
        raise ProjectEnvironmentError(
            f"Could not {what}: {argv[0]} did not start ({exc})."
        ) from exc
    if done.returncode != 0:
        output = (done.stderr or "") + (done.stdout or "")
        tail = "\n".join(output.strip().splitlines()[-_OUTPUT_TAIL_LINES:])
        raise ProjectEnvironmentError(
            f"Could not {what}: `{' '.join(argv)}` exited with status {done.returncode}."
            + (f"\n{tail}" if tail else "")
        )
    return done.stdout
