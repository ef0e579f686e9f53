"""Virtual environments for projects, made with uv or with ``python -m venv`` + pip, and cached.

Both managers build the same thing from a :class:`PythonEnvSpec`: a virtual environment with the
requested Python, the build dependencies, then the dependencies. Given a recorded lock instead
(a re-run), they install exactly the lock's packages. Either way the environment's own package
list (``uv pip freeze`` / ``pip freeze --all``) is taken once, when it is built, and kept beside
it as its lock, so a warm start reads a file instead of running a tool.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from runlab.projects.environments_base import (
    Environment,
    ProjectEnvironmentError,
    bin_dir_first,
    lock_header,
    lock_python_version,
    run_tool,
)
from runlab.projects.environments_cache import cache_key, get_or_build
from runlab.projects.environments_python import (
    PythonEnvSpec,
    current_python_version,
    find_interpreter,
    version_matches,
)

__all__ = ["VenvEnvironment", "find_uv", "prepare_venv"]

LOCK_FILE = "runlab-environment.lock"


class VenvEnvironment(Environment):
    """A cached virtual environment (``kind`` ``"uv"`` or ``"virtualenv"``)."""

    def __init__(self, kind: str, path: Path, python_version: str, reused: bool) -> None:
        self.kind = kind
        self.path = path
        self.python = path / "bin" / "python"
        self.python_version = python_version
        self.reused = reused

    def command_argv(self, command: str) -> list[str]:
        """``bash -c command``; :meth:`env_vars` puts the environment's ``bin`` first on PATH."""
        return ["bash", "-c", command]

    def env_vars(self) -> dict[str, str]:
        """``PATH`` with the environment's ``bin`` first and ``VIRTUAL_ENV``, as activation sets."""
        assert self.path is not None
        return {"PATH": bin_dir_first(self.path / "bin"), "VIRTUAL_ENV": str(self.path)}

    def lock_text(self) -> str:
        """The package list taken when the environment was built."""
        assert self.path is not None
        return (self.path / LOCK_FILE).read_text(encoding="utf-8")


def find_uv() -> str | None:
    """The uv executable: the one the ``uv`` Python package ships, else ``uv`` on PATH."""
    try:
        import uv  # the PyPI package that ships the binary

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def prepare_venv(manager: str, spec: PythonEnvSpec, lock_text: str | None) -> VenvEnvironment:
    """The cached ``manager`` (``uv`` / ``virtualenv``) environment for ``spec``, built if needed.

    With ``lock_text``, the environment holds exactly the lock's packages instead of the spec's
    dependencies (cached by the lock's hash); its Python is still the spec's version, else the
    one the lock's header names (major.minor), else the running one.
    """
    uv = find_uv() if manager == "uv" else None
    if manager == "uv" and uv is None:
        raise ProjectEnvironmentError(
            "The uv environment manager needs uv, and it is not installed: "
            "`pip install uv` (or see https://docs.astral.sh/uv/), or run with "
            "--env-manager virtualenv."
        )
    request = spec.python
    if request is None and lock_text is not None:
        recorded = lock_python_version(lock_text)
        request = ".".join(recorded.split(".")[:2]) if recorded else None
    if lock_text is not None:
        payload: dict[str, Any] = {"python": request or current_python_version(), "lock": lock_text}
    else:
        payload = {**spec.fingerprint(), "python": request or current_python_version()}
    key = cache_key(manager, payload)

    def build(target: Path) -> dict[str, Any]:
        if uv is not None:
            return _build_uv(uv, target, spec, request, lock_text)
        return _build_virtualenv(target, spec, request, lock_text)

    path, marker, reused = get_or_build(key, build, _usable)
    return VenvEnvironment(manager, path, str(marker.get("python_version", "")), reused)


def _usable(path: Path) -> bool:
    # The interpreter link points at the base Python; if that was uninstalled, rebuild.
    return (path / "bin" / "python").exists() and (path / LOCK_FILE).is_file()


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never fetch an interpreter behind the user's back: a missing Python is an error instead.
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    # An activated environment of the caller must not be where packages go.
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    return env


def _uv_python(uv: str, request: str | None, spec: PythonEnvSpec) -> tuple[str, str]:
    """The interpreter uv bases the environment on: ``(path, X.Y.Z)``."""
    current = current_python_version()
    if version_matches(request, current):
        return sys.executable, current
    try:
        found = run_tool(
            [uv, "python", "find", str(request)],
            what=f"find Python {request}",
            env=_tool_env(),
        ).strip()
    except ProjectEnvironmentError:
        where = f" (asked for by {spec.source})" if spec.source is not None else ""
        raise ProjectEnvironmentError(
            f"Python {request}{where} is not installed on this machine, and runlab does not "
            f"download interpreters. Install it (`uv python install {request}`, your system's "
            "packages or pyenv), or change the version in the file."
        ) from None
    version = run_tool(
        [found, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        what=f"ask {found} for its version",
    ).strip()
    return found, version


def _build_uv(
    uv: str, target: Path, spec: PythonEnvSpec, request: str | None, lock_text: str | None
) -> dict[str, Any]:
    python, version = _uv_python(uv, request, spec)
    env = _tool_env()
    run_tool(
        [uv, "venv", "--quiet", "--python", python, str(target)],
        what=f"create a uv environment with Python {version}",
        env=env,
        cwd=target,
    )
    env_python = str(target / "bin" / "python")

    def install(lines: list[str], name: str, *extra: str) -> None:
        if not lines:
            return
        requirements = target / name
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run_tool(
            [uv, "pip", *extra, "--python", env_python, "-r", str(requirements)],
            what=f"install {name}",
            env=env,
            cwd=target,
        )

    if lock_text is not None:
        # `uv pip sync` makes the environment exactly the lock: nothing more, nothing else.
        requirements = target / "runlab-lock-input.txt"
        requirements.write_text(lock_text, encoding="utf-8")
        run_tool(
            [uv, "pip", "sync", "--python", env_python, str(requirements)],
            what="install the recorded environment lock",
            env=env,
            cwd=target,
        )
    else:
        install(spec.requirement_lines("build"), "runlab-build-requirements.txt", "install")
        install(spec.requirement_lines("deps"), "runlab-requirements.txt", "install")
    frozen = run_tool(
        [uv, "pip", "freeze", "--python", env_python],
        what="list the environment's packages",
        env=env,
        cwd=target,
    )
    (target / LOCK_FILE).write_text(lock_header("uv", version) + frozen, encoding="utf-8")
    return {"manager": "uv", "python": python, "python_version": version}


def _build_virtualenv(
    target: Path, spec: PythonEnvSpec, request: str | None, lock_text: str | None
) -> dict[str, Any]:
    python, version = find_interpreter(request, spec.source)
    env = _tool_env()
    run_tool(
        [str(python), "-m", "venv", str(target)],
        what=f"create a virtualenv with Python {version}",
        env=env,
        cwd=target,
    )
    env_python = str(target / "bin" / "python")
    pip = [env_python, "-m", "pip", "install", "--quiet"]

    def install(lines: list[str], name: str, *extra: str) -> None:
        if not lines:
            return
        requirements = target / name
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run_tool(
            [*pip, *extra, "-r", str(requirements)], what=f"install {name}", env=env, cwd=target
        )

    if lock_text is not None:
        # Every package of the lock is pinned, so nothing else may be resolved in.
        install(lock_text.splitlines(), "runlab-lock-input.txt", "--no-deps")
    else:
        install(spec.requirement_lines("build"), "runlab-build-requirements.txt")
        install(spec.requirement_lines("deps"), "runlab-requirements.txt")
    frozen = run_tool(
        [env_python, "-m", "pip", "freeze", "--all"],
        what="list the environment's packages",
        env=env,
        cwd=target,
    )
    (target / LOCK_FILE).write_text(lock_header("virtualenv", version) + frozen, encoding="utf-8")
    return {"manager": "virtualenv", "python": str(python), "python_version": version}
