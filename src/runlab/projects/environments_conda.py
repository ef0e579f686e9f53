"""Conda environments, when a conda executable is installed (runlab never installs conda).

A ``conda_env`` project gets ``conda env create`` of its conda.yaml; a ``python_env`` project a
conda environment with its Python version, then its dependencies through that environment's pip.
Environments are cached like virtual environments. The lock is ``conda env export`` of the
environment (exact versions and builds, with a ``pip:`` section), which ``conda env create``
reads back for a re-run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from runlab.projects.environments_base import (
    Environment,
    ProjectEnvironmentError,
    bin_dir_first,
    lock_header,
    run_tool,
)
from runlab.projects.environments_cache import cache_key, get_or_build
from runlab.projects.environments_python import PythonEnvSpec, current_python_version

__all__ = ["CondaEnvironment", "find_conda", "prepare_conda"]

LOCK_FILE = "runlab-environment.lock"
_ENV_DIR = "env"


class CondaEnvironment(Environment):
    """A cached conda environment (its prefix is ``path``)."""

    kind = "conda"

    def __init__(self, path: Path, reused: bool) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        self.reused = reused

    def command_argv(self, command: str) -> list[str]:
        """``bash -c command``; :meth:`env_vars` puts the environment's ``bin`` first on PATH."""
        return ["bash", "-c", command]

    def env_vars(self) -> dict[str, str]:
        """``PATH`` with the environment's ``bin`` first, and ``CONDA_PREFIX``."""
        assert self.path is not None
        return {"PATH": bin_dir_first(self.path / "bin"), "CONDA_PREFIX": str(self.path)}

    def lock_text(self) -> str:
        """The ``conda env export`` taken when the environment was built."""
        assert self.path is not None
        return (self.path.parent / LOCK_FILE).read_text(encoding="utf-8")


def find_conda() -> str | None:
    """The conda executable: ``$MLFLOW_CONDA_HOME/bin/conda``, ``$CONDA_EXE``, else on PATH."""
    home = os.environ.get("MLFLOW_CONDA_HOME")
    candidates = [os.path.join(home, "bin", "conda")] if home else []
    if os.environ.get("CONDA_EXE"):
        candidates.append(os.environ["CONDA_EXE"])
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("conda")


def prepare_conda(
    conda_file: Path | None, spec: PythonEnvSpec | None, lock_text: str | None
) -> CondaEnvironment:
    """The cached conda environment for a conda.yaml (``conda_file``) or a Python spec."""
    conda = find_conda()
    if conda is None:
        raise ProjectEnvironmentError(
            "The conda environment manager needs conda, and no conda executable was found "
            "(not on PATH, nor in $MLFLOW_CONDA_HOME or $CONDA_EXE). Install Miniforge "
            "(https://github.com/conda-forge/miniforge) or Miniconda and put its conda on PATH, "
            "or run with --env-manager uv, virtualenv or local."
        )
    if lock_text is not None:
        payload: dict[str, Any] = {"lock": lock_text}
    elif conda_file is not None:
        payload = {"conda_file": conda_file.read_text(encoding="utf-8")}
    else:
        assert spec is not None
        payload = {**spec.fingerprint(), "python": spec.python or current_python_version()}
    key = cache_key("conda", payload)

    def build(target: Path) -> dict[str, Any]:
        prefix = target / _ENV_DIR
        if lock_text is not None or conda_file is not None:
            env_file = conda_file
            if lock_text is not None:
                env_file = target / "runlab-lock-input.yaml"
                env_file.write_text(lock_text, encoding="utf-8")
            assert env_file is not None
            run_tool(
                [conda, "env", "create", "--prefix", str(prefix), "--file", str(env_file)],
                what="create the conda environment",
            )
        else:
            assert spec is not None
            python = spec.python or current_python_version()
            run_tool(
                [conda, "create", "--yes", "--prefix", str(prefix), f"python={python}", "pip"],
                what=f"create a conda environment with Python {python}",
            )
            for which in ("build", "deps"):
                lines = spec.requirement_lines(which)
                if lines:
                    run_tool(
                        [str(prefix / "bin" / "python"), "-m", "pip", "install", *lines],
                        what="install the dependencies with pip",
                    )
        exported = run_tool(
            [conda, "env", "export", "--prefix", str(prefix)],
            what="export the conda environment",
        )
        version = run_tool(
            [
                str(prefix / "bin" / "python"),
                "-c",
                "import platform; print(platform.python_version())",
            ],
            what="ask the environment's Python for its version",
        ).strip()
        (target / LOCK_FILE).write_text(lock_header("conda", version) + exported, encoding="utf-8")
        return {"manager": "conda", "python_version": version}

    def usable(path: Path) -> bool:
        return (path / _ENV_DIR / "bin" / "python").exists() and (path / LOCK_FILE).is_file()

    path, _marker, reused = get_or_build(key, build, usable)
    return CondaEnvironment(path / _ENV_DIR, reused)
