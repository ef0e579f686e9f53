"""The ``local`` environment: the interpreter runlab itself runs in, used as it is."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
from pathlib import Path

from runlab.projects.environments_base import Environment, bin_dir_first, lock_header, run_tool
from runlab.projects.environments_python import current_python_version

__all__ = ["LocalEnvironment"]

# `pip freeze` of a large environment takes the better part of a second; runs of one process
# share it while no package folder on sys.path changed (installing or removing a package
# creates or deletes a *.dist-info folder, which changes its folder's mtime).
_freeze_lock = threading.Lock()
_frozen: tuple[tuple[tuple[str, int], ...], str] | None = None


class LocalEnvironment(Environment):
    """The current interpreter; nothing is created or installed.

    Commands run with the interpreter's folder first on PATH, so ``python`` in an entry point's
    command is this interpreter even when runlab was started without activating its
    environment.
    """

    kind = "local"

    def __init__(self) -> None:
        self.python = Path(sys.executable)

    def command_argv(self, command: str) -> list[str]:
        """``bash -c command``."""
        return ["bash", "-c", command]

    def env_vars(self) -> dict[str, str]:
        """``PATH`` with the interpreter's folder first."""
        assert self.python is not None
        return {"PATH": bin_dir_first(self.python.parent)}

    def lock_text(self) -> str:
        """``python -m pip freeze --all`` of the current interpreter.

        An interpreter without pip (a uv-made environment) is listed by ``uv pip freeze``, or,
        without uv either, from the installed distributions' metadata.
        """
        global _frozen
        state = _site_state()
        with _freeze_lock:
            if _frozen is not None and _frozen[0] == state:
                return _frozen[1]
            text = lock_header("local", current_python_version()) + _freeze()
            _frozen = (state, text)
            return text


def _freeze() -> str:
    if importlib.util.find_spec("pip") is not None:
        return run_tool(
            [sys.executable, "-m", "pip", "freeze", "--all"],
            what="list the current interpreter's packages",
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    from runlab.projects.environments_venv import find_uv

    uv = find_uv()
    if uv is not None:
        return run_tool(
            [uv, "pip", "freeze", "--python", sys.executable],
            what="list the current interpreter's packages",
        )
    # Names normalized as PEP 503 has them (what `uv pip freeze` prints).
    names = {
        f"{re.sub(r'[-_.]+', '-', dist.metadata['Name']).lower()}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return "".join(f"{line}\n" for line in sorted(names))


def _site_state() -> tuple[tuple[str, int], ...]:
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(state)
